"""Recovery: every message that is not settled ends in a definite state.

Each round looks at the messages still requested, or enqueued without a final
status, and by what is recorded of them (handover.py):
- never handed to the provider (a crash, or a failure, between storing and calling):
  sent now, as the platform's request would have sent it;
- handed over, or enqueued, with no final status: the provider is asked. The
  reports it still holds are stored first (it hands each out once only), then its
  logs settle what they know;
- handed over and still unknown to the provider `resend_after` after the last
  hand-over: sent again under the same id, until `max_send_attempts` hand-overs are
  used up; then the message ends `enqueue_failed` with the reason
  `not_accepted_by_provider`. Never silently requested for ever.
One integration whose provider cannot be reached is logged and counted, and the
others go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from smsledger.application.aggregates import AggregateStore
from smsledger.application.commands import ProviderReport
from smsledger.application.errors import MessageNotFound
from smsledger.application.handover import HandOver
from smsledger.application.ports import Clock, DeliveryLookup
from smsledger.application.projections import DUE_PENDING, DUE_REQUESTED
from smsledger.application.queries import Queries
from smsledger.application.reports import ReportIngest
from smsledger.domain.errors import InvalidInput
from smsledger.domain.message import Message, message_aggregate_id
from smsledger.domain.status import MessageStatus

log = logging.getLogger("smsledger.recovery")

NOT_ACCEPTED = "not_accepted_by_provider"
CHUNK = 100  # messages asked about per provider call


@dataclass(frozen=True)
class RecoveryLimits:
    """How long each step waits (defaults documented in the README, "Reliability")."""

    # A message never handed over is sent by a round once it is this old: a send
    # call in progress hands its batches over well within it.
    send_unsent_after: timedelta = timedelta(minutes=1)
    # A message handed over (or enqueued) without a final status is looked up in
    # the provider's logs once this long has passed since its last hand-over.
    reconcile_after: timedelta = timedelta(minutes=15)
    # ...and sent again when the logs still do not know it this long after.
    resend_after: timedelta = timedelta(minutes=30)
    max_send_attempts: int = 3

    def __post_init__(self) -> None:
        if self.max_send_attempts < 1:
            raise InvalidInput(f"max_send_attempts must be at least 1, got "
                               f"{self.max_send_attempts}")
        waits = {"send_unsent_after": self.send_unsent_after,
                 "reconcile_after": self.reconcile_after, "resend_after": self.resend_after}
        for name, wait in waits.items():
            if wait < timedelta(0):
                raise InvalidInput(f"{name} must not be negative, got {wait}")

    def all(self, wait: timedelta) -> RecoveryLimits:
        """The same limits with every waiting time set to `wait` (0: everything
        unresolved now), for operators and tests."""
        return RecoveryLimits(wait, wait, wait, self.max_send_attempts)


@dataclass
class RecoveryResult:
    sent: int = 0  # never handed over before, handed over now
    settled: int = 0  # status changed by what the provider knew
    noted: int = 0  # the provider knew, nothing changed
    resent: int = 0  # handed over again: the provider did not know them
    gave_up: int = 0  # ended enqueue_failed, not_accepted_by_provider
    failed_integrations: list[str] = field(default_factory=list)  # "project/integration"

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "settled": self.settled, "noted": self.noted,
                "resent": self.resent, "gave_up": self.gave_up,
                "failed_integrations": list(self.failed_integrations)}


class Recovery:
    def __init__(self, store: AggregateStore, queries: Queries, reports: ReportIngest,
                 handover: HandOver, clock: Clock, limits: RecoveryLimits) -> None:
        self.store = store
        self.queries = queries
        self.reports = reports
        self.handover = handover
        self.clock = clock
        self.limits = limits

    def run(self, lookup: DeliveryLookup, limits: RecoveryLimits | None = None
            ) -> RecoveryResult:
        limits = limits or self.limits
        now = self.clock.now()
        result = RecoveryResult()
        earliest = min(limits.send_unsent_after, limits.reconcile_after)
        groups: dict[tuple[str, str], list[UUID]] = {}
        for work_list, wait in ((DUE_REQUESTED, earliest), (DUE_PENDING, limits.reconcile_after)):
            for _, doc in self.queries.all_due(work_list, upto=now - wait):
                groups.setdefault((doc["project_id"], doc["integration_id"]), []).append(
                    UUID(doc["message"]))
        for (project_id, integration_id), ids in groups.items():
            try:
                for start in range(0, len(ids), CHUNK):
                    self._recover(lookup, project_id, integration_id, ids[start:start + CHUNK],
                                  limits, now, result)
            except Exception as exc:  # this integration waits for the next round
                log.warning("recovery of %s/%s failed: %s: %s", project_id, integration_id,
                            type(exc).__name__, exc, extra={"fields": {
                                "project_id": project_id, "integration_id": integration_id}})
                result.failed_integrations.append(f"{project_id}/{integration_id}")
        result.failed_integrations = sorted(set(result.failed_integrations))
        return result

    def _recover(self, lookup: DeliveryLookup, project_id: str, integration_id: str,
                 ids: list[UUID], limits: RecoveryLimits, now: datetime,
                 result: RecoveryResult) -> None:
        messages = [m for m in self.store.load_many(ids).values() if isinstance(m, Message)]
        never_handed_over = [
            m for m in messages if m.status is MessageStatus.REQUESTED and m.handovers == 0
            and m.requested_at <= now - limits.send_unsent_after]
        if never_handed_over:
            claimed, outcomes = self.handover.send(never_handed_over)
            self.handover.record(claimed, outcomes)
            result.sent += len(claimed)
        # One step per message and round: one sent just now waits for the next round.
        sent_now = {m.id for m in never_handed_over}
        waiting_since = {m.id: _waiting_since(m) for m in messages}
        unsettled = [m for m in messages if m.id not in sent_now
                     and (since := waiting_since[m.id]) is not None
                     and since <= now - limits.reconcile_after]
        for kind in ("sms", "mms"):
            of_kind = [m for m in unsettled if m.content.get("kind", "sms") == kind]
            if of_kind:
                self._ask_provider(lookup, project_id, integration_id, kind, of_kind, limits,
                                   now, result)

    def _ask_provider(self, lookup: DeliveryLookup, project_id: str, integration_id: str,
                      kind: str, messages: list[Message], limits: RecoveryLimits,
                      now: datetime, result: RecoveryResult) -> None:
        message_ids = [m.identity.message_id for m in messages]
        known: set[str] = set()
        try:
            # Each group is stored before anything else can fail, the next group's
            # request included: the provider hands pulled reports out once.
            for pulled in lookup.pulled_reports(project_id, integration_id, message_ids,
                                                kind=kind):
                if pulled:
                    ingested = self.reports.record_reports(project_id, pulled)
                    result.settled += ingested.applied
                    result.noted += ingested.noted
                known.update(r.message_id for r in pulled)
            rest = [m for m in message_ids if m not in known]
            logged = list(lookup.logs(project_id, integration_id, rest, kind=kind)) if rest else []
            if logged:
                self._apply_logs(project_id, logged, now, result)
            known.update(r.message_id for r in logged)
        except Exception as exc:
            # The provider cannot be asked. Sending again still goes on below: under the
            # same id, which the provider refuses as a duplicate if it has the message.
            log.warning("asking the provider about %s/%s failed: %s: %s", project_id,
                        integration_id, type(exc).__name__, exc, extra={"fields": {
                            "project_id": project_id, "integration_id": integration_id}})
            result.failed_integrations.append(f"{project_id}/{integration_id}")
        unknown = [m for m in messages if m.identity.message_id not in known
                   and m.status is MessageStatus.REQUESTED and m.handovers > 0
                   and m.handed_over_at is not None
                   and m.handed_over_at <= now - limits.resend_after]
        used_up = [m for m in unknown if m.handovers >= limits.max_send_attempts]
        if used_up:
            self._give_up(used_up, limits.max_send_attempts, now, result)
        again = [m for m in unknown if m.handovers < limits.max_send_attempts]
        if again:
            claimed, outcomes = self.handover.send(again)
            self.handover.record(claimed, outcomes)
            result.resent += len(claimed)

    def _apply_logs(self, project_id: str, logged: Sequence[ProviderReport], now: datetime,
                    result: RecoveryResult) -> None:
        by_id = {r.message_id: r for r in logged}
        changed: dict[str, bool] = {}

        def apply(message: Message) -> None:
            before = message.status
            outcome = by_id[message.identity.message_id].outcome
            if outcome.is_final:
                message.record_report(outcome, received_at=now)
            elif message.status is MessageStatus.REQUESTED:
                # A log entry in flight proves the provider accepted the message.
                message.accept(at=outcome.sent_at or now, parts=outcome.parts)
            changed[message.identity.message_id] = message.status is not before

        self.store.update([message_aggregate_id(project_id, m) for m in by_id], apply,
                          missing=lambda: MessageNotFound("a message to reconcile is not stored"))
        result.settled += sum(changed.values())
        result.noted += len(changed) - sum(changed.values())

    def _give_up(self, messages: list[Message], max_attempts: int, now: datetime,
                 result: RecoveryResult) -> None:
        gave_up: set[str] = set()  # a set: a retried update applies the command again

        def give_up(message: Message) -> None:
            # As stored now: a report, or another process's resend, may have come since.
            if message.status is MessageStatus.REQUESTED and message.handovers >= max_attempts:
                message.give_up(at=now, reason=NOT_ACCEPTED, comment=(
                    f"the provider did not accept the message in {message.handovers} "
                    "attempts, and does not know it"))
                gave_up.add(message.identity.message_id)

        self.store.update([m.id for m in messages], give_up,
                          missing=lambda: MessageNotFound("a message to give up is not stored"))
        result.gave_up += len(gave_up)


def _waiting_since(message: Message) -> datetime | None:
    """Since when the message waits for the provider: its last hand-over while
    requested, its acceptance while enqueued without a final status; None when
    it waits for nothing the provider could tell."""
    if message.status is MessageStatus.REQUESTED:
        return message.handed_over_at
    if message.is_pending:
        return message.enqueued_at
    return None
