"""The in-memory store (memory://, for tests and trials): the library's, with the
batch reads the application needs (the EventRows port) on top.

Selected by PERSISTENCE_MODULE (smsledger.adapters.runtime.persistence); the
library's own in-memory factory takes no recorder class from the environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory


class MemoryBatchRecorder(POPOApplicationRecorder):
    def select_event_rows(self, originator_ids: Sequence[UUID]
                          ) -> list[tuple[UUID | str, int, str, bytes]]:
        return [(e.originator_id, e.originator_version, e.topic, e.state)
                for originator_id in originator_ids for e in self.select_events(originator_id)]

    def select_notification_rows(self, after: int, limit: int, topics: Sequence[str]
                                 ) -> list[tuple[int, Any, str, bytes]]:
        if not topics:
            raise ValueError("name the topics to read")
        return [(n.id, n.originator_id, n.topic, n.state) for n in self.select_notifications(
            start=after, limit=limit, topics=topics, inclusive_of_start=False)]


class MemoryFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return MemoryBatchRecorder()
