"""Infobip's side of the HTTP ingest benchmark: concurrent webhook senders.

They run in a process of their own, as Infobip runs on machines of its own: sender
threads inside the service's process would take the service's interpreter lock for
their own HTTP work (a third of the samples when they did) and the figure would be
the sum of both sides' Python, not the service's throughput. The child is started
and handed its request bodies before the clock starts; the measurement is from
"go" to the last answer.

They post with the standard library's http.client, one kept-alive connection per
thread: on two cores the senders share the machine with the service and the
database, and httpx took half as much CPU again for the same requests (45% of a core
against 30%), CPU the service then lacked (another machine, as Infobip is, would not
take it).
"""

from __future__ import annotations

import base64
import http.client
import json
import multiprocessing
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from urllib.parse import urlsplit

from smsledger.adapters.bench.common import Stopwatch, measuring
from smsledger.adapters.bench.profiling import now


@dataclass
class Posted:
    latencies: list[float]
    applied: int
    failure: str | None


def post_concurrently(url: str, path: str, auth: tuple[str, str], bodies: Sequence[bytes],
                      concurrency: int) -> Posted:
    """POST every body, `concurrency` at a time (one kept-alive connection per thread)."""
    lock = threading.Lock()
    next_index = [0]
    latencies: list[float] = []
    applied = [0]
    failures: list[str] = []
    address = urlsplit(url)
    credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"}

    def sender() -> None:
        connection = http.client.HTTPConnection(address.hostname or "127.0.0.1",
                                                address.port, timeout=60)
        try:
            connection.connect()
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= len(bodies) or failures:
                    return
                started = now()
                try:
                    # A bytes body goes out with the head in one send (no Nagle delay).
                    connection.request("POST", path, body=bodies[index], headers=headers)
                    answer = connection.getresponse()
                    text = answer.read()
                except (OSError, http.client.HTTPException) as exc:  # named in the report
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                    return
                took = now() - started
                with lock:
                    if answer.status != 200:
                        failures.append(f"HTTP {answer.status}: {text[:300]!r}")
                        return
                    latencies.append(took)
                    applied[0] += json.loads(text)["applied"]
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, name=f"sender-{i}") for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Posted(latencies, applied[0], failures[0] if failures else None)


class SenderProcess:
    """A child process that posts the bodies it is given when told to go."""

    def __init__(self, url: str, path: str, auth: tuple[str, str], concurrency: int) -> None:
        self.concurrency = concurrency
        context = multiprocessing.get_context("spawn")  # no copy of the service's state
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, url, path, auth,
                                                             concurrency), daemon=True)
        self._process.start()
        child_end.close()

    def load(self, bodies: Sequence[bytes]) -> None:
        """Hand over the bodies (not timed); returns once the child holds them."""
        self._conn.send(list(bodies))
        if self._conn.recv() != "ready":
            raise RuntimeError("sender process did not get ready")

    def go(self) -> Posted:
        """Post the loaded bodies; returns when the last answer is in."""
        self._conn.send("go")
        posted: Posted = self._conn.recv()
        if posted.failure:
            raise RuntimeError(f"webhook failed: {posted.failure}")
        return posted

    def timed(self, bodies: Sequence[bytes]) -> tuple[Posted, Stopwatch]:
        """Warm up (untimed: one empty callback per sender; the first requests build the
        framework's per-route state), then post `bodies`, timed from "go" to the last
        answer."""
        self.load([b'{"results": []}'] * self.concurrency)
        self.go()  # raises, naming the failure, if any request failed
        self.load(bodies)
        with measuring() as watch:
            posted = self.go()
        return posted, watch

    def close(self) -> None:
        try:
            self._conn.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()


def _serve(conn: Connection, url: str, path: str, auth: tuple[str, str],
           concurrency: int) -> None:
    while True:
        bodies = conn.recv()
        if bodies is None:
            return
        conn.send("ready")
        if conn.recv() != "go":
            return
        conn.send(post_concurrently(url, path, auth, bodies, concurrency))
