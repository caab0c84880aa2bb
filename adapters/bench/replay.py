"""bench replay: events per second of a campaign audit replayed from the store, and the
peak resident memory of the process while it runs.

The store is filled with genuine message histories: real `Message` aggregates (requested,
then enqueued and a report, or refused, or a closed window, or still pending), their
events mapped by the application's own mapper and inserted in bulk through its recorder
(`recorder.insert_events`), which is much faster than sending and reporting through the
application, and stores exactly the same rows. All messages belong to one campaign, the
worst case for the audit's memory (it keeps one small state per message of the campaign).

Measured: `LedgerApplication.audit(project, campaign, as_of=<after the last event>)`, which is the
replay (read the campaign's messages' events as plain rows, decode each state into a
dict without building the event, fold the few fields the funnel counts), with the campaign
index caught up beforehand (timed apart), as a running service keeps it. Without `as_of`, the
audit also catches the statistics projection up and compares it with the replay; in a
running service that projection is current, and here it would be a rebuild of 1,000,000
events, so it is left out and said so. Two references show where the time goes: the
audit's reading of the rows alone, and reading plus decoding them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from smsledger.adapters.bench.common import (
    BenchReport,
    Measurement,
    Target,
    measuring,
    progress,
    settings_for,
    store,
)
from smsledger.adapters.bench.profiling import Profiles, now
from smsledger.adapters.bench.workload import (
    INTEGRATION,
    PROJECT,
    SENDER,
    TEXT,
    delivery_report,
    recipient,
)
from smsledger.adapters.bootstrap import build_ledger
from smsledger.adapters.infobip.outcomes import outcome_from_infobip
from smsledger.application.aggregates import REPLAY_PAGE
from smsledger.application.ledger import LedgerApplication
from smsledger.application.projections import CAMPAIGN_INDEX
from smsledger.domain.content import SmsContent
from smsledger.domain.message import Message
from smsledger.domain.phone import PhoneNumber

TARGET_RATE = 100_000
TARGET_PEAK_MB = 300
CAMPAIGN = "replay-bench"
AS_OF = datetime(9999, 1, 1, tzinfo=UTC)  # after every event: the replay alone
INSERT_CHUNK = 2_000  # stored events per insert_events call while generating
DISTINCT_RECIPIENTS = 1_000  # parsed once and reused, to generate faster
START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@dataclass
class ReplayOptions:
    databases: list[str]
    postgres_url: str
    events: int = 1_000_000
    references: bool = True
    profiles: Profiles = field(default_factory=lambda: Profiles(None))


def run_replay(options: ReplayOptions) -> BenchReport:
    report = BenchReport("replay")
    started = now()
    for database in options.databases:
        _run_on(database, options, report)
        for reference in ("read", "read-decode"):
            report.compare(database, "ours", [reference])
        ours = report.find("ours", database)
        if ours is not None:
            report.require_rate("replay", "ours", database, TARGET_RATE)
            report.targets.append(Target(
                f"replay peak memory for {ours.count:,} events ({database})",
                f"< {TARGET_PEAK_MB} MB", f"{ours.peak_mb:,.0f} MB",
                ours.peak_mb is not None and ours.peak_mb < TARGET_PEAK_MB))
    report.notes += [
        f"one campaign of {options.events:,} message events (requested, enqueued, "
        "delivered/failed/rejected, enqueue_failed, window closed), all read by the audit; "
        "the audit's result is checked against what was generated.",
        "audit(as_of=after the last event): the replay itself. The audit without as_of "
        "also catches the statistics projection up first (here a rebuild of every event; "
        "in a running service only what arrived since the last poll) - not measured here.",
        "the references ('read', 'read + decode') are not baselines to beat: they split our "
        "time into reading rows, decoding them, and folding them.",
    ]
    report.seconds = now() - started
    return report


@dataclass
class Generated:
    events: int = 0
    messages: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


def _run_on(database: str, options: ReplayOptions, report: BenchReport) -> None:
    with store(database, options.postgres_url) as (url, where):
        progress(f"replay on {database} ({where}): generating {options.events:,} events")
        ledger = build_ledger(settings_for(url))
        try:
            with measuring() as generation:
                generated = generate(ledger, options.events)
            report.setup[f"{database}: generate and insert {generated.events:,} events "
                         f"({generated.messages:,} messages)"] = generation.seconds
            analyze(ledger)
            with measuring() as indexing:  # a running service keeps it current
                ledger.projections.catch_up([CAMPAIGN_INDEX])
            report.setup[f"{database}: campaign index caught up"] = indexing.seconds
            progress(f"replay on {database}: auditing")
            with measuring() as watch:
                audit = ledger.audit(PROJECT, CAMPAIGN, as_of=AS_OF)
            check(audit, generated)
            report.add(Measurement(
                "ours", "smsledger: LedgerApplication.audit replay (read, decode, fold)", database,
                generated.events, "events", watch.seconds, ours=True, peak_mb=watch.peak_mb, start_mb=watch.start_mb,
                cpu_seconds=watch.cpu_seconds, label="ours: audit replay"))
            if options.references:
                _references(database, ledger, generated.events, report)
            if options.profiles.enabled:
                with options.profiles.cprofile(f"replay-{database}"):
                    ledger.audit(PROJECT, CAMPAIGN, as_of=AS_OF)
        finally:
            ledger.close()


def analyze(ledger: LedgerApplication) -> None:
    """Fresh planner statistics after a bulk load, as autovacuum would give them soon."""
    datastore = getattr(ledger.recorder, "datastore", None)
    table = getattr(ledger.recorder, "events_table_name", None)
    schema = getattr(datastore, "schema", None)
    if datastore is None or schema is None or table is None:
        return
    with datastore.get_connection() as conn:
        conn.execute(f'ANALYZE "{schema}"."{table}"')


def _outcomes() -> dict[str, Any]:
    sent_at = START
    delivered = delivery_report("x", recipient(0), sent_at)
    failed = {**delivered, "status": {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9,
                                      "name": "UNDELIVERABLE_NOT_DELIVERED"},
              "error": {"groupId": 1, "groupName": "HANDSET_ERRORS", "id": 5,
                        "name": "EC_UNIDENTIFIED_SUBSCRIBER", "permanent": True}}
    rejected = {**delivered, "status": {"groupId": 5, "groupName": "REJECTED", "id": 6,
                                        "name": "REJECTED_NETWORK"}, "error": None}
    return {"delivered": outcome_from_infobip(delivered),
            "failed": outcome_from_infobip(failed),
            "rejected": outcome_from_infobip(rejected)}


def generate(ledger: LedgerApplication, events: int, *, campaign: str = CAMPAIGN,
             prefix: str = "replay", messages: int | None = None) -> Generated:
    """Message histories of `campaign`, until `events` events (or `messages` messages)
    were stored, 50 messages to a cycle: 1 refused, 1 still pending, 1 window closed
    without a report, 3 failed, 1 rejected, 43 delivered. Message ids start with
    `prefix`, so that several campaigns can be generated into one store."""
    phones = [PhoneNumber.parse(recipient(i)) for i in range(DISTINCT_RECIPIENTS)]
    content = SmsContent(TEXT)
    outcomes = _outcomes()
    mapper, recorder = ledger.mapper, ledger.recorder
    generated = Generated()
    stored: list[Any] = []
    index = 0
    while generated.events < events and generated.messages != messages:
        requested_at = START + timedelta(milliseconds=index)
        message = Message.request(
            project_id=PROJECT, message_id=f"{prefix}-{index:09d}", integration_id=INTEGRATION,
            customer_id=f"cust-{index}", recipient=phones[index % DISTINCT_RECIPIENTS],
            content=content, sender=SENDER, campaign_id=campaign, action_id="bench",
            requested_at=requested_at)
        answered_at = requested_at + timedelta(seconds=1)
        kind = index % 50
        if kind == 0:
            message.refuse(at=answered_at, status_code=400, error="BAD_REQUEST",
                           comment="Invalid destination address")
            generated.count("enqueue_failed")
        else:
            message.accept(at=answered_at, parts=1)
            if kind == 1:
                generated.count("pending")
            elif kind == 2:
                message.close_window_if_due(answered_at + timedelta(days=5))
                generated.count("no_report_received")
            else:
                key = "failed" if kind in (3, 4, 5) else "rejected" if kind == 6 else "delivered"
                message.record_report(outcomes[key], received_at=answered_at
                                      + timedelta(seconds=3))
                generated.count(key)
        new = message.collect_events()
        stored += [mapper.to_stored_event(event) for event in new]
        generated.events += len(new)
        generated.messages += 1
        index += 1
        if len(stored) >= INSERT_CHUNK:
            recorder.insert_events(stored)
            stored = []
    if stored:
        recorder.insert_events(stored)
    return generated


def check(audit: Any, generated: Generated) -> None:
    counts = audit.counts
    expected = {"requested": generated.messages, **generated.counts}
    wrong = {k: (counts.get(k), v) for k, v in expected.items() if counts.get(k) != v}
    if wrong:
        raise AssertionError(f"the audit disagrees with what was generated: {wrong}")


def _references(database: str, ledger: LedgerApplication, events: int, report: BenchReport) -> None:
    """The audit's own reading path, in parts: the rows alone, then the rows decoded."""
    from smsledger.application.audit import MESSAGE_TOPICS as _MESSAGE_TOPICS

    decode_state = ledger.store.decode_state

    def read(decode: bool) -> int:
        seen = 0
        for row in ledger.store.notification_rows(_MESSAGE_TOPICS):
            if decode:
                decode_state(row[3])
            seen += 1
        return seen

    for key, subject, decode, label in (
            ("read", f"reference: read the rows only (pages of {REPLAY_PAGE:,})", False,
             "read rows only"),
            ("read-decode", "reference: read + decode every row's state, no fold", True,
             "read + decode")):
        with measuring() as watch:
            seen = read(decode)
        assert seen == events, (seen, events)
        report.add(Measurement(key, subject, database, seen, "events", watch.seconds,
                               peak_mb=watch.peak_mb, start_mb=watch.start_mb,
                               cpu_seconds=watch.cpu_seconds, label=label))
