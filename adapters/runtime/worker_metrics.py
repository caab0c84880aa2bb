"""`smsledger worker --metrics-port`: the worker's own /metrics, for Prometheus.

`serve`'s HTTP processes answer /metrics with the counts of all of `serve`'s processes,
its background process included. A `smsledger worker` beside `serve --no-worker`
instances is a process of its own, often on a host of its own: without this, its job
runs and failures, and the Infobip calls of its maintenance and subscription rounds,
would be counted nowhere. The projections' lag is measured on each scrape, as
`serve`'s /metrics measures it. Only GET (and HEAD) /metrics is answered; the server
runs in threads of its own, so a slow scrape never holds a job up, and a client that
sends nothing is let go after REQUEST_TIMEOUT.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST

from smsledger.adapters.http.metrics import ServiceMetrics
from smsledger.application.projection_lag import Lag

log = logging.getLogger("smsledger.worker")

REQUEST_TIMEOUT = 10.0  # seconds a scrape's connection may sit silent


class CannotListen(RuntimeError):
    """The metrics address cannot be listened on (taken, or not this host's)."""


class MetricsServer:
    def __init__(self, metrics: ServiceMetrics, host: str, port: int) -> None:
        """Listens at once (CannotListen if it cannot); answers once `start`ed."""
        self.metrics = metrics
        self.lag: Callable[[], Mapping[str, Lag]] | None = None
        owner = self

        class Handler(_MetricsHandler):
            server_of = owner

        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as error:
            raise CannotListen(f"cannot listen for metrics on {host}:{port}: "
                               f"{error.strerror or error}") from None
        # Stopping waits for the scrapes under way (each bounded by REQUEST_TIMEOUT and the
        # store's own timeouts): none may read the store after the worker closed it.
        self._server.daemon_threads = False
        self._server.block_on_close = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                         name="metrics-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self, lag: Callable[[], Mapping[str, Lag]]) -> None:
        """Answer scrapes from now on, measuring the projections' lag with `lag`."""
        self.lag = lag
        self._thread.start()
        log.info("metrics served", extra={"fields": {"metrics_port": self.port}})

    def stop(self) -> None:
        """Stop answering and listening; once stopped, nothing more to do."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def render(self) -> bytes:
        return self.metrics.render() if self.lag is None else self.metrics.scrape(self.lag)


class _MetricsHandler(BaseHTTPRequestHandler):
    server_of: MetricsServer
    timeout = REQUEST_TIMEOUT

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self._answer(head_only=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head_only=True)

    def _answer(self, *, head_only: bool) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            status, body, content_type = 404, b"not found: the worker answers /metrics only\n", \
                "text/plain; charset=utf-8"
        else:
            try:
                status, body, content_type = 200, self.server_of.render(), CONTENT_TYPE_LATEST
            except Exception:  # noqa: BLE001 - answered and logged, never a bare traceback
                log.exception("metrics could not be rendered")
                status, body, content_type = 500, b"metrics could not be rendered\n", \
                    "text/plain; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head_only:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # a scrape every few seconds is no news

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        log.warning("metrics request: " + format, *args)
