"""Provider input we could not use, kept with the reason instead of dropped.

The id is derived from the content, so the same bad item sent again (providers
retry) is kept once.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from smsledger.domain.identifiers import NameBasedIds

_QUARANTINE_IDS = NameBasedIds("urn:smsledger:quarantine")


def quarantine_id(project_id: str, source: str, raw: Any) -> UUID:
    canonical = json.dumps(raw, sort_keys=True, default=str)
    return _QUARANTINE_IDS.id_for(project_id, source, canonical)


class QuarantinedPayload(Aggregate):
    class Kept(Aggregate.Created):
        project_id: str
        source: str
        reason: str
        raw: Any

        def apply(self, payload: QuarantinedPayload) -> None:
            payload.project_id = self.project_id
            payload.source = self.source
            payload.reason = self.reason
            payload.raw = self.raw
            payload.received_at = self.timestamp

    # State, set only by the events' apply() methods. Declared for the type checker
    # only: annotations seen at run time would make the library treat them as
    # constructor arguments.
    if TYPE_CHECKING:
        project_id: str
        source: str
        reason: str
        raw: Any
        received_at: datetime

    @classmethod
    def keep(cls, project_id: str, *, source: str, reason: str, raw: Any,
             received_at: datetime) -> QuarantinedPayload:
        # Stored as JSON-safe data whatever arrived (numbers, strings, nested objects).
        safe_raw = json.loads(json.dumps(raw, default=str))
        return cls._create(cls.Kept, id=quarantine_id(project_id, source, safe_raw),
                           timestamp=received_at, project_id=project_id, source=source,
                           reason=reason, raw=safe_raw)
