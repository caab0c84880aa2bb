"""The campaign report page: one self-contained HTML document from a CampaignReport.

Everything is inline (style sheet, SVG charts) and the page names no other address,
so the file written by `smsledger report` opens offline, and the page served at
/v1/projects/{project}/campaigns/{campaign}/report loads nothing more (its Content
Security Policy forbids it). Every figure comes from the report as the application
computed it (smsledger.application.campaign_report): the page only lays it out.
Each figure's cell carries `data-key`, its path in CampaignReport.to_dict() (for
example `audit.delivered`, `countries.HR.delivered_rate`), so a test can read what
a browser shows and hold it to the report's JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import Any

import phonenumbers
from phonenumbers import geocoder

from smsledger import __version__
from smsledger.adapters.cli.audit_report import FUNNEL_ROWS
from smsledger.adapters.report.style import CSS
from smsledger.adapters.report.timeline import timeline_rows
from smsledger.application.campaign_report import CampaignReport
from smsledger.application.views import MessageView

# Nothing may be fetched; inline styles only; forms post back to the page itself.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                           "form-action 'self'; base-uri 'none'")
_TONE = {"delivered": "good", "rejected": "bad", "failed": "bad", "enqueue_failed": "bad",
         "unresolved": "wait", "pending": "wait", "no_report_expected": "none",
         "no_report_received": "none", "late": "wait"}
_NUMERIC = ' class="num"'
_BAR = ' class="bar"'  # the funnel's bar column: hidden on a phone, where it is too narrow
_CODE_KIND = {"error": "error", "status": "status", "http": "HTTP"}
_COLOUR = {"good": "#1f7a3a", "bad": "#b3261e", "wait": "#a15c00", "none": "#6b7580",
           "": "#1f5fa8"}


@dataclass(frozen=True)
class Search:
    """The served page's message search (a plain GET form back to the page)."""

    message: str = ""
    number: str = ""
    notice: str | None = None  # what the search found not, in words


def render_report(report: CampaignReport, timelines: Sequence[MessageView] = (), *,
                  message_href: Callable[[str], str] = lambda message_id: f"#message-{message_id}",
                  search: Search | None = None) -> str:
    """The page. `timelines` are shown in the timeline section, each under the anchor
    `message-<id>`; `message_href` is where an error row's message links to (an
    anchor in the written file, `?message=ID` on the served page); `search`, on the
    served page only, shows the search form and what it found."""
    audit = report.audit
    title = f"Campaign {audit.campaign_id}: report"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
        _header(report),
        _summary(report),
        _funnel(report),
        _over_time(report),
        _errors(report, message_href),
        _countries(report),
        _parts_and_cost(report),
        _replies(report),
        _timelines(timelines, search),
        f'<footer><p>Made by smsledger {_e(__version__)} from the campaign\'s stored events '
        f"(the audit's replay). Times are UTC.</p></footer>",
        "</main></body></html>",
    ]
    return "\n".join(parts)


def _header(report: CampaignReport) -> str:
    audit = report.audit
    as_of = audit.as_of or report.generated_at
    if audit.as_of is not None:
        verdict = ("none", "Drift check: not run (a report as of a past moment replays history "
                           "only; the live statistics are of now)")
    elif audit.drift:
        verdict = ("bad", "Drift check: DRIFT. The replay and the live statistics projection "
                          "disagree: " + "; ".join(audit.drift))
    else:
        verdict = ("good", "Drift check: OK. The replay of the stored events and the live "
                           "statistics projection agree on every count")
    return (f'<header class="page"><p class="meta">smsledger campaign report</p>'
            f"<h1>Campaign <code>{_e(audit.campaign_id)}</code></h1>"
            f'<p class="meta">Project <code data-key="audit.project_id">{_e(audit.project_id)}'
            f'</code>. Generated <time datetime="{_e(report.generated_at.isoformat())}">'
            f"{_when(report.generated_at)}</time>; figures as of "
            f'<time datetime="{_e(as_of.isoformat())}">{_when(as_of)}</time>'
            f"{'' if audit.as_of else ' (everything stored when it was generated)'}.</p>"
            f'<p class="verdict {verdict[0]}" id="drift" data-verdict="{verdict[0]}">'
            f"{_e(verdict[1])}</p></header>")


