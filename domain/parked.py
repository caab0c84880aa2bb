"""Reports for a message id we do not know (yet), kept instead of dropped.

Messages are stored before the provider is called, so a report normally finds its
message. One that does not (another store, a race we did not foresee, a
provider's mistake) is parked here under its message id and released onto the
message if it ever appears.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from smsledger.domain.identifiers import NameBasedIds
from smsledger.domain.outcome import DeliveryOutcome

_PARKED_IDS = NameBasedIds("urn:smsledger:parked-reports")


def parked_reports_id(project_id: str, message_id: str) -> UUID:
    return _PARKED_IDS.id_for(project_id, message_id)


class ParkedReports(Aggregate):
    class Opened(Aggregate.Created):
        project_id: str
        message_id: str

        def apply(self, parked: ParkedReports) -> None:
            parked.project_id = self.project_id
            parked.message_id = self.message_id
            parked.waiting = []  # (outcome dict, received_at) not yet released

    class Parked(Aggregate.Event):
        outcome: dict[str, Any]
        received_at: datetime

        def apply(self, parked: ParkedReports) -> None:
            parked.waiting.append((self.outcome, self.received_at))

    class Released(Aggregate.Event):
        count: int

        def apply(self, parked: ParkedReports) -> None:
            parked.waiting = []

    # State, set only by the events' apply() methods. Declared for the type checker
    # only: annotations seen at run time would make the library treat them as
    # constructor arguments.
    if TYPE_CHECKING:
        project_id: str
        message_id: str
        waiting: list[tuple[dict[str, Any], datetime]]  # (outcome dict, received_at)

    @classmethod
    def open(cls, project_id: str, message_id: str, *, at: datetime) -> ParkedReports:
        return cls._create(cls.Opened, id=parked_reports_id(project_id, message_id),
                           timestamp=at, project_id=project_id, message_id=message_id)

    def park(self, outcome: DeliveryOutcome, *, received_at: datetime) -> None:
        self.trigger_event(self.Parked, timestamp=received_at, outcome=outcome.to_dict(),
                           received_at=received_at)

    def release(self, *, at: datetime) -> list[tuple[DeliveryOutcome, datetime]]:
        """Hand over the waiting reports, oldest first, and mark them released."""
        waiting = [(DeliveryOutcome.from_dict(o), r) for o, r in self.waiting]
        if waiting:
            self.trigger_event(self.Released, timestamp=at, count=len(waiting))
        return waiting
