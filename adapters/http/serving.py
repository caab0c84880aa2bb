"""`smsledger serve`: the HTTP service, and the background work in a process beside it.

By default `serve` supervises processes of its own, on the same store: `workers` HTTP
processes (one by default) and one background process, which keeps the projections
current, runs the periodic maintenance and delivers the event subscriptions, each job
while it holds that job's lock on the store (smsledger.adapters.runtime.worker, as
`smsledger worker` runs it). The background work has a process of its own because in
one process its threads and the request threads take turns at the interpreter: under
a burst of webhooks the requests slowed down and the feed fell behind (README,
Scale). With `background_work` off (`serve --no-worker`) there is no background
process: the work is left to `smsledger worker` processes (the requests' reads still
catch their projections up), and one HTTP process is `serve` itself.

With `workers` > 1 (Linux), each HTTP process is a whole smsledger listening on the
same address with SO_REUSEPORT, so the kernel spreads the connections between them.
If any process exits, the others are stopped and `serve` exits with an error, for the
supervisor (systemd, Kubernetes) to restart it whole; SIGTERM or Ctrl-C stops every
process gracefully, and processes whose parent is killed outright stop too (Linux).
The processes count their metrics together (prometheus-client's multiprocess mode, in
a directory of this `serve`'s own, removed when it stops, or by the next `serve` if it
was killed: adapters/http/metrics_directory.py): any HTTP process answers
/metrics with the service's totals, the background process's job runs and Infobip
calls included. With `--pin-cpus`, each HTTP process runs on a CPU of its own and
the background process on the others (adapters/runtime/cpu_pinning.py).
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
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
from smsledger.adapters.http.metrics_directory import MetricsDirectory
from smsledger.adapters.http.middleware import configure_json_logging
from smsledger.adapters.runtime.cpu_pinning import CannotPin, CpuPlan, pin_this_process
from smsledger.adapters.runtime.garbage_collection import tune_for_a_service
from smsledger.adapters.runtime.secrets import key_file_problem
from smsledger.adapters.runtime.worker import run_worker, start_background_work
from smsledger.application.background import BackgroundRun

log = logging.getLogger("smsledger.serve")

STOP_TIMEOUT = 30.0  # seconds a process has to finish its requests once told to stop
MAINTENANCE_INTERVAL = 60.0  # seconds between the maintenance rounds of serve's background work
BACKGROUND = "background"  # the background process's name in the log's `worker` field
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


class CannotServe(RuntimeError):
    """Refused before serving: the port is taken, the platform cannot run workers, or
    the key file is bad."""


def serve(settings: Settings, host: str, port: int, *, workers: int = 1,
          background_work: bool = True, pin_cpus: bool = False) -> int:
    """Serve until stopped (SIGTERM, Ctrl-C): 0 then, 1 if a process of the service
    exited on its own. CannotServe before starting anything. `pin_cpus`: each HTTP
    process on a CPU of its own, the background process on the others
    (adapters/runtime/cpu_pinning.py)."""
    in_memory = _in_memory(settings)
    if in_memory and workers > 1:
        raise CannotServe("--workers above 1 needs a store the processes share "
                          "(sqlite:///file.db or postgresql://...), not memory://")
    if in_memory and pin_cpus:
        raise CannotServe("--pin-cpus needs a store the processes share (sqlite:///file.db "
                          "or postgresql://...): with memory:// the background work runs in "
                          "threads of the one process, which would share its one CPU")
    one_process = not supervises(settings, workers, background_work)
    try:
        plan = CpuPlan.for_workers(workers) if pin_cpus else None
        if plan is not None and one_process:  # serve is its one HTTP process
            pin_this_process(plan.http[0], role="http")
    except CannotPin as exc:
        raise CannotServe(str(exc)) from None
    if plan is not None and plan.background is None and background_work:
        log.warning("--pin-cpus with as many HTTP processes as CPUs: the background process "
                    "has no CPU of its own, and under load the feed falls behind (README, "
                    "Performance, Scale)")
    if one_process:
        # A store in memory lives in this one process: the background work shares it
        # only as threads of the process.
        run_service(settings, host, port, background_threads=in_memory and background_work)
        return 0
    return _supervise(settings, host, port, workers, background_work, plan)


def supervises(settings: Settings, workers: int, background_work: bool) -> bool:
    """Whether `serve` runs as a supervisor of processes (HTTP and background), or as
    one process (a store in memory, or one HTTP process without background work)."""
    return not _in_memory(settings) and (workers > 1 or background_work)


def _in_memory(settings: Settings) -> bool:
    return settings.database_url.startswith("memory:")


def run_service(settings: Settings, host: str, port: int, *, reuse_port: bool = False,
                background_threads: bool = False) -> None:
    """One HTTP process: serve until stopped (SIGTERM, Ctrl-C), then close the store;
    CannotServe for a bad key file. `reuse_port`: bind with SO_REUSEPORT, beside other
    processes listening on the same address. `background_threads`: run the background
    work in threads of this process (for a store in memory, which no other process
    sees)."""
    _read_secret_key(settings)
    logging.getLogger().setLevel(settings.log_level)  # SMSLEDGER_LOG_LEVEL
    metrics = ServiceMetrics()  # first: the channel's Infobip calls count into it
    channel = bootstrap(settings=settings, public_url=_public_url(settings, host, port),
                        observer=metrics)
    tune_for_a_service()  # once the store opened: a failed start says one thing
    context = ServiceContext.serving(channel, _public_url(settings, host, port), settings,
                                     metrics=metrics)
    background: list[BackgroundRun] = []
    # Everything up to the store's close under these handlers: `serve` stopping its
    # processes (SIGTERM) after a Ctrl-C (SIGINT) must not kill this one while it closes.
    with _signals_end_normally():
        try:
            if background_threads:
                background = start_background_work(channel, interval=MAINTENANCE_INTERVAL,
                                                   observer=metrics)
            app = create_app(context)
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


def _public_url(settings: Settings, host: str, port: int) -> str:
    return settings.public_url or f"http://{host}:{port}"


def _supervise(settings: Settings, host: str, port: int, workers: int,
               background_work: bool, plan: CpuPlan | None) -> int:
    """`workers` HTTP processes and, with `background_work`, the background process;
    0 once stopped by a signal, 1 if one of them exited. CannotServe before starting
    any."""
    if workers > 1 and (not sys.platform.startswith("linux")
                        or not hasattr(socket, "SO_REUSEPORT")):
        raise CannotServe("--workers above 1 needs Linux (SO_REUSEPORT spreading "
                          "connections); run one process per port elsewhere")
    logging.getLogger().setLevel(settings.log_level)  # SMSLEDGER_LOG_LEVEL
    _check_port_free(host, port)
    _read_secret_key(settings)  # made once here, if missing, before the processes read it
    # The store opened (its tables made or upgraded) once here: one that cannot be opened
    # is named in one line now, not in a traceback from each process.
    bootstrap(settings=settings, sends=False).close()
    values = {name: getattr(settings, name) for name in Settings.model_fields}
    # Set before the processes start: prometheus-client picks its mode when a process
    # imports it.
    directory = MetricsDirectory()
    counted_in = directory.path
    previous_directory = os.environ.get(MULTIPROCESS_DIRECTORY)
    os.environ[MULTIPROCESS_DIRECTORY] = counted_in
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_http_process, args=(
        values, host, port, index, os.getpid(), workers > 1, plan.http[index] if plan else None),
        name=f"smsledger-worker-{index}") for index in range(workers)]
    if background_work:
        processes.append(spawn.Process(
            target=_background_process, args=(values, _public_url(settings, host, port),
                                              os.getpid(), plan.background if plan else None),
            name=f"smsledger-{BACKGROUND}"))
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
                log.error("a process of the service exited; stopping the others",
                          extra={"fields": {
                              "exit_codes": {p.name: p.exitcode for p in exited}}})
    finally:
        _stop_all(processes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(woken)
        os.close(wake)
        directory.remove()
        if previous_directory is None:
            os.environ.pop(MULTIPROCESS_DIRECTORY, None)
        else:
            os.environ[MULTIPROCESS_DIRECTORY] = previous_directory
    return 0 if stopping.is_set() else 1


def _count_as_dead(process: Any, counted_in: str) -> None:
    """A process that exited no longer reports its gauges (the projection lag it last
    measured); its counters still count in the totals."""
    if process.pid is not None and not process.is_alive():
        multiprocess.mark_process_dead(process.pid, counted_in)  # type: ignore[no-untyped-call]


def _read_secret_key(settings: Settings) -> None:
    if (problem := key_file_problem(settings.secret_key, settings.secret_key_file)) is not None:
        raise CannotServe(problem)


def _stop_all(processes: list[Any]) -> None:
    started = [process for process in processes if process.pid is not None]
    for process in started:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
    deadline = time.monotonic() + STOP_TIMEOUT  # for all of them together
    for process in started:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _http_process(values: dict[str, Any], host: str, port: int, index: int, parent: int,
                  reuse_port: bool, cpus: frozenset[int] | None) -> None:
    _stop_with_parent(parent)
    # The values were validated in the parent; validating again would read the
    # environment again, which must not change what the processes run with.
    settings = Settings.model_construct(**values)
    configure_json_logging(settings.log_level, worker=index)
    pin_this_process(cpus, role="http")  # before any thread starts: they inherit it
    run_service(settings, host, port, reuse_port=reuse_port)


def _background_process(values: dict[str, Any], public_url: str, parent: int,
                        cpus: frozenset[int] | None) -> None:
    _stop_with_parent(parent)
    settings = Settings.model_construct(**values)
    configure_json_logging(settings.log_level, worker=BACKGROUND)
    pin_this_process(cpus, role=BACKGROUND)  # before any thread starts: they inherit it
    run_worker(settings, interval=MAINTENANCE_INTERVAL, public_url=public_url,
               observer=ServiceMetrics())


def _stop_with_parent(parent: int) -> None:
    """SIGTERM this process when `serve` dies, even by SIGKILL: orphaned processes would
    go on answering on the port, beside whatever starts there next. Linux signals it
    (prctl); elsewhere a thread looks for a new parent every second."""
    if not sys.platform.startswith("linux"):
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True,
                         name="smsledger-parent-watch").start()
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


class _signals_end_normally:
    """uvicorn stops gracefully on SIGTERM or SIGINT, then raises the signal again for the
    handler it found: SIGTERM's default would kill the process there, SIGINT's raise
    KeyboardInterrupt, before the store is closed. With
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
    """Refused before any process starts (with --workers above 1 they bind with
    SO_REUSEPORT, which would let them share the port with another `serve` already
    there), as a single process would refuse it."""
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
