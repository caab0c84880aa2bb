"""A message's place in its campaign's funnel, shared by the replay audit and the
statistics projection, so the two can only disagree when one of them missed or
repeated events (which is what the audit's drift check is for).

    requested = unresolved + enqueue_failed + enqueued
    enqueued  = delivered + rejected + failed + pending
                + no_report_expected + no_report_received
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from decimal import Decimal
from collections.abc import Mapping
from typing import Any

from smsledger.domain.message import Message
from smsledger.domain.outcome import StatusGroup
from smsledger.domain.status import MessageStatus, WindowOutcome

_FINAL_EVENTS = (Message.Delivered, Message.Rejected, Message.Failed)
_EPOCH = datetime(1970, 1, 1)
_NO_WINDOW = timedelta(0)

FUNNEL_KEYS = ("requested", "unresolved", "enqueued", "enqueue_failed", "delivered",
               "rejected", "failed", "pending", "no_report_expected", "no_report_received",
               "late")


@dataclass(slots=True)
class MessageState:
    """Mutable and slotted: the replay audit keeps one per message of a campaign, and
    applies every event to it in place (`apply`); `after` gives a changed copy."""

    project_id: str
    campaign_id: str | None
    message_id: str
    integration_id: str
    requested_at: datetime
    window: timedelta
    status: MessageStatus = MessageStatus.REQUESTED
    enqueued_at: datetime | None = None
    window_closed: WindowOutcome | None = None
    late: bool = False
    parts: int = 1
    cost: Decimal | None = None
    currency: str | None = None

    @classmethod
    def requested(cls, event: Message.Requested) -> MessageState:
        return cls(project_id=event.project_id, campaign_id=event.campaign_id,
                   message_id=event.message_id, integration_id=event.integration_id,
                   requested_at=event.timestamp, window=timedelta(seconds=event.window_seconds),
                   parts=event.parts)

    @classmethod
    def counted(cls, parts: int) -> MessageState:
        """Only what the funnel counts: the replay keeps one per message of a campaign,
        so it holds no identifiers or times it does not need."""
        return cls(project_id="", campaign_id=None, message_id="", integration_id="",
                   requested_at=_EPOCH, window=_NO_WINDOW, parts=parts)

    def after(self, event: Any) -> MessageState:
        """A copy of the state once `event` (a later event of the message) happened."""
        changed = replace(self)
        changed.apply(event)
        return changed

    def apply(self, event: Any) -> None:
        """Change this state by `event`, a later event of the same message."""
        self.apply_fields(type(event), vars(event))

    def apply_fields(self, kind: type, fields: Mapping[str, Any]) -> None:
        """Change this state by an event of class `kind`, given its attributes: those of
        the event object, or its stored state as the replay reads it without building
        the event, where `timestamp` is the only time restored (see LedgerApplication.audit)."""
        if kind is Message.Enqueued:
            self.status = MessageStatus.ENQUEUED
            self.enqueued_at = fields["timestamp"]
            self.parts = fields["parts"] or self.parts
        elif kind is Message.EnqueueFailed:
            self.status = MessageStatus.ENQUEUE_FAILED
        elif kind in _FINAL_EVENTS:
            # Read straight from the stored outcome: this runs for every report of a
            # replay, and only the group, parts and price matter here.
            outcome = fields["outcome"]
            final = StatusGroup[outcome["group"]].final_status
            assert final is not None, "a final event carries a final status group"
            self.status = final
            self.late = fields["late"]
            self.parts = outcome.get("parts") or self.parts
            price = outcome.get("price")
            if price is not None:
                # Infobip's pricePerMessage is the price of one SMS part.
                self.cost = Decimal(price["amount"]) * self.parts
                self.currency = price["currency"]
        elif kind is Message.WindowClosed:
            self.window_closed = WindowOutcome(fields["outcome"])

    @property
    def is_pending(self) -> bool:
        return self.status is MessageStatus.ENQUEUED and self.window_closed is None

    @property
    def window_closes_at(self) -> datetime | None:
        return self.enqueued_at + self.window if self.enqueued_at else None

    def funnel_key(self) -> str:
        """The one funnel bucket below `requested` the message is counted in."""
        if self.status is MessageStatus.ENQUEUED:
            return self.window_closed.value if self.window_closed else "pending"
        if self.status is MessageStatus.REQUESTED:
            return "unresolved"
        key: str = self.status.value
        return key

    def to_doc(self) -> dict[str, Any]:
        # Every field is a plain value: a shallow copy is what asdict's deep copy gives,
        # at a fraction of its cost (the projections write one per event).
        doc = {name: getattr(self, name) for name in _STATE_FIELDS}
        doc.update(requested_at=self.requested_at.isoformat(), window=self.window.total_seconds(),
                   status=self.status.value,
                   enqueued_at=self.enqueued_at.isoformat() if self.enqueued_at else None,
                   window_closed=self.window_closed.value if self.window_closed else None,
                   cost=str(self.cost) if self.cost is not None else None)
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> MessageState:
        return cls(**{
            **doc,
            "requested_at": datetime.fromisoformat(doc["requested_at"]),
            "window": timedelta(seconds=doc["window"]),
            "status": MessageStatus(doc["status"]),
            "enqueued_at": (datetime.fromisoformat(doc["enqueued_at"])
                            if doc["enqueued_at"] else None),
            "window_closed": WindowOutcome(doc["window_closed"]) if doc["window_closed"] else None,
            "cost": Decimal(doc["cost"]) if doc["cost"] is not None else None,
        })


_STATE_FIELDS = tuple(f.name for f in fields(MessageState))


@dataclass
class Funnel:
    """Counts, parts and cost of a set of messages; messages can be added and removed."""

    counts: dict[str, int]
    parts: int = 0
    cost: dict[str, Decimal] | None = None

    @classmethod
    def empty(cls) -> Funnel:
        return cls(counts=dict.fromkeys(FUNNEL_KEYS, 0), parts=0, cost={})

    def add(self, state: MessageState, sign: int = 1) -> None:
        assert self.cost is not None
        self.counts["requested"] += sign
        key = state.funnel_key()
        self.counts[key] += sign
        if key in ("unresolved", "enqueue_failed"):
            return
        self.counts["enqueued"] += sign
        self.parts += sign * state.parts
        self.counts["late"] += sign * state.late
        if state.cost is not None and state.currency is not None:
            total = self.cost.get(state.currency, Decimal(0)) + sign * state.cost
            if total:
                self.cost[state.currency] = total
            else:
                self.cost.pop(state.currency, None)

    def remove(self, state: MessageState) -> None:
        self.add(state, sign=-1)

    def cost_strings(self) -> dict[str, str]:
        return {currency: str(amount) for currency, amount in sorted((self.cost or {}).items())}

    def to_doc(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "parts": self.parts, "cost": self.cost_strings()}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Funnel:
        return cls(counts={**dict.fromkeys(FUNNEL_KEYS, 0), **doc["counts"]}, parts=doc["parts"],
                   cost={c: Decimal(a) for c, a in doc["cost"].items()})
