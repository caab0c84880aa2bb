"""The data the benchmarks push through: recipients, send requests, Infobip delivery
reports, and a provider stub that accepts everything (for setting messages up)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from smsledger.application.commands import SendRequest
from smsledger.application.ports import Accepted, OutgoingMessage, SendOutcome, SmsProvider

PROJECT = "bench"
INTEGRATION = "infobip"
SENDER = "BenchShop"
API_KEY = "bench-infobip-key"
WEBHOOK_PATH = f"/v1/webhooks/infobip/{PROJECT}/{INTEGRATION}/delivery-reports"
CALLBACK_SIZE = 100
TEXT = "Flash sale: 20% off everything until midnight. Reply STOP to opt out."


def recipient(index: int) -> str:
    """A distinct Croatian mobile number per index (below 100,000; repeats after). The
    last two digits are 00-09, which the simulator treats as ordinary numbers
    (accepted, then delivered), never as one of its magic fault numbers."""
    return f"+38591{index % 100_000:05d}0{index % 10}"


def send_requests(count: int, campaign_id: str, *, start: int = 0,
                  integration_id: str | None = None, sender: str | None = SENDER,
                  ) -> list[SendRequest]:
    return [SendRequest(customer_id=f"cust-{i}", to=recipient(i), text=TEXT,
                        campaign_id=campaign_id, action_id="bench", sender=sender,
                        integration_id=integration_id)
            for i in range(start, start + count)]


class AcceptAll(SmsProvider):
    """Setup only: accepts every message at once, as one SMS part, without I/O."""

    def send(self, messages: Sequence[OutgoingMessage]) -> Sequence[SendOutcome]:
        return [Accepted(m.message_id, parts=1) for m in messages]


def _infobip_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def delivery_report(message_id: str, to: str, sent_at: datetime) -> dict[str, Any]:
    """One DELIVERED report in Infobip's v3 shape, as the simulator and Infobip post it."""
    return {
        "bulkId": "bench-bulk",
        "messageId": message_id,
        "to": to.lstrip("+"),
        "sender": SENDER,
        "sentAt": _infobip_time(sent_at),
        "doneAt": _infobip_time(sent_at + timedelta(seconds=3)),
        "messageCount": 1,
        "mccMnc": "21901",
        "callbackData": json.dumps({"project": PROJECT, "message": message_id},
                                   separators=(",", ":")),
        "price": {"pricePerMessage": 0.0085, "currency": "EUR"},
        "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5,
                   "name": "DELIVERED_TO_HANDSET", "description": "Message delivered to handset"},
        "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR",
                  "description": "No Error", "permanent": False},
    }


def callback_bodies(message_ids: Sequence[str], recipients: Sequence[str],
                    size: int = CALLBACK_SIZE) -> list[bytes]:
    """Infobip's webhook bodies: {"results": [...]} with `size` reports each."""
    sent_at = datetime.now(UTC)
    bodies = []
    for start in range(0, len(message_ids), size):
        results = [delivery_report(m, r, sent_at) for m, r in
                   zip(message_ids[start:start + size], recipients[start:start + size])]
        bodies.append(json.dumps({"results": results}).encode())
    return bodies
