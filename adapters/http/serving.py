"""`smsledger serve`: the service in one process, or in several on one port.

One process runs uvicorn, with the projections kept current, the periodic
maintenance and the event subscriptions' delivery in background threads, each while
this process holds that job's lock on the store (application/background.py); it
uses about one core (the interpreter lock). With `background_work` off
(`serve --no-worker`) it runs none of them and leaves them to `smsledger worker`
processes; its reads still catch their projections up.

With `workers` > 1 (Linux), each worker is a process of its own, a whole smsledger on
the same store, listening on the same address with SO_REUSEPORT, so the kernel spreads
the connections between them. (These workers answer HTTP; `smsledger worker` is the
background work in a process of its own.) Worker 0 alone does the background work:
the others would only stand by for its job locks, a connection each. If a worker
exits, the others are stopped and `serve` exits with an error, for the supervisor
(systemd, Kubernetes) to restart it whole; SIGTERM or Ctrl-C stops every worker
gracefully, and workers whose parent is killed outright stop too. The workers count
their metrics together (prometheus-client's multiprocess mode, in a directory of
this `serve`'s own, removed when it stops): any of them answers /metrics with the
service's totals.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from multiprocessing.connection import wait
from types import FrameType
from typing import Any

import uvicorn
from prometheus_client import multiprocess

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import Settings
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.header_deadline import with_header_deadline
from smsledger.adapters.http.metrics import MULTIPROCESS_DIRECTORY, ServiceMetrics
from smsledger.adapters.http.middleware import configure_json_logging
from smsledger.adapters.runtime.secrets import SecretKey
from smsledger.application.background import BackgroundRun

log = logging.getLogger("smsledger.serve")

STOP_TIMEOUT = 30.0  # seconds a worker has to finish its requests once told to stop
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


class CannotServe(RuntimeError):
    """Refused before serving: the port is taken, the platform cannot run workers, or
    the key file is bad."""


def run_service(settings: Settings, host: str, port: int, *, background_work: bool = True,
                reuse_port: bool = False) -> None:
    """Serve until stopped (SIGTERM, Ctrl-C), then stop the background work and close the
    store; CannotServe for a bad key file. `background_work`: keep the projections
    current and run the maintenance rounds, each while this process holds its job.
    `reuse_port`: bind with SO_REUSEPORT, beside other processes listening on the same
    address."""
    _read_secret_key(settings)
    logging.getLogger().setLevel(settings.log_level)  # SMSLEDGER_LOG_LEVEL
    public_url = settings.public_url or f"http://{host}:{port}"
    metrics = ServiceMetrics()  # first: the channel's Infobip calls count into it
    channel = bootstrap(settings=settings, public_url=public_url, observer=metrics)
    context = ServiceContext.serving(channel, public_url, settings, metrics=metrics)
    background: list[BackgroundRun] = []
    try:
        if background_work:
            background.append(channel.keep_projections_current(observer=metrics))
            background.append(channel.keep_maintenance_running(observer=metrics))
            background.append(channel.keep_subscriptions_delivering(observer=metrics))
        app = create_app(context)
        with _signals_end_normally():
            # Every request head must arrive in time (header_deadline).
            options: dict[str, Any] = {"log_config": None, "access_log": False,
                                       "http": with_header_deadline()}
            if reuse_port:
                config = uvicorn.Config(app, **options)
                uvicorn.Server(config).run(sockets=[_shared_socket(host, port)])
            else:
                uvicorn.run(app, host=host, port=port, **options)
    finally:
        for run in background:
            run.stop()
        channel.close()
        log.info("service stopped")


def run_workers(settings: Settings, host: str, port: int, workers: int, *,
                background_work: bool = True) -> int:
    """Serve from `workers` processes, the first with the background work unless
    `background_work` is false; 0 once stopped by a signal, 1 if a worker exited.
    CannotServe before starting any."""
    if not sys.platform.startswith("linux") or not hasattr(socket, "SO_REUSEPORT"):
        raise CannotServe("--workers above 1 needs Linux (SO_REUSEPORT spreading "
                          "connections); run one process per port elsewhere")
    logging.getLogger().setLevel(settings.log_level)  # SMSLEDGER_LOG_LEVEL
    _check_port_free(host, port)
    _read_secret_key(settings)  # made once here, if missing, before the workers read it
    values = {name: getattr(settings, name) for name in Settings.model_fields}
    # Set before the workers start: prometheus-client picks its mode when a worker
    # imports it. A fresh directory, as it asks: old files would count again.
    counted_in = tempfile.mkdtemp(prefix="smsledger-metrics-")
    previous_directory = os.environ.get(MULTIPROCESS_DIRECTORY)
    os.environ[MULTIPROCESS_DIRECTORY] = counted_in
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_worker, args=(values, host, port, index, os.getpid(),
                                                     background_work and index == 0),
                               name=f"smsledger-worker-{index}") for index in range(workers)]
    # A signal only notes that it came and wakes the wait below; raising from the
    # handler could interrupt a process start half done.
    woken, wake = os.pipe()
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        os.write(wake, b"x")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            if stopping.is_set():
                break
            process.start()
        if not stopping.is_set():
            ended = wait([process.sentinel for process in processes] + [woken])
            exited = [p for p in processes if p.sentinel in ended]
            for process in exited:
                process.join(STOP_TIMEOUT)  # its pipe closes a moment before it is reaped
                _count_as_dead(process, counted_in)
            if exited and not stopping.is_set():
                log.error("a worker exited; stopping the others", extra={"fields": {
                    "exit_codes": {p.name: p.exitcode for p in exited}}})
    finally:
        _stop_all(processes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(woken)
        os.close(wake)
        shutil.rmtree(counted_in, ignore_errors=True)
        if previous_directory is None:
            os.environ.pop(MULTIPROCESS_DIRECTORY, None)
        else:
            os.environ[MULTIPROCESS_DIRECTORY] = previous_directory
    return 0 if stopping.is_set() else 1


def _count_as_dead(process: Any, counted_in: str) -> None:
    """A worker that exited no longer reports its gauges (the projection lag it last
    measured); its counters still count in the totals."""
    if process.pid is not None and not process.is_alive():
        multiprocess.mark_process_dead(process.pid, counted_in)  # type: ignore[no-untyped-call]


def _read_secret_key(settings: Settings) -> None:
    """The key file, read (or made) at start: a bad one is refused now, by name, not at
    the first request that derives a webhook secret."""
    if settings.secret_key is None:
        try:
            SecretKey(None, settings.secret_key_file).bytes()
        except (OSError, ValueError) as error:
            raise CannotServe(str(error)) from None


def _stop_all(processes: list[Any]) -> None:
    started = [process for process in processes if process.pid is not None]
    for process in started:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
    for process in started:
        process.join(STOP_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()


def _worker(values: dict[str, Any], host: str, port: int, index: int, parent: int,
            background_work: bool) -> None:
    _stop_with_parent(parent)
    # The values were validated in the parent; validating again would read the
    # environment again, which must not change what the workers run with.
    settings = Settings.model_construct(**values)
    configure_json_logging(settings.log_level, worker=index)
    run_service(settings, host, port, background_work=background_work, reuse_port=True)


def _stop_with_parent(parent: int) -> None:
    """SIGTERM this worker when `serve` dies, even by SIGKILL: orphaned workers would go
    on answering on the port, beside whatever starts there next."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


