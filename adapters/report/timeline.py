"""One message's history as people read it: what happened, when, and Infobip's codes.

Built from the message view (SmsChannel.message: the history projection's entries,
one per stored event), for the report page's timeline section and for
`smsledger message`. Every stored event is one row, the reports that changed
nothing (duplicates, conflicts: ReportNoted) and the send answers that came too
late (SendAnswerIgnored) included, so the page hides nothing the store holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smsledger.application.views import MessageView

_NOTED = {  # ReportNoted's effect (smsledger.domain.status.ReportEffect), in words
    "pending": "an in-flight report (not final): recorded, changes no status",
    "duplicate": "the same report again: noted as a duplicate, changes nothing",
    "superseded": "an in-flight report after the final one: noted, changes nothing",
    "conflicting": "another final report after the final one: a conflict, kept for "
                   "audit, changes nothing",
}
_WINDOW = {
    "no_report_expected": "waiting window closed: no report expected (the country's "
                          "operators send none)",
    "no_report_received": "waiting window closed: no report received",
}


@dataclass(frozen=True)
class TimelineRow:
    at: str  # ISO 8601, as stored
    event: str  # the stored event's name: Requested, HandedOver, Delivered, ReportNoted, ...
    label: str  # in words: "requested", "handed to Infobip", "report: delivered", ...
    what: str  # what it means
    codes: str  # Infobip's (or HTTP's) codes, "" where there are none
    flag: str = ""  # "duplicate", "conflicting", "late", ...: what a reader should notice

    def to_dict(self) -> dict[str, str]:
        return {"at": self.at, "event": self.event, "label": self.label, "what": self.what,
                "codes": self.codes, "flag": self.flag}


def timeline_rows(view: MessageView) -> list[TimelineRow]:
    return [_row(entry.event, entry.timestamp.isoformat(), entry.details)
            for entry in view.history]


def _row(event: str, at: str, details: dict[str, Any]) -> TimelineRow:
    if event == "Requested":
        return TimelineRow(at, event, "requested",
                           f"stored before Infobip was called: to {details.get('recipient')}"
                           f" ({details.get('country') or 'no country'}), "
                           f"{details.get('parts')} part(s), {details.get('encoding')}", "")
    if event == "HandedOver":
        attempt = details.get("attempt", 1)
        return TimelineRow(at, event, "handed to Infobip",
                           "the send request went out" if attempt == 1
                           else f"the send request went out again (attempt {attempt})", "")
    if event == "Enqueued":
        what = ("implied by a final report that came before Infobip's send answer"
                if details.get("implied_by_report") else "Infobip accepted the send request")
        return TimelineRow(at, event, "enqueued", what, f"parts {details.get('parts') or '-'}")
    if event == "EnqueueFailed":
        return TimelineRow(at, event, "send refused",
                           details.get("comment") or "Infobip refused the send request",
                           _refusal_codes(details), "refused")
    if event in ("Delivered", "Rejected", "Failed"):
        outcome = details.get("outcome") or {}
        late = bool(details.get("late"))
        what = _outcome_words(outcome) + f"; received {details.get('received_at')}"
        return TimelineRow(at, event, f"report: {event.lower()}", what, _outcome_codes(outcome),
                           "late" if late else "")
    if event == "ReportNoted":
        outcome = details.get("outcome") or {}
        effect = str(details.get("effect"))
        return TimelineRow(at, event, f"report noted ({effect})",
                           f"{_NOTED.get(effect, effect)}: {_outcome_words(outcome)}",
                           _outcome_codes(outcome),
                           effect if effect in ("duplicate", "conflicting") else "")
    if event == "SendAnswerIgnored":
        return TimelineRow(at, event, "send answer ignored",
                           f"Infobip answered {details.get('answer')!s} after reports had "
                           "settled the message: kept, changes nothing",
                           _refusal_codes(details.get("detail") or {}), "conflicting")
    if event == "WindowClosed":
        outcome = str(details.get("outcome"))
        return TimelineRow(at, event, "window closed", _WINDOW.get(outcome, outcome), "")
    return TimelineRow(at, event, event, "", "")


def _outcome_words(outcome: dict[str, Any]) -> str:
    words = f"{outcome.get('status_name') or outcome.get('group')}"
    if outcome.get("status_description"):
        words += f" ({outcome['status_description']})"
    if outcome.get("error_id") not in (None, 0):
        words += f", error {outcome.get('error_name')}"
        if outcome.get("error_description"):
            words += f": {outcome['error_description']}"
        if outcome.get("error_permanent") is not None:
            words += " (permanent)" if outcome["error_permanent"] else " (temporary)"
    return words


def _outcome_codes(outcome: dict[str, Any]) -> str:
    codes = [f"group {outcome.get('group')}"]
    if outcome.get("status_id") is not None:
        codes.append(f"status {outcome['status_id']} {outcome.get('status_name') or ''}".strip())
    if outcome.get("error_id") is not None:
        codes.append(f"error {outcome['error_id']} {outcome.get('error_name') or ''}".strip())
    return ", ".join(codes)


def _refusal_codes(details: dict[str, Any]) -> str:
    codes = []
    if details.get("status_code"):
        codes.append(f"HTTP {details['status_code']}")
    if details.get("error"):
        codes.append(str(details["error"]))
    return ", ".join(codes)


def format_timeline(view: MessageView) -> str:
    """The timeline as text, for `smsledger message`."""
    lines = [f"Message {view.message_id} (project {view.project_id!r}, campaign "
             f"{view.campaign_id!r}): {view.status}"
             + (", late" if view.late else "")
             + (f", window closed: {view.window_closed}" if view.window_closed else ""),
             f"to {view.recipient} ({view.country or 'no country'}) from {view.sender or '-'}, "
             f"{view.number_of_message_parts} part(s), customer {view.customer_id}", ""]
    rows = timeline_rows(view)
    width = max((len(row.label) for row in rows), default=0)
    for row in rows:
        flag = f" [{row.flag}]" if row.flag else ""
        lines.append(f"{row.at}  {row.label:<{width}}  {row.what}{flag}")
        if row.codes:
            lines.append(f"{'':<{len(row.at)}}  {'':<{width}}  codes: {row.codes}")
    return "\n".join(lines)
