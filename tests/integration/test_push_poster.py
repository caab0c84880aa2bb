"""HttpPoster (adapters/push/poster.py) against a receiver on loopback: 2xx is success,
anything else a failure in words for the admin; redirects are not followed, a slow
receiver is given up on after the timeout, and the address rule holds at the
connection."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from smsledger.adapters.infobip.addresses import ProviderAddresses
from smsledger.adapters.push.poster import HttpPoster

HEADERS = {"content-type": "application/json", "webhook-id": "msg_1"}


class Handler(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes, dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {name.lower(): value for name, value in self.headers.items()}
        Handler.received.append((self.path, body, headers))
        if self.path == "/slow":
            time.sleep(1.5)
        status, extra, text = {
            "/ok": (204, {}, b""),
            "/moved": (301, {"Location": "https://elsewhere.example/h"}, b""),
            "/broken": (500, {}, b"invalid   signature\n" + b"x" * 5000),
        }.get(self.path, (200, {}, b""))
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def poster():
    made = HttpPoster(ProviderAddresses(allow_private_networks=True), timeout=0.5)
    yield made
    made.close()


def test_a_2xx_is_success_and_the_request_is_sent_as_given(receiver, poster):
    assert poster.post(f"{receiver}/ok", b'{"events": []}', HEADERS) is None
    path, body, headers = Handler.received[-1]
    assert (path, body, headers["webhook-id"]) == ("/ok", b'{"events": []}', "msg_1")
    assert headers["user-agent"].startswith("smsledger-webhooks/")


def test_another_status_is_a_failure_with_the_start_of_the_answer(receiver, poster):
    error = poster.post(f"{receiver}/broken", b"{}", HEADERS)
    assert error.startswith("the receiver answered HTTP 500: 'invalid signature xxx")
    assert len(error) < 300


def test_a_redirect_is_not_followed_and_names_where_it_pointed(receiver, poster):
    count = len(Handler.received)
    error = poster.post(f"{receiver}/moved", b"{}", HEADERS)
    assert "HTTP 301" in error and "'https://elsewhere.example/h'" in error
    assert "not followed" in error and len(Handler.received) == count + 1


def test_a_slow_receiver_is_given_up_on_after_the_timeout(receiver, poster):
    started = time.monotonic()
    assert poster.post(f"{receiver}/slow", b"{}", HEADERS) == "no answer within 0.5 s (ReadTimeout)"
    assert time.monotonic() - started < 1.4


def test_nothing_listening_is_a_failure_too(poster):
    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as closed:
        port = closed.server_address[1]  # closed on leaving: nothing listens there
    assert poster.post(f"http://127.0.0.1:{port}/ok", b"{}", HEADERS) == (
        "could not reach the receiver (ConnectError)")


def test_a_private_address_is_refused_at_the_connection_without_sending(receiver):
    public_only = HttpPoster(ProviderAddresses(allow_private_networks=False), timeout=0.5)
    count = len(Handler.received)
    try:
        error = public_only.post(f"{receiver}/ok", b"{}", HEADERS)
    finally:
        public_only.close()
    assert error.startswith("not sent: '127.0.0.1' resolves to a non-public address")
    assert len(Handler.received) == count
