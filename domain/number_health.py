"""List hygiene: a number a permanent error proved invalid is not sent to again in
that project, until it is revalidated."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from smsledger.domain.identifiers import NameBasedIds

_NUMBER_IDS = NameBasedIds("urn:smsledger:number-health")


def number_health_id(project_id: str, number: str) -> UUID:
    return _NUMBER_IDS.id_for(project_id, number)


class NumberHealth(Aggregate):
    class Opened(Aggregate.Created):
        project_id: str
        number: str

        def apply(self, health: NumberHealth) -> None:
            health.project_id, health.number = self.project_id, self.number
            health.invalid = False
            health.reason = None

    class MarkedInvalid(Aggregate.Event):
        error: str | None
        message_id: str

        def apply(self, health: NumberHealth) -> None:
            health.invalid = True
            health.reason = self.error

    class Revalidated(Aggregate.Event):
        changed_by: str

        def apply(self, health: NumberHealth) -> None:
            health.invalid = False
            health.reason = None

    # State, set only by the events' apply() methods. Declared for the type checker
    # only: annotations seen at run time would make the library treat them as
    # constructor arguments.
    if TYPE_CHECKING:
        project_id: str
        number: str
        invalid: bool
        reason: str | None

    @classmethod
    def open(cls, project_id: str, number: str, *, at: datetime) -> NumberHealth:
        return cls._create(cls.Opened, id=number_health_id(project_id, number), timestamp=at,
                           project_id=project_id, number=number)

    def mark_invalid(self, *, error: str | None, message_id: str, at: datetime) -> None:
        if not self.invalid:
            self.trigger_event(self.MarkedInvalid, timestamp=at, error=error,
                               message_id=message_id)

    def revalidate(self, *, changed_by: str, at: datetime) -> None:
        if self.invalid:
            self.trigger_event(self.Revalidated, timestamp=at, changed_by=changed_by)
