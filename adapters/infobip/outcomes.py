"""Infobip status and error objects -> the domain's DeliveryOutcome.

Lenient where Infobip's own samples are inconsistent ("Ok" versus "OK", extra
keys), strict where it matters: a status group we do not know is an error.
"""

from __future__ import annotations

from typing import Any

from smsledger.adapters.infobip.timestamps import parse_infobip_time
from smsledger.domain.errors import InvalidOutcome
from smsledger.domain.outcome import DeliveryOutcome, Price, StatusGroup


def outcome_from_infobip(result: dict[str, Any]) -> DeliveryOutcome:
    """Build from a report, a log entry or a send answer's message entry.
    Raises a DomainError (UnknownStatusGroup, InvalidOutcome) or ValueError."""
    status = result.get("status")
    if not isinstance(status, dict):
        raise InvalidOutcome("'status' must be an object")
    error = result["error"] if isinstance(result.get("error"), dict) else {}
    price = result["price"] if isinstance(result.get("price"), dict) else None
    parts = result.get("messageCount", result.get("smsCount"))
    if parts is None and isinstance(result.get("details"), dict):
        parts = result["details"].get("messageCount")
    return DeliveryOutcome(
        group=StatusGroup.parse(group_id=status.get("groupId"), group_name=status.get("groupName")),
        status_id=_int_or_none(status.get("id"), "status.id"),
        status_name=status.get("name"),
        status_description=status.get("description"),
        error_id=_int_or_none(error.get("id"), "error.id"),
        error_name=error.get("name"),
        error_description=error.get("description"),
        error_permanent=error.get("permanent") if isinstance(error.get("permanent"), bool) else None,
        done_at=parse_infobip_time(result.get("doneAt")),
        sent_at=parse_infobip_time(result.get("sentAt")),
        parts=_int_or_none(parts, "messageCount") or None,
        price=(Price(price["pricePerMessage"], str(price.get("currency") or ""))
               if price and price.get("pricePerMessage") is not None else None),
    )


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidOutcome(f"'{name}' must be a whole number, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise InvalidOutcome(f"'{name}' must be a whole number, got {value!r}") from None
