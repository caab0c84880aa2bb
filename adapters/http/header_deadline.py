"""A deadline for the request head: a connection whose headers do not complete in
time is closed.

uvicorn times out only idle keep-alive connections, and any byte received cancels
that timer; nothing bounds how long a request's head may take. A client that opens
connections and trickles (or never finishes) its headers would hold each one for
ever, and enough of them exhaust the process's sockets. Here each request head must
be complete within `header_timeout` seconds of the connection opening, or of the
previous answer on a kept-alive connection; trickling does not extend it. A client
that sent part of a head gets a 408 before the close; an idle one is closed quietly,
as uvicorn closes idle keep-alive connections.

The body is not covered: once the head is in, the app reads the body (bounded in
size by the middleware).
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT = 10.0  # seconds; a request head is a few hundred bytes


class HeaderDeadlineH11Protocol(H11Protocol):
    header_timeout = HEADER_TIMEOUT

    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request_head()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the head is in (or the request failed)
            self._cancel_head_deadline()

    def on_response_complete(self) -> None:
        # Armed first: the call below reads a pipelined request's head at once, if any
        # (handle_events then cancels this).
        self._await_request_head()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _await_request_head(self) -> None:
        self._cancel_head_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        received, _ = self.conn.trailing_data  # bytes of a head not complete yet
        if received:
            self.logger.warning("request head not complete after %ss; closing the connection",
                                self.header_timeout)
            # Written past h11, which cannot answer a request it has not read; the
            # connection closes right after.
            self.transport.write(_timeout_answer(self.header_timeout))
        self.transport.close()


def with_header_deadline(seconds: float = HEADER_TIMEOUT) -> type[HeaderDeadlineH11Protocol]:
    """The protocol class for uvicorn's `http` option, with this deadline."""
    return type("HeaderDeadlineH11Protocol", (HeaderDeadlineH11Protocol,),
                {"header_timeout": seconds})


def _timeout_answer(seconds: float) -> bytes:
    body = json.dumps({"error": {
        "code": "request_timeout", "details": {},
        "message": f"the request head did not arrive within {seconds:g} seconds"}}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
            + body)
