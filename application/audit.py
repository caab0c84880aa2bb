"""Campaign audit: the funnel of one campaign, recomputed by replaying the store.

The fold reads message events in the store's order and keeps only the running
state of the campaign's messages, so memory grows with the campaign, not the
store. With `as_of`, events stamped later are left out: the campaign as it stood
at that moment. The funnel adds up by construction:

    requested = unresolved + enqueue_failed + enqueued
    enqueued  = delivered + rejected + failed + pending
                + no_report_expected + no_report_received
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain.message import Message
from domain.outcome import DeliveryOutcome
from domain.status import MessageStatus, WindowOutcome

FUNNEL_KEYS = ("requested", "unresolved", "enqueued", "enqueue_failed", "delivered",
               "rejected", "failed", "pending", "no_report_expected", "no_report_received",
               "late")


@dataclass
class _MessageState:
    status: MessageStatus = MessageStatus.REQUESTED
    window_closed: WindowOutcome | None = None
    late: bool = False
    parts: int = 1
    cost: tuple[Decimal, str] | None = None


@dataclass(frozen=True)
class CampaignAudit:
    project_id: str
    campaign_id: str
    counts: dict[str, int]
    parts: int
    cost: dict[str, str]  # currency -> amount, as a decimal string
    as_of: datetime | None = None
    drift: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "campaign_id": self.campaign_id,
                **self.counts, "parts": self.parts, "cost": dict(self.cost),
                "as_of": self.as_of.isoformat() if self.as_of else None,
                "drift": list(self.drift)}


class CampaignAuditFold:
    def __init__(self, project_id: str, campaign_id: str, as_of: datetime | None = None):
        self.project_id = project_id
        self.campaign_id = campaign_id
        self.as_of = as_of
        self._messages: dict[UUID, _MessageState] = {}

    def feed(self, events: Iterable[Any]) -> CampaignAuditFold:
        for event in events:
            self.apply(event)
        return self

    def apply(self, event: Any) -> None:
        if self.as_of is not None and event.timestamp > self.as_of:
            return
        if isinstance(event, Message.Requested):
            if event.project_id == self.project_id and event.campaign_id == self.campaign_id:
                self._messages[event.originator_id] = _MessageState(parts=event.parts)
            return
        state = self._messages.get(event.originator_id)
        if state is None:
            return
        if isinstance(event, Message.Enqueued):
            state.status = MessageStatus.ENQUEUED
            state.parts = event.parts or state.parts
        elif isinstance(event, Message.EnqueueFailed):
            state.status = MessageStatus.ENQUEUE_FAILED
        elif isinstance(event, Message.FinalReportApplied):
            outcome = DeliveryOutcome.from_dict(event.outcome)
            state.status = outcome.final_status
            state.late = event.late
            state.parts = outcome.parts or state.parts
            if outcome.price is not None:
                # Infobip's pricePerMessage is the price of one SMS part.
                state.cost = (outcome.price.amount * state.parts, outcome.price.currency)
        elif isinstance(event, Message.WindowClosed):
            state.window_closed = WindowOutcome(event.outcome)

    def result(self) -> CampaignAudit:
        counts = dict.fromkeys(FUNNEL_KEYS, 0)
        parts = 0
        cost: dict[str, Decimal] = {}
        for state in self._messages.values():
            counts["requested"] += 1
            if state.status is MessageStatus.REQUESTED:
                counts["unresolved"] += 1
                continue
            if state.status is MessageStatus.ENQUEUE_FAILED:
                counts["enqueue_failed"] += 1
                continue
            counts["enqueued"] += 1
            parts += state.parts
            if state.status is MessageStatus.ENQUEUED:
                counts[state.window_closed.value if state.window_closed else "pending"] += 1
            else:
                counts[state.status.value] += 1
            counts["late"] += state.late
            if state.cost is not None:
                amount, currency = state.cost
                cost[currency] = cost.get(currency, Decimal(0)) + amount
        return CampaignAudit(
            project_id=self.project_id, campaign_id=self.campaign_id, counts=counts,
            parts=parts, cost={c: str(a) for c, a in sorted(cost.items())}, as_of=self.as_of)