def _summary(report: CampaignReport) -> str:
    counts = report.audit.counts
    cards = [("requested", "requested", ""), ("enqueued", "enqueued by Infobip", ""),
             ("delivered", "delivered", "good"), ("rejected", "rejected", "bad"),
             ("failed", "failed", "bad"), ("no_report_received", "no report received", "none"),
             ("no_report_expected", "no report expected", "none"), ("late", "late reports", "wait")]
    items = [f'<li class="{tone}"><span class="value" data-key="audit.{key}">{counts[key]}</span>'
             f'<span class="label">{_e(label)}</span></li>' for key, label, tone in cards]
    items.append(f'<li><span class="value" data-key="audit.parts">{report.audit.parts}</span>'
                 '<span class="label">SMS parts</span></li>')
    return ('<section aria-labelledby="summary-title"><h2 id="summary-title">At a glance</h2>'
            f'<ul class="cards">{"".join(items)}</ul></section>')


def _funnel(report: CampaignReport) -> str:
    counts = report.audit.counts
    requested = counts["requested"]
    rows = []
    for label, key, note in FUNNEL_ROWS:
        level = (len(label) - len(label.lstrip())) // 2
        share = _percent(counts[key], requested)
        tone = _TONE.get(key, "")
        rows.append(
            f'<tr><th scope="row" class="level-{level}">{_e(key.replace("_", " "))}</th>'
            f'<td class="num" data-key="audit.{key}">{counts[key]}</td>'
            f'<td class="num" data-share="{key}">{share}</td>'
            f'<td class="bar">{_bar(counts[key], requested, tone)}</td>'
            f"<td>{_e(note)}</td></tr>")
    return _section(
        "funnel", "Funnel: from requested to delivered",
        "<p>Each message is counted once below <em>requested</em>, where it ended; "
        "<em>late</em> counts final reports that came after the waiting window closed "
        "(they are counted above too). Shares are of requested.</p>"
        + _table("The campaign's funnel, as the audit replays it",
                 ["Stage", "Messages", "Share", "Bar", "Meaning"], rows,
                 numeric={1, 2}))


def _over_time(report: CampaignReport) -> str:
    series = report.series
    if not series:
        return _section("over-time", "Deliveries and failures over time",
                        "<p>No final report yet.</p>")
    width = _duration(report.bucket_seconds)
    rows = [f'<tr><th scope="row"><time datetime="{_e(b.start.isoformat())}">'
            f"{_when(b.start)}</time></th>"
            f'<td class="num" data-key="series.{i}.delivered">{b.delivered}</td>'
            f'<td class="num" data-key="series.{i}.failed">{b.failed}</td></tr>'
            for i, b in enumerate(series) if b.delivered or b.failed]
    return _section(
        "over-time", "Deliveries and failures over time",
        f"<p>Final delivery reports per {width}, at Infobip's done-at time. A send that "
        "Infobip refused has no report and is not here.</p>"
        + _series_chart(report)
        + _table(f"Final reports per {width} (periods without any left out)",
                 ["Period starting", "Delivered", "Rejected or failed"], rows, numeric={1, 2}))


