"""A deadline and a size limit for the request head: a connection whose headers do not
complete in time, or grow past MAX_HEAD_BYTES, is answered and closed.

uvicorn times out only idle keep-alive connections, and any byte received cancels
that timer; nothing bounds how long a request's head may take. A client that opens
connections and trickles (or never finishes) its headers would hold each one for
ever, and enough of them exhaust the process's sockets. Here each request head must
be complete within `header_timeout` seconds of the connection opening, or of the
previous answer on a kept-alive connection; trickling does not extend it. A client
that sent part of a head gets a 408 before the close; an idle one is closed quietly,
as uvicorn closes idle keep-alive connections.

The body is not covered: once the head is in, the app reads the body (bounded in
size by the middleware). A body still arriving after its answer (the middleware's 413
for a declared length over the limit) is cut off at the next head's deadline.

httptools, unlike h11, sets no limit on a head's size, and uvicorn adds none: a client
could send hundreds of megabytes of one header (held in memory) or of a URL (joined
piece by piece, in time growing with the square of its length) within the deadline. A
head still incomplete past MAX_HEAD_BYTES gets a 431 and the connection is closed.

Built on uvicorn's httptools protocol (llhttp, in C). On uvicorn's h11 protocol, pure
Python, the served process spent 7% more CPU per callback of 100 reports (6.84 against
6.39 ms, four alternating rounds; README, Scale).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT = 10.0  # seconds; a request head is a few hundred bytes
MAX_HEAD_BYTES = 16 * 1024  # h11's limit, which the service had before httptools


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout = HEADER_TIMEOUT

    _head_deadline: asyncio.TimerHandle | None = None
    _head_begun = False  # a request head's first bytes are in, not its end
    _head_bytes = 0  # the reads since the head began (not the one it began in), in bytes
    _heads = 0  # heads begun on this connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request_head()

    def data_received(self, data: bytes) -> None:
        # A read that began a head may end a body or an earlier head: counted whole, it
        # could refuse a head far below the limit. So a head is counted from the read
        # after the one it began in: at most one read (256 KiB on uvloop) goes uncounted.
        incomplete = self._heads if self._head_begun else None
        super().data_received(data)
        if self._head_begun and self._heads == incomplete:  # the same head, still incomplete
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
                self._refuse(_too_large_answer(), "request head larger than %s bytes; "
                             "closing the connection", MAX_HEAD_BYTES)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_begun = True
        self._head_bytes = 0
        self._heads += 1

    def on_headers_complete(self) -> None:
        self._head_begun = False
        self._cancel_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # Armed first: the call below may start a pipelined request whose head is in
        # (the deadline then finds a request in progress and lets it be).
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

    def _answering(self) -> bool:
        """Whether a request is being answered (its head was in)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self._answering():
            return
        if self._head_begun:
            self._refuse(_timeout_answer(self.header_timeout), "request head not complete "
                         "after %ss; closing the connection", self.header_timeout)
        self.transport.close()

    def _refuse(self, answer: bytes, why: str, *args: object) -> None:
        """Answer a request whose head cannot be read, and close: written past the
        parser, which cannot answer a request it has not read. Not in the middle of
        another answer (a client pipelining a head too large): then only closed."""
        self.logger.warning(why, *args)
        self._cancel_head_deadline()
        if not self._answering():
            self.transport.write(answer)
        self.transport.close()


def with_header_deadline(seconds: float = HEADER_TIMEOUT) -> type[HeaderDeadlineProtocol]:
    """The protocol class for uvicorn's `http` option, with this deadline."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,),
                {"header_timeout": seconds})


def _timeout_answer(seconds: float) -> bytes:
    return _closing_answer(b"408 Request Timeout", "request_timeout",
                           f"the request head did not arrive within {seconds:g} seconds")


def _too_large_answer() -> bytes:
    return _closing_answer(b"431 Request Header Fields Too Large", "request_head_too_large",
                           f"the request head is larger than {MAX_HEAD_BYTES} bytes",
                           {"max_head_bytes": MAX_HEAD_BYTES})


def _closing_answer(status: bytes, code: str, message: str,
                    details: dict[str, object] | None = None) -> bytes:
    body = json.dumps({"error": {"code": code, "details": details or {},
                                 "message": message}}).encode()
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
            + body)
