"""The service's background work as a process of its own: `smsledger worker`, and
the background process `smsledger serve` starts beside its HTTP processes.

It keeps the projections current, runs the maintenance round every `interval`
seconds and delivers the event subscriptions, each job while it holds that job's
lock on the store (application/jobs.py), until SIGTERM or Ctrl-C. Beside `smsledger
serve --no-worker` instances, two workers make one active and one standby per job: when the active one dies, the standby takes
its jobs within seconds. It logs JSON lines, as `serve` does, among them which jobs
it took and lost.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Protocol

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.facade import SmsChannel
from smsledger.adapters.http.metrics import ServiceMetrics
from smsledger.adapters.infobip.observer import InfobipObserver
from smsledger.adapters.runtime.config import Settings
from smsledger.adapters.runtime.garbage_collection import tune_for_a_service
from smsledger.adapters.runtime.secrets import key_file_problem
from smsledger.adapters.runtime.worker_metrics import CannotListen, MetricsServer
from smsledger.application.background import BackgroundRun, JobObserver
from smsledger.application.jobs import MAINTENANCE_JOB, PROJECTIONS_JOB, SUBSCRIPTIONS_JOB

log = logging.getLogger("smsledger.worker")


class WorkObserver(JobObserver, InfobipObserver, Protocol):
    """Hears of job runs and Infobip calls (smsledger.adapters.http.metrics.ServiceMetrics)."""


class CannotWork(RuntimeError):
    """Refused before starting: the key file is bad, or the metrics address cannot be
    listened on."""


def run_worker(settings: Settings, *, interval: float, public_url: str | None,
               observer: WorkObserver | None = None,
               metrics_at: tuple[str, int] | None = None) -> None:
    """Run the background jobs until SIGTERM or SIGINT, then stop them (giving their
    locks up) and close the store. Call it from the main thread: it sets the
    handlers of both signals. `observer` hears of every job run and Infobip call
    (the service's metrics, when `serve` runs this); with `metrics_at` (host, port),
    the worker counts them itself and answers GET /metrics there (worker_metrics).
    CannotWork, before any job starts, for a bad key file or a metrics address that
    cannot be listened on."""
    if (problem := key_file_problem(settings.secret_key, settings.secret_key_file)) is not None:
        raise CannotWork(problem)
    logging.getLogger().setLevel(settings.log_level)  # SMSLEDGER_LOG_LEVEL
    if metrics_at is None:
        _run_jobs(settings, interval, public_url, observer, None)
        return
    try:
        server = MetricsServer(ServiceMetrics(), *metrics_at)
    except CannotListen as exc:
        raise CannotWork(str(exc)) from None
    try:
        _run_jobs(settings, interval, public_url, server.metrics, server)
    finally:
        server.stop()  # if the store could not be opened; a second stop does nothing


def _run_jobs(settings: Settings, interval: float, public_url: str | None,
              observer: WorkObserver | None, metrics: MetricsServer | None) -> None:
    # The maintenance round sends what was never handed to Infobip: the messages'
    # webhook URLs need the service's public address, as `smsledger maintenance`'s do.
    channel = bootstrap(settings=settings, public_url=public_url, observer=observer)
    tune_for_a_service()  # once the store opened: a failed start says one thing
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    runs: list[BackgroundRun] = []
    try:
        runs = start_background_work(channel, interval=interval, observer=observer)
        if metrics is not None:
            metrics.start(channel.projection_lag)
        log.info("worker started", extra={"fields": {
            "jobs": [PROJECTIONS_JOB, MAINTENANCE_JOB, SUBSCRIPTIONS_JOB],
            "maintenance_interval": interval}})
        # A timed wait: the handlers run between the waits, whatever the platform's
        # locks do with signals.
        while not stopping.wait(0.5):
            pass
    finally:
        if metrics is not None:  # before the store closes: a scrape measures the lag there
            metrics.stop()
        for run in runs:
            run.stop()
        channel.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("worker stopped")


def start_background_work(channel: SmsChannel, *, interval: float,
                          observer: WorkObserver | None = None) -> list[BackgroundRun]:
    """The background jobs in threads of this process, each running while this process
    holds its job's lock: projections, maintenance every `interval` seconds,
    subscriptions. If one cannot start, those started are stopped again."""
    runs: list[BackgroundRun] = []
    try:
        runs.append(channel.keep_projections_current(observer=observer))
        runs.append(channel.keep_maintenance_running(interval, observer=observer))
        runs.append(channel.keep_subscriptions_delivering(observer=observer))
    except BaseException:
        for run in runs:
            run.stop()
        raise
    return runs