def _series_chart(report: CampaignReport) -> str:
    series = report.series
    top = max(max(b.delivered + b.failed for b in series), 1)
    width, height, left, bottom = 640, 180, 40, 24
    step = (width - left) / len(series)
    bar = max(step * 0.8, 1.0)
    shapes = []
    for i, b in enumerate(series):
        x = left + i * step + (step - bar) / 2
        good = (height - bottom) * b.delivered / top
        bad = (height - bottom) * b.failed / top
        base = height - bottom
        title = f"{_when(b.start)}: {b.delivered} delivered, {b.failed} rejected or failed"
        shapes.append(f'<g><title>{_e(title)}</title>'
                      f'<rect x="{x:.1f}" y="{base - good:.1f}" width="{bar:.1f}" '
                      f'height="{good:.1f}" fill="{_COLOUR["good"]}"/>'
                      f'<rect x="{x:.1f}" y="{base - good - bad:.1f}" width="{bar:.1f}" '
                      f'height="{bad:.1f}" fill="{_COLOUR["bad"]}"/></g>')
    axis = (f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
            'stroke="#5b6670"/>'
            f'<text x="{left - 4}" y="12" text-anchor="end" font-size="11">{top}</text>'
            f'<text x="{left - 4}" y="{height - bottom}" text-anchor="end" font-size="11">0</text>'
            f'<text x="{left}" y="{height - 6}" font-size="11">{_e(_when(series[0].start))}</text>'
            f'<text x="{width}" y="{height - 6}" text-anchor="end" font-size="11">'
            f"{_e(_when(series[-1].start))}</text>")
    return (f'<figure><svg viewBox="0 0 {width} {height}" role="img" '
            'aria-labelledby="series-title"><title id="series-title">Final reports over '
            f'time, stacked: delivered below, rejected or failed above</title>{axis}'
            f'{"".join(shapes)}</svg>'
            '<ul class="legend"><li><span class="swatch" style="background:#1f7a3a"></span>'
            'Delivered (lower part of a bar)</li><li><span class="swatch" '
            'style="background:#b3261e"></span>Rejected or failed (upper part)</li></ul>'
            f"<figcaption>Each bar is {_duration(report.bucket_seconds)}; the highest holds "
            f"{top} reports.</figcaption></figure>")


def _errors(report: CampaignReport, message_href: Callable[[str], str]) -> str:
    if not report.errors:
        return _section("errors", "Top error reasons", "<p>No message failed.</p>")
    rows = []
    for i, reason in enumerate(report.errors):
        permanent = {True: '<span class="tag bad">permanent</span>',
                     False: '<span class="tag wait">temporary</span>',
                     None: '<span class="tag none">not stated</span>'}[reason.permanent]
        links = ", ".join(f'<a href="{_e(message_href(m))}"><code>{_e(m)}</code></a>'
                          for m in reason.examples)
        rows.append(
            f'<tr><th scope="row"><code data-key="errors.{i}.name">{_e(reason.name)}</code></th>'
            f'<td data-key="errors.{i}.outcome">{_e(reason.outcome)}</td>'
            f'<td class="num" data-key="errors.{i}.count">{reason.count}</td>'
            f'<td data-key="errors.{i}.description">{_e(reason.description or "")}</td>'
            f'<td class="num">{_e(_CODE_KIND[reason.code_kind])} '
            f'<span data-key="errors.{i}.code">{_e(_text(reason.code))}</span></td>'
            f'<td data-permanent="{_e(_text(reason.permanent))}">{permanent}</td>'
            f"<td>{links}</td></tr>")
    return _section(
        "errors", "Top error reasons",
        "<p>Infobip's own error names (its status name where it gave no error), most "
        "messages first. Permanent errors will fail again on a resend; temporary ones may "
        "not. The message links open their timelines.</p>"
        + _table("Why messages were rejected, failed or refused",
                 ["Infobip error", "Outcome", "Messages", "Description", "Code", "Permanent?",
                  "Example messages"], rows, numeric={2, 4}))