class _signals_end_normally:
    """uvicorn stops gracefully on SIGTERM or SIGINT, then raises the signal again for the
    handler it found: SIGTERM's default would kill the process there, SIGINT's raise
    KeyboardInterrupt, before the background work is stopped and the store closed. With
    these the service returns from `run` instead. (Only the main thread may set
    handlers; elsewhere this does nothing.)"""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __enter__(self) -> None:
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._stopped_already)
                              for sig in self.SIGNALS}

    def __exit__(self, *_: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @staticmethod
    def _stopped_already(signum: int, _frame: FrameType | None) -> None:
        """uvicorn handled this signal first: the service has stopped when this runs."""


def _check_port_free(host: str, port: int) -> None:
    """Workers bind with SO_REUSEPORT, which would let them share the port with another
    `serve` already there: refuse instead, as a single process would."""
    probe, address = _tcp_socket(host, port)
    with probe:
        try:
            probe.bind(address)
        except OSError as error:
            raise CannotServe(f"cannot listen on {host}:{port}: {error.strerror}") from None


def _shared_socket(host: str, port: int) -> socket.socket:
    shared, address = _tcp_socket(host, port)
    shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    shared.bind(address)
    return shared


def _tcp_socket(host: str, port: int) -> tuple[socket.socket, Any]:
    """An unbound TCP socket for (host, port), SO_REUSEADDR set, and the address to bind."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0]
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP.
    made = socket.socket(family, kind, proto)
    made.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return made, address
