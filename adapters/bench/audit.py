"""bench audit: what one campaign's audit costs, alone in its store and in a store that
holds a million other events.

Two stores, each filled as `bench replay` fills its own (genuine message histories,
inserted in bulk through the application's recorder):
- `alone`: the audited campaign only (1,000 messages by default);
- `crowded`: the same campaign between two halves of another campaign's events
  (1,000,000 by default), so that its events are spread through the store as a
  campaign's are among a platform's others.

Measured on each: `audit(project, campaign, as_of=<after the last event>)`, the replay
itself, repeated (`--repeats`) with the median kept, after the campaign index was
caught up (timed apart, as setup: a running service keeps it current). The target
(issue 15): the crowded audit within 2x of the alone one. The baseline, in the same run
on the crowded store: the same audit replaying the whole store (`whole_store=True`),
which is what every audit cost before the campaign index.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

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
from smsledger.adapters.bench.replay import AS_OF, Generated, analyze, check, generate
from smsledger.adapters.bench.workload import PROJECT
from smsledger.adapters.bootstrap import build_ledger
from smsledger.application.ledger import LedgerApplication
from smsledger.application.projections import CAMPAIGN_INDEX

AUDITED = "audited"
OTHER = "others"
TARGET_FACTOR = 2.0


@dataclass
class AuditOptions:
    databases: list[str]
    postgres_url: str
    campaign_messages: int = 1_000
    other_events: int = 1_000_000
    repeats: int = 5
    profiles: Profiles = field(default_factory=lambda: Profiles(None))


def run_audit(options: AuditOptions) -> BenchReport:
    report = BenchReport("audit")
    started = now()
    for database in options.databases:
        alone = _measure(database, options, report, other_events=0)
        crowded = _measure(database, options, report, other_events=options.other_events)
        report.compare(database, "crowded", ["alone"])
        report.compare(database, "crowded", ["whole-store"])
        factor = crowded.seconds / alone.seconds if alone.seconds > 0 else float("inf")
        report.targets.append(Target(
            f"audit of {options.campaign_messages:,} messages beside "
            f"{options.other_events:,} other events, vs alone ({database})",
            f"<= {TARGET_FACTOR:g}x the time", f"{factor:.2f}x", factor <= TARGET_FACTOR))
    report.notes += [
        f"median of {options.repeats} audits (as_of after the last event: the replay "
        "itself) of one campaign; its result is checked against what was generated.",
        "alone: a store holding only the campaign; crowded: the campaign between two "
        f"halves of {options.other_events:,} events of another campaign.",
        "whole-store: the same audit replaying every message event of the crowded store, "
        "as each audit did before the campaign index (smsledger audit --whole-store).",
    ]
    report.seconds = now() - started
    return report


def _measure(database: str, options: AuditOptions, report: BenchReport, *,
             other_events: int) -> Measurement:
    shape = "crowded" if other_events else "alone"
    with store(database, options.postgres_url) as (url, where):
        progress(f"audit on {database} ({where}): generating the {shape} store")
        ledger = build_ledger(settings_for(url))
        try:
            with measuring() as generation:
                if other_events:
                    generate(ledger, other_events // 2, campaign=OTHER, prefix="before")
                generated = generate(ledger, 10**12, campaign=AUDITED, prefix="audited",
                                     messages=options.campaign_messages)
                if other_events:
                    generate(ledger, other_events - other_events // 2, campaign=OTHER,
                             prefix="after")
            analyze(ledger)
            with measuring() as indexing:
                ledger.projections.catch_up([CAMPAIGN_INDEX])
            report.setup[f"{database} {shape}: generate and insert"] = generation.seconds
            report.setup[f"{database} {shape}: campaign index caught up"] = indexing.seconds
            with measuring() as watch:
                seconds = _median_audit(ledger, generated, options.repeats)
            measurement = report.add(Measurement(
                shape, f"audit of a {generated.messages:,}-message campaign, "
                       f"{'beside ' + format(other_events, ',') + ' other events' if other_events else 'alone in its store'}",
                database, generated.events, "events", seconds, ours=True,
                peak_mb=watch.peak_mb, start_mb=watch.start_mb,
                label=f"ours: audit ({shape})"))
            if other_events:
                progress(f"audit on {database}: the whole-store replay baseline")
                with measuring() as whole:
                    check(ledger.audit(PROJECT, AUDITED, as_of=AS_OF, whole_store=True),
                          generated)
                report.add(Measurement(
                    "whole-store", "baseline: the same audit replaying the whole store",
                    database, generated.events, "events", whole.seconds,
                    peak_mb=whole.peak_mb, start_mb=whole.start_mb, label="whole-store replay"))
            if options.profiles.enabled:
                with options.profiles.cprofile(f"audit-{database}-{shape}"):
                    ledger.audit(PROJECT, AUDITED, as_of=AS_OF)
            return measurement
        finally:
            ledger.close()


def _median_audit(ledger: LedgerApplication, generated: Generated, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        audit = ledger.audit(PROJECT, AUDITED, as_of=AS_OF)
        times.append(time.perf_counter() - started)
        check(audit, generated)
    return statistics.median(times)