def _countries(report: CampaignReport) -> str:
    rows = []
    for row in report.countries:
        code = row.country or "none"
        key = f"countries.{code}"
        if row.delivered_rate is not None:
            rate = f'<td class="num" data-key="{key}.delivered_rate">{row.delivered_rate}%</td>'
        else:  # nothing to say: a country that never reports, or nothing enqueued
            rate = (f'<td data-key="{key}.delivered_rate" data-empty="true">'
                    + ('<span class="tag none">never reports</span>'
                       if not row.expects_reports else "—") + "</td>")
        cells = "".join(f'<td class="num" data-key="{key}.{name}">{row.counts[name]}</td>'
                        for name in ("requested", "enqueued", "delivered"))
        failing = "".join(f'<td class="num" data-key="{key}.{name}">{row.counts[name]}</td>'
                          for name in ("rejected", "failed", "enqueue_failed",
                                       "no_report_expected", "no_report_received", "pending"))
        reports = ("yes" if row.expects_reports
                   else '<span class="tag none">no: its operators never send delivery '
                        "reports</span>")
        rows.append(f'<tr><th scope="row">{_e(_country_name(row.country))} '
                    f'<code data-key="{key}.country">{_e(code)}</code></th>{cells}{rate}'
                    f"{failing}<td data-key=\"{key}.expects_reports\" "
                    f"data-value=\"{str(row.expects_reports).lower()}\">{reports}</td></tr>")
    return _section(
        "countries", "Per country",
        "<p>Country from the recipient's number. <em>Enqueued</em> is what Infobip accepted "
        "(sent); the delivered rate is delivered of enqueued, and says nothing for countries "
        "whose operators never report: their messages close as <em>no report expected</em>, "
        "never as failed.</p>"
        + _table("Messages by destination country, most first",
                 ["Country", "Requested", "Enqueued (sent)", "Delivered", "Delivered rate",
                  "Rejected", "Failed", "Refused", "No report expected", "No report received",
                  "Pending", "Delivery reports?"], rows, numeric=set(range(1, 11))))


def _parts_and_cost(report: CampaignReport) -> str:
    audit = report.audit
    if audit.cost:
        cost = "".join(f'<li><span data-key="audit.cost.{_e(currency)}">{_e(amount)}</span> '
                       f"{_e(currency)}</li>" for currency, amount in audit.cost.items())
        cost_text = ("<p>Cost as Infobip reported it (its price per part times the parts, "
                     f"per currency):</p><ul>{cost}</ul>")
    else:
        cost_text = ("<p>Infobip reported no price for these messages, and smsledger knows "
                     "none: cost = parts × the price per part in your Infobip contract.</p>")
    return _section(
        "parts-cost", "Parts and cost",
        f'<p><span data-key="audit.parts">{audit.parts}</span> SMS parts for the messages '
        "Infobip enqueued (a long text takes several parts; each part is billed).</p>"
        + cost_text)


def _replies(report: CampaignReport) -> str:
    nps = report.audit.nps
    body = (f'<ul><li><span data-key="replies">{report.replies}</span> replies to the '
            f'campaign</li><li><span data-key="opt_outs">{report.opt_outs}</span> of them '
            "opted out (a keyword that revokes consent, such as STOP)</li></ul>")
    if nps is None:
        body += "<p>No NPS answers (the campaign is not an NPS survey, or nobody scored).</p>"
    else:
        cells = "".join(f'<td class="num" data-key="audit.nps.{name}">{_e(nps[name])}</td>'
                        for name in ("score", "responses", "promoters", "passives",
                                     "detractors"))
        body += _table("Net Promoter Score (promoters answer 9-10, detractors 0-6; each "
                       "respondent's latest score counts)",
                       ["NPS", "Responses", "Promoters", "Passives", "Detractors"],
                       [f"<tr>{cells}</tr>"], numeric={0, 1, 2, 3, 4})
    return _section("replies", "Replies, opt-outs and NPS", body)


