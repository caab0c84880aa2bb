"""bench ingest, (c): the webhook of `smsledger serve` run as an operator runs it.

`serve` is started as a process of its own, on the benchmark's store, in four
layouts: with one HTTP worker, also with --pin-cpus (Linux), and with `--workers N`,
each beside serve's background process (the projections kept current, the periodic
maintenance), and with one worker and `--no-worker` beside a `smsledger worker`
process that does that work; the same sender process as (b) posts the callbacks.
The projections are caught up before (untimed), so the service's runner only follows
what the measurement itself stores, as in a service that has been running. Only the
rate and latencies are ours to read here: the service's memory and CPU are another
process's.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from smsledger.adapters.bench.common import BENCH_SECRET_KEY, BenchReport, Measurement, measuring
from smsledger.adapters.bench.senders import SenderProcess
from smsledger.adapters.bench.feed_backlog import FeedBacklog
from smsledger.adapters.bench.workload import CALLBACK_SIZE, INTEGRATION, PROJECT, WEBHOOK_PATH
from smsledger.application.commands import ProviderReport

APP_BESIDE_SERVE = "app-beside-serve"  # the application layer, timed around serve-1's run
START_TIMEOUT = 60.0
STARTED = '"message": "Application startup complete."'


@dataclass(frozen=True)
class Layout:
    """How the service runs: `workers` HTTP processes, the background work in serve's
    background process or (`separate_worker`) in a `smsledger worker` process; with
    `pinned`, serve --pin-cpus (each HTTP process on a CPU of its own)."""

    workers: int
    separate_worker: bool = False
    pinned: bool = False

    @property
    def key(self) -> str:
        return (f"serve-{self.workers}" + ("+worker" if self.separate_worker else "")
                + ("-pinned" if self.pinned else ""))

    @property
    def name(self) -> str:
        pinning = " --pin-cpus" if self.pinned else ""
        if self.separate_worker:
            return f"serve --workers {self.workers}{pinning} --no-worker + worker"
        return f"serve --workers {self.workers}{pinning}"

    def serve_options(self) -> list[str]:
        return ((["--no-worker"] if self.separate_worker else [])
                + (["--pin-cpus"] if self.pinned else []))


def measure_served(database: str, url: str, secret: str, batches: dict[Layout, list[bytes]],
                   concurrency: int, report: BenchReport, ledger: Any,
                   beside: list[list[ProviderReport]]) -> None:
    """One measurement per layout in `batches` (layout -> callback bodies), with
    `concurrency` senders per serve worker of the largest: the kernel spreads
    connections, not requests, over the workers, and a few kept-alive connections can
    all land on one of them. Then how long after the last webhook answer the service's
    feed held every event (`ledger`, on the same store, reads the feed view's position
    without catching it up).

    The first layout's share of the application layer compares rates measured at the
    same machine speed (it drifts by a quarter within a minute): the application layer
    (`ledger.record_reports`, the parsed callbacks `beside`) is measured in two halves,
    just before the service starts and just after it stopped, each alone on the machine
    as (a) is; the projections are caught up after each half, untimed, so that the
    service's background process has nothing of them to do."""
    senders_count = concurrency * max(layout.workers for layout in batches)
    for number, (layout, bodies) in enumerate(batches.items()):
        app = _AppTurns(ledger, beside if number == 0 else [])
        app.turn(0)
        with served(url, layout) as base:
            senders = SenderProcess(base, WEBHOOK_PATH, (INTEGRATION, secret), senders_count)
            try:
                posted, watch = senders.timed(bodies)
                answered = time.perf_counter()
                feed_lag = feed_complete(ledger) - answered
            finally:
                senders.close()
        app.turn(1)
        if app.reports:
            report.add(Measurement(
                APP_BESIDE_SERVE, "smsledger: LedgerApplication.record_reports (application "
                f"layer), in two halves, before and after {layout.name}", database,
                app.reports, "reports", app.seconds, ours=True, peak_mb=app.peak_mb,
                start_mb=app.start_mb, cpu_seconds=app.cpu_seconds,
                label="ours: application layer beside serve"))
        report.feed_lags[(database, layout.name)] = feed_lag
        background = ("background work in a `smsledger worker` process"
                      if layout.separate_worker else "background work in its background process")
        report.add(Measurement(
            layout.key, f"smsledger {layout.name} (own processes, {background}), "
            f"{senders_count} concurrent senders", database,
            posted.applied, "reports", watch.seconds, ours=True, latencies=posted.latencies,
            latency_of=f"request of {CALLBACK_SIZE}", label=f"ours: {layout.name}"))


class _AppTurns:
    """The application layer applying `callbacks` in two halves, timed together; the
    projections caught up after each, untimed."""

    def __init__(self, ledger: Any, callbacks: list[list[ProviderReport]]) -> None:
        self.ledger, self.callbacks = ledger, callbacks
        self.seconds = self.cpu_seconds = 0.0
        self.reports = 0
        self.start_mb: float | None = None
        self.peak_mb: float | None = None

    def turn(self, half: int) -> None:
        middle = len(self.callbacks) // 2
        share = self.callbacks[:middle] if half == 0 else self.callbacks[middle:]
        with measuring() as watch:
            for reports in share:
                result = self.ledger.record_reports(PROJECT, reports)
                assert result.applied == len(reports), result
        self.seconds += watch.seconds
        self.cpu_seconds += watch.cpu_seconds
        self.start_mb = watch.start_mb if self.start_mb is None else self.start_mb
        self.peak_mb = max(self.peak_mb or 0.0, watch.peak_mb or 0.0)
        self.reports += sum(len(reports) for reports in share)
        if share:
            self.ledger.projections.catch_up()


def feed_complete(ledger: Any, timeout: float = 120.0) -> float:
    """When (perf_counter) the feed view reached the last feed event stored by now."""
    backlog = FeedBacklog(ledger)
    waiting = backlog.pending()
    if not waiting:
        return time.perf_counter()
    deadline = time.monotonic() + timeout
    while backlog.position() < waiting[-1]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the feed did not reach notification {waiting[-1]} within "
                               f"{timeout:g} s (it is at {backlog.position()})")
        time.sleep(0.005)
    return time.perf_counter()


@contextmanager
def served(database_url: str, layout: Layout) -> Iterator[str]:
    """The service in `layout` on a free loopback port; its base URL once healthy."""
    with tempfile.TemporaryDirectory(prefix="smsledger-serve-") as folder, ExitStack() as stack:
        log = Path(folder) / "serve.log"
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port),
                 "--workers", str(layout.workers), "--database-url", database_url,
                 *layout.serve_options()]
        if layout.separate_worker:
            stack.enter_context(_running(
                ["worker", "--public-url", base, "--database-url", database_url],
                folder, Path(folder) / "worker.log"))
        process = stack.enter_context(_running(serve, folder, log))
        _wait_until_ready(base, layout.workers, process, log)
        yield base


@contextmanager
def _running(arguments: list[str], folder: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`smsledger <arguments>` in `folder`, its output to `log`, stopped at the end."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "smsledger.adapters.cli", *arguments],
            cwd=folder, stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, "SMSLEDGER_SECRET_KEY": BENCH_SECRET_KEY})
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(base: str, workers: int, process: subprocess.Popen[bytes],
                      log: Path) -> None:
    """Until every worker says it is up (uvicorn logs it once per process; the first to
    answer may be alone for a second or two, a good part of a measurement)
    and the service is ready: /readyz, its store answers."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        if log.read_text(errors="replace").count(STARTED) >= workers:
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"smsledger serve with {workers} worker(s) did not become ready at "
                       f"{base}; its output:\n{tail}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
