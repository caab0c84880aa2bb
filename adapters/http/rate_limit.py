"""Per-project request limits on the client API: a token bucket per project.

`SMSLEDGER_RATE_LIMIT_PER_SECOND` (Settings.rate_limit_per_second) requests per second
per project, with a burst of the same size (at least one request); 0 turns it off.
The service middleware takes a token for every client-API request once its caller is
authenticated (adapters/http/middleware.py), so requests without a valid token neither
count nor can exhaust another project's bucket. Infobip's webhooks
(/v1/webhooks/infobip/...) are never limited: refusing a callback only makes Infobip
retry it later, and the reports must be stored.

A refused request is answered 429 `rate_limited` with `Retry-After`; every answer of
a limited request carries `RateLimit-Limit`, `RateLimit-Remaining` and
`RateLimit-Reset`, the separate fields of draft-ietf-httpapi-ratelimit-headers (-06).

The buckets live in the process: with several workers (`serve --workers`) or hosts
each process limits on its own, so a project may get up to that many times the rate.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smsledger.adapters.http.schemas import ErrorOut

# Whoever is rate-limited: the client API, where the middleware authenticates a
# project's token. Webhooks are under /v1/webhooks/ and are not.
CLIENT_API_PREFIX = "/v1/projects/"

# A full bucket is the same as none: buckets are dropped once full, this often.
SWEEP_SECONDS = 60.0

# Float arithmetic may leave 0.2 s as 0.20000000000000004: not a reason to ask a
# client to wait a whole second more.
_ROUNDING = 1e-9


def is_client_api(path: str) -> bool:
    return path.startswith(CLIENT_API_PREFIX)


@dataclass(frozen=True)
class Decision:
    """One request's turn: whether it passes, and what the headers tell the client."""

    allowed: bool
    limit: int  # the burst, in whole requests
    remaining: int  # whole requests that would pass now
    reset: int  # seconds until the bucket is full again, rounded up
    retry_after: int  # seconds until a request passes again, rounded up; 0 when allowed

    def headers(self) -> dict[str, str]:
        headers = {"RateLimit-Limit": str(self.limit),
                   "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class RateLimiter:
    """Token buckets by key (a project id), refilled at `per_second`, holding at most
    `per_second` tokens (at least one, so a rate below 1/s still lets a request
    through). Thread-safe. `clock` is monotonic seconds (tests pass their own)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not per_second > 0:
            raise ValueError(f"per_second must be above 0, not {per_second!r}")
        self.per_second = per_second
        self.capacity = max(1.0, per_second)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self._swept = clock()

    def take(self, key: str) -> Decision:
        """Take one token from `key`'s bucket if it has one."""
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.capacity, now)
            else:
                self._refill(bucket, now)
            allowed = bucket.tokens >= 1.0 - _ROUNDING
            if allowed:
                bucket.tokens = max(0.0, bucket.tokens - 1.0)
            decision = Decision(
                allowed=allowed, limit=int(self.capacity),
                remaining=int(bucket.tokens + _ROUNDING),
                reset=self._seconds(self.capacity - bucket.tokens),
                retry_after=0 if allowed else max(1, self._seconds(1.0 - bucket.tokens)))
            if now - self._swept >= SWEEP_SECONDS:
                self._sweep(now)
            return decision

    def tracked(self) -> int:
        """How many buckets are held (full ones are dropped from time to time)."""
        with self._lock:
            return len(self._buckets)

    def _refill(self, bucket: _Bucket, now: float) -> None:
        elapsed = max(0.0, now - bucket.updated)
        bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.per_second)
        bucket.updated = now

    def _seconds(self, tokens: float) -> int:
        """Whole seconds, rounded up, until `tokens` more have been refilled."""
        return max(0, math.ceil(tokens / self.per_second - _ROUNDING))

    def _sweep(self, now: float) -> None:
        # A project that stopped calling would otherwise keep its bucket for ever.
        for key, bucket in list(self._buckets.items()):
            self._refill(bucket, now)
            if bucket.tokens >= self.capacity:
                del self._buckets[key]
        self._swept = now


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


# The 429 of every rate-limited operation, for the OpenAPI document (app.py adds it to
# the client API's routers).
RATE_LIMITED_RESPONSES: dict[int | str, dict[str, Any]] = {429: {
    "model": ErrorOut,
    "description": "rate_limited: the project sent more requests than its rate limit "
                   "(SMSLEDGER_RATE_LIMIT_PER_SECOND, per process); retry after "
                   "`Retry-After` seconds",
    "headers": {
        "Retry-After": _header("seconds until a request passes again"),
        "RateLimit-Limit": _header("the burst: requests that may be sent at once"),
        "RateLimit-Remaining": _header("requests that would pass now: 0"),
        "RateLimit-Reset": _header("seconds until the full burst is available again"),
    }}}
