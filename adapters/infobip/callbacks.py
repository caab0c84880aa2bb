"""Parsing what Infobip pushes to our webhooks: delivery reports and inbound SMS.

A body that is not JSON or has no `results` list is refused whole (the webhook
answers 400). Inside a good body, each result stands alone: the good ones are
applied, the bad ones are kept with the reason, for inspection. Nothing is dropped
silently, and nothing reaches the store unchecked: a result holding what the store
or an answer cannot carry (a NUL, a lone surrogate, an integer beyond 64 bits, absurd
sizes; see untrusted_json) is quarantined as escaped text, whatever parsing it did.

Both report shapes are accepted: v3 (`sender`, `messageCount`, `platform`) and v2
(`from`, `smsCount`, `entityId`/`applicationId`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from smsledger.adapters.infobip.outcomes import outcome_from_infobip
from smsledger.adapters.infobip.timestamps import parse_infobip_time
from smsledger.adapters.infobip.untrusted_json import (
    UnreadableJson,
    problem_in,
    problem_in_fields,
    read_untrusted,
    storable_text,
)
from smsledger.application.commands import InboundSms, ProviderReport, QuarantinedInput
from smsledger.domain.errors import DomainError, InvalidInput

T = TypeVar("T")

MAX_ID = 256  # characters of a message id or a phone number (Infobip's are under 50)
MAX_REASON = 1_000  # characters of a quarantine reason (a parser's message may quote a value)


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
    results, clean_text = _results(body)
    for index, result in enumerate(results):
        try:
            good.append(_parse_checked(result, parse, clean_text))
        except _Unfit as unfit:
            bad.append(QuarantinedInput(source=source, raw=unfit.raw,
                                        reason=f"results[{index}]: {unfit}"[:MAX_REASON]))
    return good, bad


class _Unfit(Exception):
    """Why a result cannot be used, and what of it to keep in quarantine: the result
    itself when the store can hold it, else its escaped text."""

    def __init__(self, reason: str, raw: Any) -> None:
        super().__init__(reason)
        self.raw = raw


def _parse_checked(result: Any, parse: Callable[[Any], T], clean_text: bool) -> T:
    if (problem := problem_in(result, clean_text=clean_text)) is not None:
        raise _Unfit(problem, storable_text(result))
    try:
        parsed = parse(result)
    except (DomainError, ValueError, TypeError, ArithmeticError) as exc:
        raise _Unfit(str(exc) or type(exc).__name__, result) from None
    if (problem := problem_in_fields(parsed)) is not None:
        raise _Unfit(problem, result)
    return parsed


def _results(body: bytes | str) -> tuple[list[Any], bool]:
    """The body's results, and whether their text is known clean (Untrusted)."""
    try:
        read = read_untrusted(body)
    except UnreadableJson as exc:
        raise InvalidCallback(str(exc)) from None
    document = read.value
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise InvalidCallback("body must be a JSON object with a 'results' list")
    results: list[Any] = document["results"]
    return results, read.clean_text


def _report(result: Any) -> ProviderReport:
    if not isinstance(result, dict):
        raise ValueError("a result must be an object")
    message_id = result.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("'messageId' is missing")
    _short(result, "messageId")
    return ProviderReport(message_id=message_id, outcome=outcome_from_infobip(result), raw=result)


def _inbound(result: Any) -> InboundSms:
    if not isinstance(result, dict):
        raise ValueError("a result must be an object")
    missing = [key for key in ("messageId", "from", "to") if not result.get(key)]
    if missing:
        raise ValueError(f"missing {', '.join(repr(k) for k in missing)}")
    for key in ("messageId", "from", "to"):
        _short(result, key)
    text = _optional(result, "text", str)
    keyword = _optional(result, "keyword", str)
    _short(result, "keyword")
    price = result["price"] if isinstance(result.get("price"), dict) else {}
    return InboundSms(
        message_id=str(result["messageId"]),
        sender=str(result["from"]),
        to=str(result["to"]),
        text=text or "",
        keyword=keyword or None,
        received_at=parse_infobip_time(result.get("receivedAt")),
        parts=_part_count(result.get("smsCount")),
        # Unused here, and no reason to lose a reply (a STOP): kept when well formed.
        price=_number(price.get("pricePerMessage")),
        currency=price.get("currency") if isinstance(price.get("currency"), str) else None,
    )


def _short(result: dict[str, Any], key: str) -> None:
    """An id or a number: a string or a number of at most MAX_ID characters."""
    value = result.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"'{key}' must be a string")
    if len(str(value)) > MAX_ID:
        raise ValueError(f"'{key}' is longer than {MAX_ID} characters")


def _optional(result: dict[str, Any], key: str, kind: type) -> Any:
    """The value at `key`, None when absent; ValueError when it is not a `kind`."""
    value = result.get(key)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"'{key}' must be a {'string' if kind is str else kind.__name__}")
    return value


def _part_count(value: Any) -> int:
    """smsCount as a report's messageCount is read (outcomes): a whole number, in a
    string or not, 1 when absent or 0; a negative or fractional count is refused, as it
    would go out as number_of_message_parts in the platform's reply event."""
    if value is None or value == "":
        return 1
    try:
        parts = int(value) if not isinstance(value, (bool, float)) else -1
    except (TypeError, ValueError):
        parts = -1
    if parts < 0:
        raise ValueError(f"'smsCount' must be a positive whole number, got {value!r}"[:200])
    return parts or 1


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
