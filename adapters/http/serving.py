"""`smsledger serve`: the service in one process, or in several on one port.

One process runs uvicorn, with the projections kept current and the periodic
maintenance in background threads; it uses about one core (the interpreter lock).
With `workers` > 1, each worker is a process of its own, a whole smsledger on the same
store, listening on the same address with SO_REUSEPORT, so the kernel spreads the
connections between them. Worker 0 alone does the background work: the others would
only repeat it (safe, as the projections track what they processed and maintenance
commands are idempotent, but wasted). If a worker exits, the others are stopped and
`serve` exits with an error, for the supervisor (systemd, Kubernetes) to restart it
whole; SIGTERM or Ctrl-C stops every worker gracefully.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
from multiprocessing.connection import wait
from types import FrameType
from typing import Any

import uvicorn

from adapters.bootstrap import bootstrap_service
from adapters.config import Settings
from adapters.http.app import create_app
from adapters.http.middleware import configure_json_logging
from adapters.maintenance import Maintenance
from adapters.secrets import SecretKey

log = logging.getLogger("smsledger.serve")

STOP_TIMEOUT = 30.0  # seconds a worker has to finish its requests once told to stop


def run_service(settings: Settings, host: str, port: int, *, background_work: bool = True,
                reuse_port: bool = False) -> None:
    """Serve until stopped (SIGTERM, Ctrl-C). `reuse_port`: bind with SO_REUSEPORT, beside
    other processes listening on the same address."""
    public_url = settings.public_url or f"http://{host}:{port}"
    smsledger, context = bootstrap_service(settings, public_url=public_url)
    background = smsledger.ledger.projections.run_in_background() if background_work else None
    maintenance = Maintenance(smsledger).start() if background_work else None
    try:
        app = create_app(context)
        if reuse_port:
            config = uvicorn.Config(app, log_config=None, access_log=False)
            uvicorn.Server(config).run(sockets=[_shared_socket(host, port)])
        else:
            uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    finally:
        if maintenance is not None:
            maintenance.stop()
        if background is not None:
            background.stop()
        smsledger.close()


def run_workers(settings: Settings, host: str, port: int, workers: int) -> int:
    """Serve from `workers` processes; 0 once stopped by a signal, 1 if a worker exited."""
    if settings.secret_key is None:
        # Create the key file, if it is missing, before the workers read it.
        SecretKey(None, settings.secret_key_file).bytes()
    values = {name: getattr(settings, name) for name in Settings.model_fields}
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_worker, args=(values, host, port, index),
                               name=f"smsledger-worker-{index}") for index in range(workers)]
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        raise _Stop

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.start()
        ended = wait([process.sentinel for process in processes])  # until a worker exits
        exited = [p for p in processes if p.sentinel in ended]
        for process in exited:
            process.join(STOP_TIMEOUT)  # its pipe closes a moment before it can be reaped
        log.error("a worker exited; stopping the others", extra={"fields": {
            "exit_codes": {p.name: p.exitcode for p in exited}}})
    except _Stop:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(processes)
    return 0 if stopping else 1


class _Stop(Exception):
    """Raised in the waiting parent by SIGTERM or SIGINT."""


def _stop_all(processes: list[Any]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
    for process in processes:
        process.join(STOP_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()


def _worker(values: dict[str, Any], host: str, port: int, index: int) -> None:
    configure_json_logging(worker=index)
    # The values were validated in the parent; validating again would read the
    # environment again, which must not change what the workers run with.
    settings = Settings.model_construct(**values)
    run_service(settings, host, port, background_work=index == 0, reuse_port=True)


def _shared_socket(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0]
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP.
    shared = socket.socket(family, kind, proto)
    shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    shared.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    shared.bind(address)
    return shared
