"""The campaign report's figures: the audit and, from the same replay, what a person
looking at a campaign asks next: when deliveries and failures came, why messages
failed (Infobip's own error names), how each country did, how many replied and
how many of them opted out.

The report folds the audit's own replay (CampaignReportFold is a CampaignAuditFold
that keeps a little more of each event), so its funnel is the audit's, exactly,
and every breakdown below adds up to the audit's counts: each message is counted
in the bucket its final funnel place says, once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from smsledger.application.audit import Auditing, CampaignAudit, CampaignAuditFold
from smsledger.application.ports import Clock
from smsledger.application.projects import ProjectDirectory
from smsledger.domain.inbound import InboundMessage
from smsledger.domain.message import Message
from smsledger.domain.replies import DEFAULT_KEYWORDS, KeywordAction

# Bucket widths the time series may use, smallest first: the first that fits the
# campaign's span in at most MAX_BUCKETS buckets is taken.
BUCKET_WIDTHS = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400, 30 * 86400)
MAX_BUCKETS = 48
EXAMPLES_PER_REASON = 5  # message ids kept per error reason, for their timelines
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FAILING = ("enqueue_failed", "rejected", "failed")
_FINAL_KINDS = {Message.Delivered: "delivered", Message.Rejected: "rejected",
                Message.Failed: "failed"}


@dataclass(frozen=True)
class ErrorReason:
    """Messages that ended in one way of failing, as Infobip named it."""

    outcome: str  # the funnel's word: rejected, failed or enqueue_failed
    name: str  # Infobip's error name (its status name when it gave no error)
    description: str | None
    code: int | None  # see code_kind
    code_kind: str  # "error" (Infobip's error id), "status" (its status id), "http" (a refusal)
    permanent: bool | None  # Infobip's word on the error; None where it said nothing
    count: int
    examples: tuple[str, ...]  # the first few message ids, for their timelines

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "name": self.name, "description": self.description,
                "code": self.code, "code_kind": self.code_kind, "permanent": self.permanent, "count": self.count,
                "examples": list(self.examples)}


@dataclass(frozen=True)
class CountryRow:
    country: str | None  # ISO 3166-1 alpha-2; None for non-geographic numbers
    expects_reports: bool  # False: the country's operators never send delivery reports
    counts: dict[str, int]  # the audit's funnel keys, for this country's messages

    @property
    def delivered_rate(self) -> float | None:
        """Delivered of enqueued, in percent; None where it says nothing (no report
        will ever come, or nothing was enqueued)."""
        enqueued = self.counts["enqueued"]
        if not self.expects_reports or not enqueued:
            return None
        return round(100 * self.counts["delivered"] / enqueued, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"country": self.country, "expects_reports": self.expects_reports,
                **self.counts, "delivered_rate": self.delivered_rate}


@dataclass(frozen=True)
class TimeBucket:
    start: datetime
    delivered: int
    failed: int  # rejected and failed reports (a refused send has no report time)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "delivered": self.delivered,
                "failed": self.failed}


@dataclass(frozen=True)
class CampaignReport:
    audit: CampaignAudit
    generated_at: datetime
    bucket_seconds: int
    series: list[TimeBucket]  # consecutive buckets from the first final report to the last
    errors: list[ErrorReason]  # most messages first
    countries: list[CountryRow]  # most messages first
    replies: int  # replies attributed to the campaign
    opt_outs: int  # of them, those whose keyword revokes consent (STOP, ...)
    number_matches: list[str] = field(default_factory=list)  # messages to the searched number

    def to_dict(self) -> dict[str, Any]:
        return {"audit": self.audit.to_dict(), "generated_at": self.generated_at.isoformat(),
                "bucket_seconds": self.bucket_seconds,
                "series": [bucket.to_dict() for bucket in self.series],
                "errors": [reason.to_dict() for reason in self.errors],
                "countries": [row.to_dict() for row in self.countries],
                "replies": self.replies, "opt_outs": self.opt_outs,
                "number_matches": list(self.number_matches)}


class CampaignReporting:
    def __init__(self, auditing: Auditing, projects: ProjectDirectory, clock: Clock) -> None:
        self.auditing = auditing
        self.projects = projects
        self.clock = clock

    def report(self, project_id: str, campaign_id: str, as_of: datetime | None = None, *,
               recipient: str | None = None) -> CampaignReport:
        """The audit of the campaign (as `Auditing.audit`, drift check included) and
        the breakdowns of the same replay; with `recipient` (E.164), also the ids of the
        campaign's messages to that number (the report page's search).
        CampaignNotFound/ProjectNotFound as the audit."""
        generated_at = self.clock.now()
        settings = self.projects.find(project_id)
        rules = settings.keywords.values() if settings else DEFAULT_KEYWORDS
        fold = CampaignReportFold(project_id, campaign_id, as_of, recipient=recipient,
                                  revoking=frozenset(rule.keyword for rule in rules
                                                     if rule.action is KeywordAction.REVOKE))
        audit = self.auditing.audit(project_id, campaign_id, as_of, fold=fold)
        return fold.report(audit, generated_at)


# name, description, code, code kind, permanent: what makes two failures one reason
_Reason = tuple[str, str | None, int | None, str, bool | None]


class _Facts:
    """What the report keeps of one message beyond its funnel state."""

    __slots__ = ("message_id", "country", "expects_report", "final_at", "reason")

    def __init__(self, message_id: str, country: str | None, expects_report: bool) -> None:
        self.message_id = message_id
        self.country = country
        self.expects_report = expects_report
        self.final_at: datetime | None = None
        self.reason: _Reason | None = None


class CampaignReportFold(CampaignAuditFold):
    def __init__(self, project_id: str, campaign_id: str, as_of: datetime | None = None, *,
                 revoking: frozenset[str] = frozenset(), recipient: str | None = None) -> None:
        super().__init__(project_id, campaign_id, as_of)
        self._recipient = recipient
        self._matches: list[str] = []
        self._revoking = revoking
        self._facts: dict[Any, _Facts] = {}
        self._replies = 0
        self._opt_outs = 0

    def apply(self, kind: type, originator_id: Any, fields: Mapping[str, Any]) -> None:
        super().apply(kind, originator_id, fields)
        if self.as_of is not None and fields["timestamp"] > self.as_of:
            return
        if kind is InboundMessage.Received:
            if (fields["project_id"] == self.project_id
                    and fields["campaign_id"] == self.campaign_id):
                self._replies += 1
                self._opt_outs += fields["keyword"] in self._revoking
            return
        if kind is Message.Requested:
            if self.follows(originator_id):
                self._facts[originator_id] = _Facts(
                    fields["message_id"], fields["country"], fields["expects_report"])
                if fields["recipient"] == self._recipient:
                    self._matches.append(fields["message_id"])
            return
        facts = self._facts.get(originator_id)
        if facts is None:
            return
        if kind in _FINAL_KINDS:
            facts.final_at = fields["timestamp"]
            facts.reason = _report_reason(fields["outcome"])
        elif kind is Message.EnqueueFailed:
            # A refused send: our request's HTTP status, or 0 when every attempt was
            # used up without an answer (the error then says why).
            facts.reason = (fields["error"] or f"HTTP {fields['status_code']}",
                            fields["comment"], fields["status_code"], "http", None)

    def report(self, audit: CampaignAudit, generated_at: datetime) -> CampaignReport:
        """The breakdowns, each message counted where its funnel place says."""
        countries: dict[tuple[str | None, bool], Counter[str]] = {}
        reasons: dict[tuple[Any, ...], list[str]] = {}
        finals: list[tuple[datetime, bool]] = []
        for aggregate_id, facts in self._facts.items():
            key = self._messages[aggregate_id].funnel_key()
            counts = countries.setdefault((facts.country, facts.expects_report), Counter())
            counts["requested"] += 1
            counts[key] += 1
            if key not in ("unresolved", "enqueue_failed"):
                counts["enqueued"] += 1
            if key in _FAILING and facts.reason is not None:
                reasons.setdefault((key, *facts.reason), []).append(facts.message_id)
            if key in _FINAL_KINDS.values() and facts.final_at is not None:
                finals.append((facts.final_at, key == "delivered"))
        width, series = _time_series(finals)
        errors = [ErrorReason(outcome=key[0], name=key[1], description=key[2], code=key[3],
                              code_kind=key[4], permanent=key[5], count=len(ids),
                              examples=tuple(ids[:EXAMPLES_PER_REASON]))
                  for key, ids in reasons.items()]
        errors.sort(key=lambda reason: (-reason.count, reason.outcome, reason.name))
        rows = [CountryRow(country=country, expects_reports=expects,
                           counts={name: counts[name] for name in _COUNTRY_KEYS})
                for (country, expects), counts in countries.items()]
        rows.sort(key=lambda row: (-row.counts["requested"], row.country or ""))
        return CampaignReport(audit=audit, generated_at=generated_at, bucket_seconds=width,
                              series=series, errors=errors, countries=rows,
                              replies=self._replies, opt_outs=self._opt_outs,
                              number_matches=list(self._matches))


_COUNTRY_KEYS = ("requested", "enqueued", "enqueue_failed", "unresolved", "delivered",
                 "rejected", "failed", "pending", "no_report_expected", "no_report_received")


def _report_reason(outcome: Mapping[str, Any]) -> _Reason:
    """Infobip's error where it gave one (an id other than 0, NO_ERROR); else its
    status, which then says what happened (REJECTED_NETWORK, ...)."""
    if outcome.get("error_id") not in (None, 0):
        return (outcome.get("error_name") or f"error {outcome['error_id']}",
                outcome.get("error_description"), outcome["error_id"], "error",
                outcome.get("error_permanent"))
    return (outcome.get("status_name") or outcome["group"], outcome.get("status_description"),
            outcome.get("status_id"), "status", None)


def _time_series(finals: list[tuple[datetime, bool]]) -> tuple[int, list[TimeBucket]]:
    """Final reports per bucket (delivered, and rejected or failed), every bucket from
    the first report's to the last's, empty ones included: the axis is time."""
    if not finals:
        return BUCKET_WIDTHS[0], []
    first, last = min(at for at, _ in finals), max(at for at, _ in finals)
    span = (last - first).total_seconds()
    width = next((w for w in BUCKET_WIDTHS if span / w < MAX_BUCKETS), BUCKET_WIDTHS[-1])

    def index(at: datetime) -> int:
        return int((at - _EPOCH).total_seconds() // width)

    start = index(first)
    delivered = [0] * (index(last) - start + 1)
    failed = [0] * len(delivered)
    for at, was_delivered in finals:
        (delivered if was_delivered else failed)[index(at) - start] += 1
    return width, [TimeBucket(start=_EPOCH + timedelta(seconds=(start + i) * width),
                              delivered=delivered[i], failed=failed[i])
                   for i in range(len(delivered))]
