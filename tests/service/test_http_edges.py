"""HTTP at its edges, over real sockets on loopback: a 405 says which methods the path
allows, and a connection whose request head never completes is closed after the
deadline, trickling or silent, fresh or kept alive, and one whose head grows past
MAX_HEAD_BYTES is answered 431 and closed at once."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.header_deadline import MAX_HEAD_BYTES
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.runtime.config import load_settings

HEAD_DEADLINE = 2.0  # seconds, for the tests; `smsledger serve` uses HEADER_TIMEOUT
BOUND = HEAD_DEADLINE + 4.0  # when a connection must be closed by, at the latest


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The service on SQLite (the store plays no part here), with a short deadline:
    its URL and acme's admin token."""
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('edges')}/store.db",
        secret_key="edge-tests-0123456789abcdef")
    with BackgroundServer(header_timeout=HEAD_DEADLINE) as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        try:
            server.start(create_app(ServiceContext.serving(channel, server.url, settings)))
            yield server.url, channel.projects.create_project("acme")
        finally:
            server.stop()
            channel.close()


# --- 405 ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/healthz", {"GET"}),
    ("GET", "/v1/webhooks/infobip/acme/infobip/delivery-reports", {"POST"}),
    ("PATCH", "/v1/projects/acme/messages", {"POST"}),
])
def test_a_405_names_the_allowed_methods(served, method, path, allowed):
    url, token = served
    answer = httpx.request(method, url + path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 405, answer.text
    assert {m.strip() for m in answer.headers["allow"].split(",")} >= allowed
    assert answer.json()["error"]["code"] == "method_not_allowed"


# --- the request head's deadline ---------------------------------------------------------

@pytest.fixture
def url(served) -> str:
    return served[0]


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)), timeout=BOUND)
    return client


def closed_after(client: socket.socket, trickle: bytes = b"", pause: float = 0.05
                 ) -> tuple[float, bytes]:
    """Seconds until the server closes the connection, and what it said before.
    `trickle`: sent a byte every `pause` seconds meanwhile, as a slow client would."""
    started = time.monotonic()
    received = b""
    client.settimeout(pause if trickle else BOUND)
    pending = iter(trickle)
    while time.monotonic() - started < BOUND:
        byte = next(pending, None)
        if byte is not None:
            try:
                client.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            chunk = client.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return time.monotonic() - started, received


def test_a_connection_that_sends_nothing_is_closed_after_the_deadline(url):
    with connect(url) as client:
        seconds, said = closed_after(client)
    assert HEAD_DEADLINE * 0.9 <= seconds < BOUND
    assert said == b""  # nothing was asked: closed quietly


def test_a_trickled_head_is_closed_at_the_deadline_not_kept_alive_by_each_byte(url):
    endless_head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 500
    with connect(url) as client:
        seconds, said = closed_after(client, trickle=endless_head)
    assert HEAD_DEADLINE * 0.9 <= seconds < BOUND
    assert said.startswith(b"HTTP/1.1 408 ")
    assert b'"code": "request_timeout"' in said


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_head(url):
    with connect(url) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = b""
        while b'{"status":"ok"}' not in first:
            first += client.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        next_head = b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 500
        seconds, said = closed_after(client, trickle=next_head)
    assert seconds < BOUND
    assert said.startswith(b"HTTP/1.1 408 ")


def test_a_complete_head_is_answered_however_slowly_it_came_within_the_deadline(url):
    with connect(url) as client:
        _, said = closed_after(
            client, trickle=b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            pause=0.005)  # ~0.3 s in all
    assert said.startswith(b"HTTP/1.1 200 ") and said.endswith(b'{"status":"ok"}'), said


def test_pipelined_requests_are_each_answered_and_the_next_head_has_its_deadline(url):
    """Heads sent together, before any answer: each is answered in turn (a head already
    in is not timed out while the one before it is answered), then the connection waits
    for a next head no longer than the deadline."""
    with connect(url) as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        seconds, said = closed_after(client)
    assert said.count(b"HTTP/1.1 200 ") == 3, said
    assert said.count(b'{"status":"ok"}') == 3
    assert HEAD_DEADLINE * 0.9 <= seconds < BOUND


def _refused_at_once(url: str, head_start: bytes, filler: bytes) -> tuple[float, bytes]:
    """Send `head_start` and then 1 MiB of `filler` (a head that never ends) as fast as
    the server takes it; seconds until the server closed, and what it said."""
    with connect(url) as client:
        started = time.monotonic()
        try:
            client.sendall(head_start + filler * (1024 * 1024 // len(filler)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused while we were still sending
        _, said = closed_after(client)
    return time.monotonic() - started, said


@pytest.mark.parametrize("where", ["header", "url"])
def test_a_head_past_the_size_limit_is_refused_at_once(url, where):
    """httptools, unlike h11, bounds no head: without the limit a client could send
    hundreds of megabytes of one header (held in memory) or of a URL within the deadline."""
    head_start = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " if where == "header"
                  else b"GET /healthz?q=")
    seconds, said = _refused_at_once(url, head_start, b"a" * 1024)
    assert seconds < HEAD_DEADLINE * 0.9  # refused for its size, not at the deadline
    assert said.startswith(b"HTTP/1.1 431 "), said[:200]
    assert b'"code": "request_head_too_large"' in said
    assert str(MAX_HEAD_BYTES).encode() in said


def test_a_head_within_the_limit_and_a_large_body_are_answered(url):
    """The limit counts an incomplete head's bytes, not a body's: a head of 12 KiB is
    answered, and so is a request after a 200 KiB body on the same connection."""
    big_head = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 12 * 1024
                + b"\r\n\r\n")
    body = b"x" * 200 * 1024
    post = (b"POST /v1/webhooks/infobip/acme/infobip/delivery-reports HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with connect(url) as client:
        client.sendall(big_head + post + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        _, said = closed_after(client)
    assert said.count(b"HTTP/1.1 200 ") == 2, said[:500]
    assert said.count(b"HTTP/1.1 401 ") == 1  # the webhook without credentials
