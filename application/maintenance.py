"""Periodic maintenance, one round at a time: double opt-ins nobody confirmed,
parked reports whose message has appeared, waiting windows that have passed, and
recovery (recovery.py) of messages never handed over or whose answer or report was
lost. The service's background work, `smsledger maintenance --once` and an
embedding platform's own schedule all run the same round; it is safe to repeat and
to run in several processes at once (commands are idempotent, writes retried)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from smsledger.application.aggregates import AggregateStore
from smsledger.application.ports import Clock, DeliveryLookup
from smsledger.application.projections import DUE_WINDOW
from smsledger.application.queries import Queries
from smsledger.application.recovery import Recovery, RecoveryLimits
from smsledger.application.reports import ReportIngest
from smsledger.domain.message import Message


class Maintenance:
    def __init__(self, store: AggregateStore, queries: Queries, reports: ReportIngest,
                 recovery: Recovery, expire_consent_requests: Callable[[datetime], int],
                 clock: Clock) -> None:
        self.store = store
        self.queries = queries
        self.reports = reports
        self.recovery = recovery
        self.expire_consent_requests = expire_consent_requests
        self.clock = clock

    def run_round(self, lookup: DeliveryLookup | None, limits: RecoveryLimits | None = None
                  ) -> dict[str, Any]:
        """One round of everything periodic; what it did, by name. Without a lookup
        (no provider configured) recovery is left out."""
        now = self.clock.now()
        done: dict[str, Any] = {
            "consent_requests_expired": self.expire_consent_requests(now),
            "parked_reports_released": self.reports.release_parked_reports(now),
            "windows_closed": self.close_due_windows(now, release_parked=False),
        }
        if lookup is not None:
            done.update(self.recovery.run(lookup, limits).to_dict())
        return done

    def close_due_windows(self, now: datetime | None = None, *,
                          release_parked: bool = True) -> int:
        """Close every waiting window that has passed; returns how many were closed.
        First releases parked reports whose message has appeared since (unless the
        caller just did)."""
        now = now or self.clock.now()
        if release_parked:
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
