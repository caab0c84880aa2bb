"""Running an ASGI app with uvicorn in a background thread.

The socket is bound first, so port 0 gives a free port whose address is known
before the app is built (the app needs it: it tells Infobip where to call back).
Request heads have a deadline, as in `smsledger serve` (header_deadline).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from smsledger.adapters.http.header_deadline import HEADER_TIMEOUT, with_header_deadline


class BackgroundServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 header_timeout: float = HEADER_TIMEOUT, *, nodelay: bool = True) -> None:
        # Without TCP_NODELAY every keep-alive answer waits for the client's delayed ACK
        # (~40 ms): uvicorn writes the head and the body apart. uvloop sets it on every TCP
        # connection, asyncio's loop on those accepted from a socket that says TCP
        # (IPPROTO_TCP, not 0). Without `nodelay` (`bench ingest --keep-nagle`, to show
        # what it costs) neither: a socket of protocol 0, on asyncio's loop.
        self._loop = "auto" if nodelay else "asyncio"
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM,
                                     socket.IPPROTO_TCP if nodelay else 0)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        self._header_timeout = header_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, app: Any, timeout: float = 10.0) -> BackgroundServer:
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                http=with_header_deadline(self._header_timeout),
                                loop=self._loop)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run,
                                        kwargs={"sockets": [self._socket]}, daemon=True,
                                        name=f"http-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"HTTP server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
