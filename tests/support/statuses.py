"""Infobip statuses and errors by name, as reports carry them (reference/infobip-api.md)."""

from __future__ import annotations

import json
from datetime import datetime

from smsledger.adapters.infobip_simulator.payloads import format_time
from smsledger.domain.outcome import DeliveryOutcome, StatusGroup

STATUSES = {
    "PENDING_ACCEPTED": (StatusGroup.PENDING, 26, "Message sent to next instance"),
    "PENDING_ENROUTE": (StatusGroup.PENDING, 7, "Message sent to next instance"),
    "DELIVERED_TO_HANDSET": (StatusGroup.DELIVERED, 5, "Message delivered to handset"),
    "REJECTED_NETWORK": (StatusGroup.REJECTED, 6, "Network is forbidden"),
    "UNDELIVERABLE_NOT_DELIVERED": (StatusGroup.UNDELIVERABLE, 9, "Message sent not delivered"),
    "EXPIRED_EXPIRED": (StatusGroup.EXPIRED, 15, "Message expired"),
}

ERRORS = {
    "EC_UNIDENTIFIED_SUBSCRIBER": (
        5, True,
        "The number does not exist or it has not been assigned to any active subscriber "
        "in the operator's user database."),
    "EC_ABSENT_SUBSCRIBER_SM": (6, False, "The subscriber is absent."),
}


def outcome(status: str, *, done_at: datetime | None = None, error: str | None = None,
            parts: int | None = 1, sent_at: datetime | None = None) -> DeliveryOutcome:
    group, status_id, description = STATUSES[status]
    error_fields: dict = {"error_id": 0, "error_name": "NO_ERROR",
                          "error_description": "No Error", "error_permanent": False}
    if error is not None:
        error_id, permanent, error_description = ERRORS[error]
        error_fields = {"error_id": error_id, "error_name": error,
                        "error_description": error_description, "error_permanent": permanent}
    return DeliveryOutcome(group=group, status_id=status_id, status_name=status,
                           status_description=description, done_at=done_at, sent_at=sent_at,
                           parts=parts, **error_fields)


def report_body(message_id: str, reported: DeliveryOutcome) -> str:
    """An Infobip delivery-report POST body carrying `reported`, as Infobip sends it
    (reference/infobip-api.md): what the scenarios hand to the channel."""
    result: dict = {
        "messageId": message_id,
        "status": {"groupId": reported.group.value, "groupName": reported.group.name,
                   "id": reported.status_id, "name": reported.status_name,
                   "description": reported.status_description},
        "error": {"id": reported.error_id, "name": reported.error_name,
                  "description": reported.error_description,
                  "permanent": reported.error_permanent},
        "messageCount": reported.parts,
    }
    for key, moment in (("doneAt", reported.done_at), ("sentAt", reported.sent_at)):
        if moment is not None:
            result[key] = format_time(moment)
    return json.dumps({"results": [result]})


def inbound_body(message_id: str, sender: str, to: str, text: str, received_at: datetime) -> str:
    """An Infobip inbound-SMS POST body: one reply a customer sent."""
    return json.dumps({"results": [{
        "messageId": message_id, "from": sender, "to": to, "text": text,
        "receivedAt": format_time(received_at), "smsCount": 1}]})
