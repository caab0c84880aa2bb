"""What the use cases answer: plain, read-only data for adapters to render."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smsledger.domain.campaign_events import CampaignEvent


@dataclass(frozen=True)
class SendResult:
    message_id: str | None  # None only for an invalid request that named no id
    status: str
    number_of_message_parts: int
    detail: str | None = None  # why a message stayed requested, or was refused
    error: str | None = None  # for status `invalid`: e.g. invalid_message, message_id_reused


@dataclass(frozen=True)
class IngestResult:
    applied: int = 0  # reports that changed a status
    noted: int = 0  # recorded for audit without a status change (pending, duplicate, ...)
    parked: int = 0  # for message ids not known (yet); kept, never dropped
    quarantined: int = 0  # could not be parsed; kept with the reason for inspection

    @property
    def total(self) -> int:
        return self.applied + self.noted + self.parked + self.quarantined


@dataclass(frozen=True)
class HistoryEntry:
    event: str  # e.g. "Requested", "Enqueued", "Delivered", "ReportNoted"
    timestamp: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, "timestamp": self.timestamp.isoformat(),
                "details": self.details}


@dataclass(frozen=True)
class MessageView:
    project_id: str
    message_id: str
    status: str
    recipient: str
    country: str | None
    customer_id: str
    campaign_id: str | None
    action_id: str | None
    sender: str | None
    integration_id: str
    number_of_message_parts: int
    encoding: str
    window_closes_at: datetime | None
    window_closed: str | None
    late: bool
    history: list[HistoryEntry]

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "history"}
        closes = self.window_closes_at
        data["window_closes_at"] = closes.isoformat() if closes else None
        data["history"] = [entry.to_dict() for entry in self.history]
        return data


@dataclass(frozen=True)
class FeedPage:
    events: list[CampaignEvent]
    next: int  # pass back as `after` to read on from here

    def to_dict(self) -> dict[str, Any]:
        return {"events": [e.to_dict() for e in self.events], "next": str(self.next)}
