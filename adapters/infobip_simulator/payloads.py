"""Infobip's JSON on the wire: reading send requests, building answers, reports, logs and errors.

Shapes follow reference/infobip-api.md and are held to Infobip's official SDK models by
tests/contract/test_simulator_contract.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, cast

from smsledger.adapters.infobip_simulator.rules import Error, Status, country_of, number_facts
from smsledger.domain.parts import count_parts

CURRENCY = "EUR"
MAX_TO_LENGTH = 64
MAX_MESSAGE_ID_LENGTH = 200
MAX_CALLBACK_DATA_LENGTH = 4000
MAX_MMS_TITLE_LENGTH = 66
MMS_SEGMENT_TYPES = ("TEXT", "LINK", "SMIL", "UPLOADED_REFERENCE")
# A binary SMS holds 140 octets; a concatenated one loses 6 per part to its header.
BINARY_SINGLE_PART_OCTETS = 140
BINARY_MULTI_PART_OCTETS = 134

# Real reports carry the operator's network code; a few plausible ones make them look real.
MCC_MNC_BY_COUNTRY = {
    "AT": "23201",
    "CH": "22801",
    "DE": "26201",
    "FR": "20801",
    "GB": "23410",
    "HR": "21910",
    "IT": "22201",
    "US": "310260",
}


class Channel(Enum):
    SMS = "SMS"
    MMS = "MMS"


@dataclass(frozen=True)
class Submission:
    """One destination of one message in a send request, as the simulator needs it."""

    channel: Channel
    to: str
    message_id: str | None
    sender: str | None
    parts: int
    content: dict[str, Any]
    webhook_url: str | None
    notify: bool
    callback_data: str | None
    campaign_reference_id: str | None


# ---------------------------------------------------------------- reading send requests


def parse_send_request(
    channel: Channel, body: Any
) -> tuple[str | None, list[Submission], list[dict[str, str]]]:
    """Return (bulkId asked for, submissions, violations); any violation refuses the request."""
    violations: list[dict[str, str]] = []
    if not isinstance(body, dict):
        return None, [], [_violation("", "must be a JSON object")]
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None, [], [_violation("messages", "must be a non-empty array")]
    read_content = _read_sms_content if channel is Channel.SMS else _read_mms_content
    submissions = []
    for i, message in enumerate(messages):
        path = f"messages[{i}]"
        if not isinstance(message, dict):
            violations.append(_violation(path, "must be an object"))
            continue
        parts = read_content(message.get("content"), f"{path}.content", violations)
        sender = _optional_string(message, "sender", path, violations)
        url, notify, callback_data = _read_webhooks(
            message.get("webhooks"), f"{path}.webhooks", violations
        )
        campaign = _dig(message, "options", "campaignReferenceId")
        for to, message_id in _read_destinations(message.get("destinations"), path, violations):
            submissions.append(
                Submission(
                    channel=channel,
                    to=to,
                    message_id=message_id,
                    sender=sender,
                    parts=parts,
                    # read_content checked it: otherwise a violation refuses the request
                    content=cast("dict[str, Any]", message.get("content")),
                    webhook_url=url,
                    notify=notify,
                    callback_data=callback_data,
                    campaign_reference_id=campaign if isinstance(campaign, str) else None,
                )
            )
    bulk_id = _dig(body, "options", "schedule", "bulkId")
    return (bulk_id if isinstance(bulk_id, str) and bulk_id else None), submissions, violations


def _read_destinations(
    destinations: Any, path: str, violations: list[dict[str, str]]
) -> list[tuple[str, str | None]]:
    if not isinstance(destinations, list) or not destinations:
        violations.append(_violation(f"{path}.destinations", "must be a non-empty array"))
        return []
    read: list[tuple[str, str | None]] = []
    for j, destination in enumerate(destinations):
        where = f"{path}.destinations[{j}]"
        if not isinstance(destination, dict):
            violations.append(_violation(where, "must be an object"))
            continue
        to, message_id = destination.get("to"), destination.get("messageId")
        problem = _destination_problem(to)
        if problem:
            violations.append(_violation(f"{where}.to", problem))
        if message_id is not None and (
            not isinstance(message_id, str) or not 1 <= len(message_id) <= MAX_MESSAGE_ID_LENGTH
        ):
            violations.append(
                _violation(
                    f"{where}.messageId",
                    f"must be a string of 1 to {MAX_MESSAGE_ID_LENGTH} characters",
                )
            )
        if not problem:
            read.append((cast(str, to), message_id))  # _destination_problem: `to` is a string
    return read


def _destination_problem(to: Any) -> str | None:
    if not isinstance(to, str) or not re.fullmatch(f"[0-9]{{1,{MAX_TO_LENGTH}}}", to):
        return f"must be 1 to {MAX_TO_LENGTH} digits in international format, without '+'"
    return None if number_facts(to)[0] else "is not a valid phone number"


def _read_sms_content(content: Any, path: str, violations: list[dict[str, str]]) -> int:
    if not isinstance(content, dict):
        violations.append(_violation(path, "must be an object with 'text' or 'hex'"))
        return 0
    if "hex" in content and "text" not in content:
        try:
            octets = len(bytes.fromhex(content["hex"])) if isinstance(content["hex"], str) else 0
        except ValueError:
            octets = 0
        if not octets:
            violations.append(_violation(f"{path}.hex", "must be a non-empty hexadecimal string"))
            return 0
        if octets <= BINARY_SINGLE_PART_OCTETS:
            return 1
        return math.ceil(octets / BINARY_MULTI_PART_OCTETS)
    text = content.get("text")
    if not isinstance(text, str) or not text:
        violations.append(_violation(f"{path}.text", "must be a non-empty string"))
        return 0
    return count_parts(text).parts


def _read_mms_content(content: Any, path: str, violations: list[dict[str, str]]) -> int:
    if not isinstance(content, dict):
        violations.append(_violation(path, "must be an object with 'messageSegments'"))
        return 0
    title = content.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > MAX_MMS_TITLE_LENGTH):
        violations.append(
            _violation(
                f"{path}.title", f"must be a string of at most {MAX_MMS_TITLE_LENGTH} characters"
            )
        )
    segments = content.get("messageSegments")
    if not isinstance(segments, list) or not segments:
        violations.append(_violation(f"{path}.messageSegments", "must be a non-empty array"))
        return 1
    for k, segment in enumerate(segments):
        where = f"{path}.messageSegments[{k}]"
        kind = segment.get("type") if isinstance(segment, dict) else None
        if kind not in MMS_SEGMENT_TYPES:
            violations.append(
                _violation(f"{where}.type", f"must be one of {', '.join(MMS_SEGMENT_TYPES)}")
            )
        # Only the fields we are sure of are checked; SMIL and uploaded references pass as they are.
        elif kind == "TEXT" and not _non_empty_string(segment.get("text")):
            violations.append(_violation(f"{where}.text", "must be a non-empty string"))
        elif kind == "LINK" and not _non_empty_string(segment.get("contentUrl")):
            violations.append(_violation(f"{where}.contentUrl", "must be a non-empty string"))
    return 1


def _read_webhooks(
    webhooks: Any, path: str, violations: list[dict[str, str]]
) -> tuple[str | None, bool, str | None]:
    if webhooks is None:
        return None, True, None
    if not isinstance(webhooks, dict):
        violations.append(_violation(path, "must be an object"))
        return None, True, None
    delivery = webhooks.get("delivery") or {}
    if not isinstance(delivery, dict):
        violations.append(_violation(f"{path}.delivery", "must be an object"))
        delivery = {}
    url, notify = delivery.get("url"), delivery.get("notify", True)
    if url is not None and not (_non_empty_string(url) and url.startswith(("http://", "https://"))):
        violations.append(_violation(f"{path}.delivery.url", "must be an http(s) URL"))
        url = None
    if not isinstance(notify, bool):
        violations.append(_violation(f"{path}.delivery.notify", "must be a boolean"))
        notify = True
    callback_data = webhooks.get("callbackData")
    if callback_data is not None and (
        not isinstance(callback_data, str) or len(callback_data) > MAX_CALLBACK_DATA_LENGTH
    ):
        violations.append(
            _violation(
                f"{path}.callbackData",
                f"must be a string of at most {MAX_CALLBACK_DATA_LENGTH} characters",
            )
        )
        callback_data = None
    return url, notify, callback_data


def _optional_string(
    obj: dict[str, Any], key: str, path: str, violations: list[dict[str, str]]
) -> str | None:
    value = obj.get(key)
    if value is not None and not _non_empty_string(value):
        violations.append(_violation(f"{path}.{key}", "must be a non-empty string"))
        return None
    return value


def _non_empty_string(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _violation(prop: str, text: str) -> dict[str, str]:
    return {"property": prop, "violation": text}


# ---------------------------------------------------------------- building answers


def format_time(moment: datetime) -> str:
    """Infobip's timestamp format, e.g. 2026-11-09T16:00:03.000+0000 (always UTC)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def status_json(status: Status) -> dict[str, Any]:
    return {
        "groupId": status.group_id,
        "groupName": status.group_name,
        "id": status.id,
        "name": status.name,
        "description": status.description,
    }


