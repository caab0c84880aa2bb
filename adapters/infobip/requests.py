"""Request bodies for Infobip's send endpoints, and reading its error bodies.

SMS go to `POST /sms/3/messages`, MMS to `POST /mms/2/messages`. Each of our
messages is one entry with one destination whose `messageId` is our own id, so
every delivery report names a message we already stored.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smsledger.application.ports import OutgoingMessage
from smsledger.domain.content import MmsContent, SmsContent

SMS_PATH = "/sms/3/messages"
MMS_PATH = "/mms/2/messages"
CALLBACK_DATA_MAX = 4000


def callback_data(message: OutgoingMessage) -> str:
    data = json.dumps({"project": message.project_id, "message": message.message_id},
                      separators=(",", ":"))
    return data[:CALLBACK_DATA_MAX]


def _webhooks(message: OutgoingMessage, delivery_url: str | None) -> dict[str, Any]:
    webhooks: dict[str, Any] = {"contentType": "application/json",
                                "callbackData": callback_data(message)}
    if delivery_url:
        webhooks["delivery"] = {"url": delivery_url, "intermediateReport": False}
    return webhooks


def _destination(message: OutgoingMessage) -> dict[str, str]:
    return {"to": message.to.lstrip("+"), "messageId": message.message_id}


def sms_body(messages: Sequence[OutgoingMessage], delivery_url: str | None) -> dict[str, Any]:
    entries = []
    for message in messages:
        assert isinstance(message.content, SmsContent)
        entry: dict[str, Any] = {
            "destinations": [_destination(message)],
            "content": {"text": message.content.text},
            "webhooks": _webhooks(message, delivery_url),
        }
        if message.sender:
            entry["sender"] = message.sender
        if message.campaign_id:
            entry["options"] = {"campaignReferenceId": message.campaign_id[:200]}
        entries.append(entry)
    return {"messages": entries, "options": {"includeSmsCountInResponse": True}}


def mms_body(messages: Sequence[OutgoingMessage], delivery_url: str | None) -> dict[str, Any]:
    entries = []
    for message in messages:
        content = message.content
        assert isinstance(content, MmsContent)
        segments: list[dict[str, str]] = []
        if content.text:
            segments.append({"type": "TEXT", "text": content.text})
        for url in content.media_urls:
            media_type = mimetypes.guess_type(url)[0] or "application/octet-stream"
            segments.append({"type": "LINK", "contentUrl": url, "contentType": media_type})
        entry: dict[str, Any] = {
            "destinations": [_destination(message)],
            "content": {"title": content.title, "messageSegments": segments},
            "webhooks": _webhooks(message, delivery_url),
        }
        if message.sender:
            entry["sender"] = message.sender
        entries.append(entry)
    return {"messages": entries}


@dataclass(frozen=True)
class InfobipError:
    """An error answer, from either of Infobip's two error shapes."""

    code: str | None  # "E400", "BAD_REQUEST", ...
    text: str | None
    violations: tuple[tuple[str, str], ...] = ()  # (property, violation)

    @property
    def comment(self) -> str | None:
        parts = [self.text] if self.text else []
        parts += [f"{prop}: {violation}" for prop, violation in self.violations]
        return "; ".join(parts) or None

    def message_indexes(self) -> set[int] | None:
        """Which `messages[i]` the violations name; None when some name no message."""
        indexes: set[int] = set()
        for prop, _ in self.violations:
            found = re.match(r"messages\[(\d+)\]", prop)
            if not found:
                return None
            indexes.add(int(found.group(1)))
        return indexes or None


def parse_error(body: bytes) -> InfobipError:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        text = body.decode("utf-8", "replace").strip()[:500]
        return InfobipError(code=None, text=text or None)
    if not isinstance(document, dict):
        return InfobipError(code=None, text=str(document)[:500])
    if "requestError" in document:  # v1/v2 APIs
        exception = (document.get("requestError") or {}).get("serviceException") or {}
        validation = exception.get("validationErrors") or {}
        violations = tuple(
            (str(prop), "; ".join(map(str, msgs)) if isinstance(msgs, list) else str(msgs))
            for prop, msgs in validation.items()) if isinstance(validation, dict) else ()
        return InfobipError(code=exception.get("messageId"), text=exception.get("text"),
                            violations=violations)
    violations = tuple(
        (str(v.get("property", "")), str(v.get("violation", "")))
        for v in document.get("violations") or () if isinstance(v, dict))
    return InfobipError(code=document.get("errorCode"), text=document.get("description"),
                        violations=violations)
