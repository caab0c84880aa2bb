"""Posting what the simulator pushes: delivery reports and inbound SMS, from one background thread.

What one message causes forms a chain: the next post is not released before the previous one
was posted (or given up). So the reports of a message arrive in the order the rule says,
each in a POST of its own, and a customer's reply comes after the report of the message it
answers. Reports of different messages to the same URL share POSTs; inbound messages go one
per POST.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx

Report = dict[str, Any]


class Kind(Enum):
    """What a post carries, which decides its envelope and how many share one POST."""

    REPORT = "report"  # {"results": [reports...]}, up to batch_size per POST
    INBOUND = "inbound"  # {"results": [one], "messageCount": 1, "pendingMessageCount": 0}


@dataclass(frozen=True)
class Post:
    """One item to push: a delivery report, or an inbound message (an element of `results`)."""

    url: str | None  # None: nobody is pushed to, the report waits to be pulled
    # The item, or what builds it when it falls due: a report held back for a day need
    # not be built while the send request that scheduled it waits for its answer.
    payload: Report | Callable[[], Report]
    delay: float = 0.0  # real seconds from scheduling before it may be posted
    # In a chain, real seconds it waits after the previous post was done (posted or given up).
    gap: float = 0.0
    kind: Kind = Kind.REPORT

    def item(self) -> Report:
        return self.payload() if callable(self.payload) else self.payload


@dataclass
class _Pending:
    post: Post
    later: tuple[tuple[float, Post], ...]  # the chain's next posts, as (earliest due, post)
    attempt: int = 0

    @property
    def url(self) -> str | None:
        return self.post.url


class ReportDispatcher:
    def __init__(
        self,
        *,
        batch_size: int,
        linger: float,
        retry_delays: Sequence[float],
        timeout: float,
        keep_for_pull: Callable[[Report], None],
    ) -> None:
        self._batch_size = max(1, batch_size)
        self._linger = linger
        self._retry_delays = tuple(retry_delays)
        self._keep_for_pull = keep_for_pull
        self._client = httpx.Client(
            timeout=timeout, verify=_tls_context(), headers={"User-Agent": "infobip-simulator"}
        )
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Pending]] = []
        self._sequence = itertools.count()
        self._outstanding = (
            0  # reports scheduled and neither posted nor given up, in flight included
        )
        self._failures = 0
        self._given_up = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="infobip-simulator-reports", daemon=True
        )

    # ------------------------------------------------------------ used by the simulator

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop posting; reports not yet posted are dropped. Returns once the thread has ended."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        self._client.close()

    def schedule(self, chain: Sequence[Post]) -> None:
        """Schedule a chain of posts (one message's reports, then maybe a reply), in order."""
        if not chain or self._stopping.is_set():
            return
        now = time.monotonic()
        timed = tuple((now + post.delay, post) for post in chain)
        (due, first), later = timed[0], timed[1:]
        with self._cond:
            self._outstanding += len(timed)
            self._push(due, _Pending(first, later))

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """True once every scheduled post was posted or given up; False on timeout or stop."""
        with self._cond:
            self._cond.wait_for(lambda: self._outstanding == 0 or self._stopping.is_set(), timeout)
            return self._outstanding == 0

    @property
    def failures(self) -> int:
        """Webhook POSTs that failed (each retry that fails counts again)."""
        with self._cond:
            return self._failures

    @property
    def given_up(self) -> int:
        """Reports and inbound messages dropped after their last retry failed."""
        with self._cond:
            return self._given_up

    # ------------------------------------------------------------ the worker thread

    def _run(self) -> None:
        while True:
            first = self._next_due()
            if first is None:
                return
            if first.url is None:
                self._keep_for_pull(first.post.item())
                with self._cond:
                    self._done([first])
                continue
            kind = first.post.kind
            # Wait a moment so that reports falling due together share a POST, as Infobip's do.
            if self._linger and self._stopping.wait(self._linger):
                return
            room = self._batch_size - 1 if kind is Kind.REPORT else 0
            batch = [first, *self._take_due(first.url, kind, room)]
            body = _envelope(kind, [item.post.item() for item in batch])
            delivered = self._post(first.url, body)
            with self._cond:
                if delivered:
                    self._done(batch)
                else:
                    self._failed(batch)

    def _next_due(self) -> _Pending | None:
        with self._cond:
            while not self._stopping.is_set():
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is not None and wait <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(wait)
            return None

    def _take_due(self, url: str, kind: Kind, limit: int) -> list[_Pending]:
        if limit <= 0:
            return []
        with self._cond:
            now = time.monotonic()
            taken: list[tuple[float, int, _Pending]] = []
            kept: list[tuple[float, int, _Pending]] = []
            while self._heap and self._heap[0][0] <= now:
                entry = heapq.heappop(self._heap)
                wanted = entry[2].url == url and entry[2].post.kind is kind
                (taken if wanted and len(taken) < limit else kept).append(entry)
            for entry in kept:
                heapq.heappush(self._heap, entry)
            return [entry[2] for entry in taken]

    def _post(self, url: str, body: dict[str, Any]) -> bool:
        try:
            target, auth = _split_credentials(url)
            response = self._client.post(
                target,
                content=json.dumps(body),
                headers={"Content-Type": "application/json"},
                # httpx types post()'s auth without None; this client has no auth of its
                # own, so its default is the same as None: no Authorization header.
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
            return response.is_success
        except (
            Exception
        ):  # whatever goes wrong, the POST failed and is retried: the worker must live on
            return False

    # The helpers below run with self._cond held.

    def _push(self, due: float, item: _Pending) -> None:
        heapq.heappush(self._heap, (due, next(self._sequence), item))
        self._cond.notify_all()

    def _done(self, items: list[_Pending]) -> None:
        now = time.monotonic()
        for item in items:
            self._outstanding -= 1
            if item.later:
                (due, post), later = item.later[0], item.later[1:]
                self._push(max(due, now + post.gap), _Pending(post, later))
        self._cond.notify_all()

    def _failed(self, batch: list[_Pending]) -> None:
        self._failures += 1
        now = time.monotonic()
        for item in batch:
            if item.attempt < len(self._retry_delays):
                delay = self._retry_delays[item.attempt]
                item.attempt += 1
                self._push(now + delay, item)
            else:
                self._given_up += 1
                self._done([item])


def _envelope(kind: Kind, items: list[Report]) -> dict[str, Any]:
    if kind is Kind.INBOUND:
        # Pushed messages are never left to pull, so nothing is pending.
        return {"results": items, "messageCount": len(items), "pendingMessageCount": 0}
    return {"results": items}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Building one takes tens of milliseconds, and tests start a simulator per test.
    return httpx.create_ssl_context()


def _split_credentials(url: str) -> tuple[str, httpx.BasicAuth | None]:
    """Move user:secret@ out of the URL into an explicit Basic Authorization header.

    httpx would do the same implicitly; doing it here keeps the credentials out of the
    request URL and makes the behaviour independent of httpx's defaults.
    """
    parsed = httpx.URL(url)
    if not parsed.userinfo:
        return url, None
    return str(parsed.copy_with(userinfo=b"")), httpx.BasicAuth(parsed.username, parsed.password)