def error_json(error: Error) -> dict[str, Any]:
    return {
        "groupId": error.group_id,
        "groupName": error.group_name,
        "id": error.id,
        "name": error.name,
        "description": error.description,
        "permanent": error.permanent,
    }


def send_answer(bulk_id: str, results: list[tuple[str, Submission, Status]]) -> dict[str, Any]:
    """The 200 answer to a send request: one entry per (messageId, submission, status)."""
    return {
        "bulkId": bulk_id,
        "messages": [
            {
                "messageId": message_id,
                "destination": submission.to,
                "status": status_json(status),
                "details": {"messageCount": submission.parts},
            }
            for message_id, submission, status in results
        ],
    }


def delivery_report(
    submission: Submission,
    *,
    bulk_id: str,
    message_id: str,
    sent_at: datetime,
    done_at: datetime,
    status: Status,
    error: Error,
    price_per_part: float,
) -> dict[str, Any]:
    report = {
        "bulkId": bulk_id,
        "messageId": message_id,
        "to": submission.to,
        "sender": submission.sender,
        "sentAt": format_time(sent_at),
        "doneAt": format_time(done_at),
        "messageCount": submission.parts,
        "mccMnc": MCC_MNC_BY_COUNTRY.get(country_of(submission.to) or ""),
        "callbackData": submission.callback_data,
        "price": _price(submission, price_per_part),
        "status": status_json(status),
        "error": error_json(error),
        "campaignReferenceId": submission.campaign_reference_id,
    }
    return _without_nulls(report)


