"""bench ingest, (d), PostgreSQL: group commit (adapters/store/group_commit.py).

Infobip posts a report as soon as it has it, so a busy service takes many small
callbacks at once. Here THREADS threads apply callbacks of one report each through the
application layer, as the service's request threads do: with the recorder's group
commit (concurrent callbacks' events inserted together) and without it (each callback
its own insert, each taking the events table's lock and a WAL flush in turn), the two
taking TURNS turns each so that both meet the machine at the same speed.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from smsledger.adapters.bench.common import BenchReport, Measurement, measuring, turn_share
from smsledger.adapters.bench.workload import PROJECT
from smsledger.adapters.store.recorders import PostgresBatchRecorder
from smsledger.application.commands import ProviderReport
from smsledger.application.ledger import LedgerApplication

THREADS = 16
TURNS = 3
VARIANTS = {"grouped": "group commit (concurrent callbacks' events inserted together)",
            "alone": "each callback its own insert (group commit off)"}


def measure_group_commit(database: str, ledger: LedgerApplication,
                         reports: dict[str, Sequence[ProviderReport]],
                         report: BenchReport) -> None:
    """`reports`: for each variant of VARIANTS, reports of messages of its own."""
    recorder = ledger.recorder
    if not isinstance(recorder, PostgresBatchRecorder):
        raise TypeError(f"group commit is PostgresBatchRecorder's, not {type(recorder).__name__}'s")
    seconds = dict.fromkeys(VARIANTS, 0.0)
    cpu = dict.fromkeys(VARIANTS, 0.0)
    peak = dict.fromkeys(VARIANTS, 0.0)
    start: dict[str, float | None] = dict.fromkeys(VARIANTS)
    with ThreadPoolExecutor(THREADS) as pool:
        for turn in range(TURNS):
            for variant in VARIANTS:
                share = turn_share(reports[variant], turn, TURNS)
                recorder.group_commits = variant == "grouped"
                try:
                    with measuring() as watch:
                        results = list(pool.map(
                            lambda one: ledger.record_reports(PROJECT, [one]), share))
                finally:
                    recorder.group_commits = True
                assert all(result.applied == 1 for result in results)
                seconds[variant] += watch.seconds
                cpu[variant] += watch.cpu_seconds
                peak[variant] = max(peak[variant], watch.peak_mb or 0.0)
                start[variant] = start[variant] or watch.start_mb
    for variant, how in VARIANTS.items():
        report.add(Measurement(
            f"callbacks-of-1-{variant}", f"smsledger: application layer, {THREADS} threads, "
            f"callbacks of 1 report, {how}", database, len(reports[variant]), "reports",
            seconds[variant], ours=variant == "grouped", cpu_seconds=cpu[variant],
            peak_mb=peak[variant], start_mb=start[variant],
            label=f"ours: callbacks of 1, {variant}"))