def _timelines(timelines: Sequence[MessageView], search: Search | None) -> str:
    body = ""
    if search is not None:
        body += ('<form class="search" method="get" role="search">'
                 '<label>Message id<input name="message" '
                 f'value="{_e(search.message)}" autocomplete="off"></label>'
                 '<label>or phone number<input name="number" type="tel" '
                 f'value="{_e(search.number)}" autocomplete="off"></label>'
                 '<button type="submit">Show timeline</button></form>')
        if search.notice:
            body += f'<p class="notice" role="status">{_e(search.notice)}</p>'
    if not timelines and search is None:
        body += "<p>No message failed, so no timeline is shown.</p>"
    for view in timelines:
        body += _timeline(view)
    intro = ("<p>One message's history: requested, handed to Infobip, enqueued, each "
             "report (duplicates and conflicts noted), the waiting window closing, with "
             "times and Infobip's codes.</p>")
    return _section("timelines", "Message timelines", intro + body)


def _timeline(view: MessageView) -> str:
    rows = [f'<tr data-event="{_e(row.event)}"><th scope="row" class="when">'
            f'<time datetime="{_e(row.at)}">'
            f"{_e(_when(datetime.fromisoformat(row.at)))}</time></th>"
            f"<td>{_e(row.label)}{_flag(row.flag)}</td><td>{_e(row.what)}</td>"
            f"<td><code>{_e(row.codes)}</code></td></tr>"
            for row in timeline_rows(view)]
    return (f'<section class="timeline" id="message-{_e(view.message_id)}" '
            f'aria-labelledby="title-{_e(view.message_id)}">'
            f'<h3 id="title-{_e(view.message_id)}">Message <code>{_e(view.message_id)}</code>: '
            f'<span data-status="{_e(view.status)}">{_e(view.status)}</span></h3>'
            f'<p class="meta">To {_e(view.recipient)} ({_e(_country_name(view.country))}), '
            f"customer {_e(view.customer_id)}, {view.number_of_message_parts} part(s)"
            f"{', late' if view.late else ''}.</p>"
            + _table(f"History of message {view.message_id}",
                     ["Time", "What", "Meaning", "Infobip's codes"], rows)
            + "</section>")


# --- small helpers ---------------------------------------------------------------------

def _section(anchor: str, title: str, body: str) -> str:
    return (f'<section id="{anchor}" aria-labelledby="{anchor}-title">'
            f'<h2 id="{anchor}-title">{_e(title)}</h2>{body}</section>')


def _table(caption: str, headings: list[str], rows: list[str], *,
           numeric: Collection[int] = ()) -> str:
    head = "".join(f'<th scope="col"{_NUMERIC if i in numeric else _BAR if h == "Bar" else ""}>'
                   f"{_e(h)}</th>" for i, h in enumerate(headings))
    # A region that scrolls sideways on a phone; focusable so a keyboard can scroll it.
    return (f'<div class="scroll" role="region" tabindex="0" aria-label="{_e(caption)}">'
            f"<table><caption>{_e(caption)}</caption><thead><tr>{head}</tr></thead>"
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _bar(value: int, whole: int, tone: str) -> str:
    width = 100 * value / whole if whole else 0
    return (f'<svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">'
            f'<rect width="100" height="10" fill="#eef1f4"/>'
            f'<rect width="{width:.2f}" height="10" fill="{_COLOUR[tone]}"/></svg>')


def _percent(value: int, whole: int) -> str:
    return f"{100 * value / whole:.1f}%" if whole else "—"


def _when(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(seconds: int) -> str:
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}" + ("s" if count > 1 else "")
    return f"{seconds} seconds"


def _country_name(country: str | None) -> str:
    if country is None:
        return "non-geographic"
    example = phonenumbers.example_number(country)
    name = geocoder.country_name_for_number(example, "en") if example else ""
    return name or country


def _flag(flag: str) -> str:
    """A timeline row's flag, in words beside its colour."""
    if not flag:
        return ""
    tone = {"late": "wait", "duplicate": "none"}.get(flag, "bad")
    return f' <span class="tag {tone}">{_e(flag)}</span>'


def _text(value: Any) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _e(value: Any) -> str:
    return escape(str(value), quote=True)