def log_entry(
    submission: Submission,
    *,
    bulk_id: str,
    message_id: str,
    sent_at: datetime,
    done_at: datetime | None,
    status: Status,
    error: Error,
    price_per_part: float,
) -> dict[str, Any]:
    entry = {
        "sender": submission.sender,
        "destination": submission.to,
        "bulkId": bulk_id,
        "messageId": message_id,
        "sentAt": format_time(sent_at),
        "doneAt": format_time(done_at) if done_at else None,
        "messageCount": submission.parts,
        "price": _price(submission, price_per_part),
        "status": status_json(status),
        "error": error_json(error),
        # SmsLog.content only knows SMS content; an MMS log leaves it out.
        "content": submission.content if submission.channel is Channel.SMS else None,
        "campaignReferenceId": submission.campaign_reference_id,
        "mccMnc": MCC_MNC_BY_COUNTRY.get(country_of(submission.to) or ""),
    }
    return _without_nulls(entry)


def inbound_message(
    *, message_id: str, from_number: str, to_number: str, text: str, received_at: datetime
) -> dict[str, Any]:
    """One MO message as Infobip pushes it to an inbound webhook (an element of `results`).

    `keyword` is the first word of the text upper-cased, `cleanText` the rest. The price is
    0 EUR, as in Infobip's documented example.
    """
    words = text.split(None, 1)
    return {
        "messageId": message_id,
        "from": from_number,
        "to": to_number,
        "text": text,
        "cleanText": words[1].strip() if len(words) > 1 else "",
        "keyword": words[0].upper() if words else "",
        "receivedAt": format_time(received_at),
        "smsCount": count_parts(text).parts if text else 1,
        "price": {"pricePerMessage": 0, "currency": CURRENCY},
    }


def numeric_address(address: str | None) -> str | None:
    """The digits of a numeric sender or number ("+385 91 ..." too); None if it is alphanumeric."""
    if address is None or not re.fullmatch(r"\+?[0-9][0-9\s()-]*", address.strip()):
        return None
    return re.sub(r"[^0-9]", "", address)


def _price(submission: Submission, price_per_part: float) -> dict[str, Any]:
    # Infobip's pricePerMessage is the price of one SMS part; the bill is that
    # times messageCount.
    return {"pricePerMessage": round(price_per_part, 6), "currency": CURRENCY}


def _without_nulls(payload: dict[str, Any]) -> dict[str, Any]:
    # Infobip leaves out what it does not know rather than sending null.
    return {key: value for key, value in payload.items() if value is not None}


_ERROR_TEXTS = {
    400: (
        "E400",
        "Request cannot be processed.",
        "Check the syntax, violations and adjust the request.",
    ),
    401: (
        "E401",
        "Invalid login details.",
        "Check the API key and send it in the header 'Authorization: App <api key>'.",
    ),
    404: ("E404", "Resource not found.", "Check the request path and method."),
    429: ("E429", "Too many requests.", "Slow down: retry later, backing off exponentially."),
    500: ("E500", "Something went wrong.", "Retry later; contact support if the problem persists."),
}


def error_body(http_status: int, violations: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """A new-generation API error body (the shape of the SDK's ApiError)."""
    code, description, action = _ERROR_TEXTS[http_status]
    return {
        "errorCode": code,
        "description": description,
        "action": action,
        "violations": list(violations or []),
        "resources": [],
    }
