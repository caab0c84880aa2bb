"""bench stores: where one PostgreSQL store tops out, and what a second store adds.

Every insert transaction holds the events table's exclusive lock until it commits (the
library keeps notification ids gapless), so one store commits one transaction at a
time however many processes write to it. Measured here, application-layer ingest
(`LedgerApplication.record_reports`, callbacks of 100, each writer a process of its
own, all started together):
- `one`: one writer on one store (the baseline);
- `shared`: two writers on one store (one events table, its lock shared);
- `split`: two writers on two stores (a schema each, as projects split over stores).
The layouts take turns (`--rounds`), so that each is measured at the same machine
speed; a layout's figure is its rounds' total reports over their total seconds.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from smsledger.adapters.bench.common import (
    BenchReport,
    Measurement,
    postgres_schema,
    progress,
    settings_for,
)
from smsledger.adapters.bench.profiling import now
from smsledger.adapters.bench.workload import PROJECT, AcceptAll, callback_bodies, send_requests
from smsledger.adapters.bootstrap import build_ledger

DATABASE = "postgres"
SETUP_CHUNK = 1_000  # messages per send call while preparing
LAYOUTS = {"one": "one writer, one store",
           "shared": "two writers, one store (one events table)",
           "split": "two writers, two stores (a schema each)"}


@dataclass
class StoresOptions:
    postgres_url: str
    reports: int = 20_000  # per writer and round
    rounds: int = 2


def run_stores(options: StoresOptions) -> BenchReport:
    report = BenchReport("stores")
    started = now()
    reports = dict.fromkeys(LAYOUTS, 0)
    seconds = dict.fromkeys(LAYOUTS, 0.0)
    for round_number in range(1, options.rounds + 1):
        for layout in LAYOUTS:
            progress(f"stores: round {round_number}, {LAYOUTS[layout]}")
            with _prepared(options, layout) as writers:
                applied, took = _ingest_together(writers)
            reports[layout] += applied
            seconds[layout] += took
    for layout, name in LAYOUTS.items():
        report.add(Measurement(
            layout, f"record_reports, {name}, callbacks of 100", DATABASE, reports[layout],
            "reports", seconds[layout], ours=True, label=name))
    report.compare(DATABASE, "shared", ["one"])
    report.compare(DATABASE, "split", ["one", "shared"])
    report.notes.append(
        "each writer is a process of its own with its own connection; all of a layout's "
        "writers start together and the layout's time runs until the last finishes. On 2 "
        "cores the writers share them with the database.")
    report.seconds = now() - started
    return report


@contextmanager
def _prepared(options: StoresOptions, layout: str) -> Iterator[list[tuple[str, list[bytes]]]]:
    """(store URL, callback bodies) per writer of `layout`, on fresh schemas."""
    writers = 1 if layout == "one" else 2
    with ExitStack() as stack:
        urls = [stack.enter_context(postgres_schema(options.postgres_url))[0]
                for _ in range(1 if layout != "split" else 2)]
        prepared = []
        for writer in range(writers):
            url = urls[writer % len(urls)]
            # Writers on one store report on messages of their own (other ids).
            prepared.append((url, _messages(url, options.reports, start=writer * options.reports)))
        yield prepared


def _messages(url: str, count: int, start: int) -> list[bytes]:
    ledger = build_ledger(settings_for(url), provider=AcceptAll())
    try:
        ids: list[str] = []
        recipients: list[str] = []
        for chunk in range(start, start + count, SETUP_CHUNK):
            requests = send_requests(min(SETUP_CHUNK, start + count - chunk),
                                     campaign_id="stores", start=chunk)
            results = ledger.send(PROJECT, requests)
            ids += [r.message_id for r in results if r.message_id]
            recipients += [r.to for r in requests]
        return callback_bodies(ids, recipients)
    finally:
        ledger.close()


def _ingest_together(writers: list[tuple[str, list[bytes]]]) -> tuple[int, float]:
    """Start one process per writer, release them together; (reports, seconds) until
    the last is done."""
    context = multiprocessing.get_context("spawn")
    ready, go = context.Barrier(len(writers) + 1), context.Event()
    counts = context.Queue()
    processes = [context.Process(target=_writer, args=(url, bodies, ready, go, counts))
                 for url, bodies in writers]
    for process in processes:
        process.start()
    ready.wait()  # every writer has its ledger open and its callbacks parsed
    started = time.perf_counter()
    go.set()
    reports = sum(counts.get() for _ in processes)
    seconds = time.perf_counter() - started
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a writer failed (exit {process.exitcode})")
    return reports, seconds


def _writer(url: str, bodies: list[bytes], ready: object, go: object, counts: object) -> None:
    from smsledger.adapters.infobip.callbacks import parse_delivery_reports

    ledger = build_ledger(settings_for(url), provider=AcceptAll())
    callbacks = [parse_delivery_reports(body).reports for body in bodies]
    ready.wait()  # type: ignore[attr-defined]
    go.wait()  # type: ignore[attr-defined]
    applied = sum(ledger.record_reports(PROJECT, reports).applied for reports in callbacks)
    counts.put(applied)  # type: ignore[attr-defined]
    ledger.close()
