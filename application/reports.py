"""Delivery reports: applied to their messages, in one transaction per callback.

Repeats, late and out-of-order reports are recorded without changing a status;
reports for message ids not known (yet) are parked, never dropped, and released when
the message appears; input that could not be parsed is kept in quarantine with the
reason, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from smsledger.application.aggregates import AggregateStore
from smsledger.application.commands import ProviderReport, QuarantinedInput
from smsledger.application.policy import SendPolicy
from smsledger.application.ports import Clock
from smsledger.application.views import IngestResult
from smsledger.domain.message import Message, message_aggregate_id
from smsledger.domain.parked import ParkedReports, parked_reports_id
from smsledger.domain.quarantine import QuarantinedPayload, quarantine_id

PARKED_TOPIC = get_topic(ParkedReports.Parked)
QUARANTINE_TOPIC = get_topic(QuarantinedPayload.Kept)


class ReportIngest:
    def __init__(self, store: AggregateStore, clock: Clock, policy: SendPolicy) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy

    def record_reports(self, project_id: str, reports: Sequence[ProviderReport],
                       quarantined: Sequence[QuarantinedInput] = ()) -> IngestResult:
        """Apply a batch of reports in one transaction (see the module's docstring);
        a permanent error marks its number invalid in the same transaction."""
        received_at = self.clock.now()
        quarantine_ids = {
            quarantine_id(project_id, q.source, q.raw): q for q in quarantined}
        by_id: dict[UUID, list[ProviderReport]] = {}
        for report in reports:
            by_id.setdefault(message_aggregate_id(project_id, report.message_id), []).append(report)

        counts = {"applied": 0, "noted": 0, "parked": 0, "quarantined": len(quarantined)}

        def apply_all(aggregates: dict[UUID, Any]) -> list[Aggregate]:
            counts.update(applied=0, noted=0, parked=0)
            changed: list[Aggregate] = [
                QuarantinedPayload.keep(project_id, source=q.source, reason=q.reason,
                                        raw=q.raw, received_at=received_at)
                for q_id, q in quarantine_ids.items() if q_id not in aggregates
            ]
            for message_uuid, batch in by_id.items():
                message = aggregates.get(message_uuid)
                if isinstance(message, Message):
                    before = len(message.pending_events)
                    for report in batch:
                        message.record_report(report.outcome, received_at=received_at)
                    new_events = message.pending_events[before:]
                    applied = sum(not isinstance(e, Message.ReportNoted) for e in new_events
                                  if not isinstance(e, Message.Enqueued))
                    counts["applied"] += applied
                    counts["noted"] += len(batch) - applied
                    changed.append(message)
                else:
                    parked = self._parked_for(project_id, batch[0].message_id, received_at)
                    for report in batch:
                        parked.park(report.outcome, received_at=received_at)
                    counts["parked"] += len(batch)
                    changed.append(parked)
            return changed + self.policy.numbers_proven_invalid(changed, received_at)

        self.store.retrying(lambda: apply_all(self.store.load_many([*by_id, *quarantine_ids])))
        return IngestResult(**counts)

    def quarantined_inputs(self, project_id: str) -> list[dict[str, Any]]:
        """Provider input kept because it could not be used, oldest first."""
        mapper = self.store.application.mapper
        kept = []
        for notification in self.store.notifications((QUARANTINE_TOPIC,)):
            event = mapper.to_domain_event(notification)
            assert isinstance(event, QuarantinedPayload.Kept)
            if event.project_id == project_id:
                kept.append({"source": event.source, "reason": event.reason, "raw": event.raw,
                             "received_at": event.timestamp.isoformat()})
        return kept

    def release_parked_reports(self, now: datetime) -> int:
        """Apply the parked reports whose message has appeared since; returns how many
        messages got theirs."""
        released = 0
        for parked_uuid in {UUID(str(n.originator_id))
                            for n in self.store.notifications((PARKED_TOPIC,))}:
            def release(aggregates: dict[UUID, Any], parked_uuid: UUID = parked_uuid
                        ) -> list[Aggregate]:
                parked = aggregates[parked_uuid]
                assert isinstance(parked, ParkedReports)
                message = aggregates.get(message_aggregate_id(parked.project_id,
                                                              parked.message_id))
                if not isinstance(message, Message) or not parked.waiting:
                    return []
                for outcome, received_at in parked.release(at=now):
                    message.record_report(outcome, received_at=received_at)
                return [parked, message]

            def load(parked_uuid: UUID = parked_uuid) -> dict[UUID, Any]:
                parked = self.store.get(parked_uuid)
                assert isinstance(parked, ParkedReports)
                return self.store.load_many(
                    [parked_uuid, message_aggregate_id(parked.project_id, parked.message_id)])

            changed: list[Aggregate] = []

            def attempt(changed: list[Aggregate] = changed) -> list[Aggregate]:
                changed[:] = release(load())
                return changed

            self.store.retrying(attempt)
            released += bool(changed)
        return released

    def _parked_for(self, project_id: str, message_id: str, at: datetime) -> ParkedReports:
        parked = self.store.get(parked_reports_id(project_id, message_id))
        return parked if parked is not None else ParkedReports.open(project_id, message_id, at=at)
