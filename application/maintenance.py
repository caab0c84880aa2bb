"""Periodic maintenance: waiting windows that have passed, parked reports whose message
has appeared, and reconciliation with the provider's logs for messages whose answer
or report was lost. The service runs it in the background; an embedding platform
calls it on its own schedule."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from smsledger.application.aggregates import AggregateStore
from smsledger.application.commands import ProviderReport
from smsledger.application.errors import MessageNotFound
from smsledger.application.ports import Clock, DeliveryLookup
from smsledger.application.projections import DUE_PENDING, DUE_REQUESTED, DUE_WINDOW
from smsledger.application.queries import Queries
from smsledger.application.reports import ReportIngest
from smsledger.application.views import IngestResult
from smsledger.domain.message import Message, message_aggregate_id
from smsledger.domain.status import MessageStatus


class Maintenance:
    def __init__(self, store: AggregateStore, queries: Queries, reports: ReportIngest,
                 clock: Clock) -> None:
        self.store = store
        self.queries = queries
        self.reports = reports
        self.clock = clock

    def close_due_windows(self, now: datetime | None = None) -> int:
        """Close every waiting window that has passed; returns how many were closed.
        Also releases parked reports whose message has appeared since."""
        now = now or self.clock.now()
        self.reports.release_parked_reports(now)
        closed = 0
        seen: set[str] = set()
        while True:
            # Closing a window takes the message off the list once the statistics
            # projection has seen it, so each round starts from the front again.
            due = [doc for _, doc in self.queries.due(DUE_WINDOW, upto=now, limit=500)
                   if doc["message"] not in seen]
            if not due:
                return closed
            seen.update(doc["message"] for doc in due)
            closing: list[Aggregate] = []

            def attempt(due: list[dict[str, Any]] = due, closing: list[Aggregate] = closing
                        ) -> list[Aggregate]:
                closing.clear()
                for message in self.store.load_many(UUID(d["message"]) for d in due).values():
                    if isinstance(message, Message) and message.close_window_if_due(now):
                        closing.append(message)
                return list(closing)

            self.store.retrying(attempt)
            closed += len(closing)

    def reconcile(self, lookup: DeliveryLookup, *, older_than: timedelta,
                  batch_size: int = 100) -> IngestResult:
        """Ask the provider about messages still requested, or enqueued without a final
        status, for longer than `older_than`, and apply what it knows. A message the
        provider does not know stays as it is: never guessed."""
        now = self.clock.now()
        cutoff = now - older_than
        unsettled: dict[tuple[str, str], list[str]] = {}
        for work_list in (DUE_REQUESTED, DUE_PENDING):
            for _, doc in self.queries.all_due(work_list, upto=cutoff):
                key = (doc["project_id"], doc["integration_id"])
                unsettled.setdefault(key, []).append(doc["message_id"])
        changed: dict[str, bool] = {}  # message id -> did the lookup change its status

        def apply(message: Message, report: ProviderReport) -> None:
            before = message.status
            _apply_lookup(message, report, now)
            changed[message.identity.message_id] = message.status is not before

        for (project_id, integration_id), message_ids in unsettled.items():
            for start in range(0, len(message_ids), batch_size):
                chunk = message_ids[start:start + batch_size]
                known = {r.message_id: r for r in lookup.lookup(project_id, integration_id, chunk)}
                if not known:
                    continue
                ids = [message_aggregate_id(project_id, m) for m in known]

                def settle(message: Message, known: dict[str, ProviderReport] = known) -> None:
                    apply(message, known[message.identity.message_id])

                self.store.update(ids, settle, missing=lambda: MessageNotFound(
                    "a message to reconcile is not stored"))
        applied = sum(changed.values())
        return IngestResult(applied=applied, noted=len(changed) - applied)


def _apply_lookup(message: Message, report: ProviderReport, now: datetime) -> None:
    outcome = report.outcome
    if outcome.is_final:
        message.record_report(outcome, received_at=now)
    elif message.status is MessageStatus.REQUESTED:
        # A log entry in flight proves the provider accepted the message.
        message.accept(at=outcome.sent_at or now, parts=outcome.parts)
