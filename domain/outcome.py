"""A provider-neutral view of what the provider said about one message.

Infobip's status groups are mapped explicitly: a group we do not know is an
error, never a success (peer platforms counted unknown statuses as delivered).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from smsledger.domain.errors import InvalidOutcome, UnknownStatusGroup
from smsledger.domain.status import MessageStatus


class StatusGroup(Enum):
    ACCEPTED = 0
    PENDING = 1
    UNDELIVERABLE = 2
    DELIVERED = 3
    EXPIRED = 4
    REJECTED = 5

    @classmethod
    def parse(cls, group_id: int | None = None, group_name: str | None = None) -> StatusGroup:
        """The name wins when present (resellers renumber ids); matching ignores case."""
        if group_name is not None:
            exact = _GROUP_OF_NAME.get(group_name) if type(group_name) is str else None
            if exact is not None:  # as Infobip writes it, nearly always
                return exact
            key = str(group_name).strip().upper()
            if key in cls.__members__:
                return cls[key]
            raise UnknownStatusGroup(f"unknown status group name {group_name!r}")
        if group_id is not None:
            try:
                return cls(int(group_id))
            except (ValueError, TypeError):
                raise UnknownStatusGroup(f"unknown status group id {group_id!r}") from None
        raise UnknownStatusGroup("a status needs a group id or a group name")

    @property
    def final_status(self) -> MessageStatus | None:
        """The message status this group ends in, or None while still in flight."""
        return _FINAL_STATUS_OF_GROUP.get(self)


_GROUP_OF_NAME = {group.name: group for group in StatusGroup}

_FINAL_STATUS_OF_GROUP = {
    StatusGroup.DELIVERED: MessageStatus.DELIVERED,
    StatusGroup.UNDELIVERABLE: MessageStatus.FAILED,
    StatusGroup.EXPIRED: MessageStatus.FAILED,
    StatusGroup.REJECTED: MessageStatus.REJECTED,
}


@dataclass(frozen=True)
class Price:
    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal):
            try:
                object.__setattr__(self, "amount", Decimal(str(self.amount)))
            except InvalidOperation:
                raise InvalidOutcome(f"price {self.amount!r} is not a number") from None
        if not self.amount.is_finite() or self.amount < 0:
            raise InvalidOutcome(f"price {self.amount} must be a non-negative number")


@dataclass(frozen=True)
class DeliveryOutcome:
    """One status the provider reported: from a send answer or a delivery report."""

    group: StatusGroup
    status_id: int | None = None
    status_name: str | None = None
    status_description: str | None = None
    error_id: int | None = None
    error_name: str | None = None
    error_description: str | None = None
    error_permanent: bool | None = None
    done_at: datetime | None = None
    sent_at: datetime | None = None
    parts: int | None = None
    price: Price | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.group, StatusGroup):
            raise UnknownStatusGroup(f"status group must be a StatusGroup, got {self.group!r}")
        if self.parts is not None and (not isinstance(self.parts, int) or self.parts < 1):
            raise InvalidOutcome(f"part count must be a positive integer, got {self.parts!r}")
        for name in ("done_at", "sent_at"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise InvalidOutcome(f"{name} must carry a time zone")

    @property
    def final_status(self) -> MessageStatus | None:
        return self.group.final_status

    @property
    def is_final(self) -> bool:
        return self.final_status is not None

    @property
    def has_error(self) -> bool:
        return self.error_id not in (None, 0)

    @property
    def identity(self) -> str:
        """What makes two reports the same report: see outcome_identity."""
        return outcome_identity(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group.name,
            "status_id": self.status_id,
            "status_name": self.status_name,
            "status_description": self.status_description,
            "error_id": self.error_id,
            "error_name": self.error_name,
            "error_description": self.error_description,
            "error_permanent": self.error_permanent,
            "done_at": self.done_at.isoformat() if self.done_at else None,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "parts": self.parts,
            "price": (
                {"amount": str(self.price.amount), "currency": self.price.currency}
                if self.price else None
            ),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeliveryOutcome:
        price = data.get("price")
        return cls(
            group=StatusGroup[data["group"]],
            status_id=data.get("status_id"),
            status_name=data.get("status_name"),
            status_description=data.get("status_description"),
            error_id=data.get("error_id"),
            error_name=data.get("error_name"),
            error_description=data.get("error_description"),
            error_permanent=data.get("error_permanent"),
            done_at=_parse_time(data.get("done_at")),
            sent_at=_parse_time(data.get("sent_at")),
            parts=data.get("parts"),
            price=Price(Decimal(price["amount"]), price["currency"]) if price else None,
        )


def outcome_identity(stored: dict[str, Any]) -> str:
    """What makes two reports the same report (so a repeat is a no-op, a new status is
    not): status and done time, never the message id alone. Read from the stored form
    (DeliveryOutcome.to_dict), as events keep it, without rebuilding the outcome."""
    name = (stored.get("status_name") or "").upper()
    return f"{stored['group']}|{stored.get('status_id')}|{name}|{stored.get('done_at') or ''}"


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
