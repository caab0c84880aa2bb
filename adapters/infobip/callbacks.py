"""Parsing what Infobip pushes to our webhooks: delivery reports and inbound SMS.

A body that is not JSON or has no `results` list is refused whole (the webhook
answers 400). Inside a good body, each result stands alone: the good ones are
applied, the bad ones are kept with the reason, for inspection. Nothing is dropped
silently.

Both report shapes are accepted: v3 (`sender`, `messageCount`, `platform`) and v2
(`from`, `smsCount`, `entityId`/`applicationId`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from smsledger.adapters.infobip.outcomes import outcome_from_infobip
from smsledger.adapters.infobip.timestamps import parse_infobip_time
from smsledger.application.commands import InboundSms, ProviderReport, QuarantinedInput
from smsledger.domain.errors import DomainError, InvalidInput

T = TypeVar("T")


class InvalidCallback(InvalidInput):
    """The whole body is unusable; the reason is meant for the 400 answer."""

    code = "invalid_callback"


@dataclass(frozen=True)
class ParsedReports:
    reports: list[ProviderReport] = field(default_factory=list)
    malformed: list[QuarantinedInput] = field(default_factory=list)


@dataclass(frozen=True)
class ParsedInbound:
    messages: list[InboundSms] = field(default_factory=list)
    malformed: list[QuarantinedInput] = field(default_factory=list)


def parse_delivery_reports(body: bytes | str) -> ParsedReports:
    reports, malformed = _each(body, _report, source="infobip.delivery-report")
    return ParsedReports(reports, malformed)


def parse_inbound(body: bytes | str) -> ParsedInbound:
    messages, malformed = _each(body, _inbound, source="infobip.inbound")
    return ParsedInbound(messages, malformed)


def _each(body: bytes | str, parse: Callable[[Any], T], *, source: str
          ) -> tuple[list[T], list[QuarantinedInput]]:
    """Parse every result on its own: the good ones, and the bad ones with the reason."""
    good: list[T] = []
    bad: list[QuarantinedInput] = []
    for index, result in enumerate(_results(body)):
        try:
            good.append(parse(result))
        except (DomainError, ValueError, TypeError) as exc:
            bad.append(QuarantinedInput(source=source, reason=f"results[{index}]: {exc}",
                                        raw=result))
    return good, bad


def _results(body: bytes | str) -> list[Any]:
    try:
        document = orjson.loads(body)  # several times the json module's speed
    except orjson.JSONDecodeError:
        # orjson is stricter (no NaN, no integers beyond 64 bits, no BOM): what the
        # json module still reads is read as before, and its message names the fault.
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidCallback(f"body is not JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise InvalidCallback("body must be a JSON object with a 'results' list")
    results: list[Any] = document["results"]
    return results


def _report(result: Any) -> ProviderReport:
    if not isinstance(result, dict):
        raise ValueError("a result must be an object")
    message_id = result.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("'messageId' is missing")
    return ProviderReport(message_id=message_id, outcome=outcome_from_infobip(result), raw=result)


def _inbound(result: Any) -> InboundSms:
    if not isinstance(result, dict):
        raise ValueError("a result must be an object")
    missing = [key for key in ("messageId", "from", "to") if not result.get(key)]
    if missing:
        raise ValueError(f"missing {', '.join(repr(k) for k in missing)}")
    text = result.get("text")
    if text is not None and not isinstance(text, str):
        raise ValueError("'text' must be a string")
    price = result["price"] if isinstance(result.get("price"), dict) else {}
    return InboundSms(
        message_id=str(result["messageId"]),
        sender=str(result["from"]),
        to=str(result["to"]),
        text=text or "",
        keyword=result.get("keyword") or None,
        received_at=parse_infobip_time(result.get("receivedAt")),
        parts=int(result.get("smsCount") or 1),
        price=price.get("pricePerMessage"),
        currency=price.get("currency"),
    )
