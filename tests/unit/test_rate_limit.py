"""The rate limiter's token buckets (adapters/http/rate_limit.py), on a manual clock:
a burst of the rate's size, refilled continuously, one bucket per project, the
headers' numbers rounded as the client needs them, and safe across threads."""

from __future__ import annotations

import threading

import pytest

from smsledger.adapters.http.rate_limit import SWEEP_SECONDS, RateLimiter
from smsledger.adapters.runtime.config import ConfigurationError, load_settings
from support.times import ManualMonotonic


def takes(limiter: RateLimiter, key: str, count: int) -> list[bool]:
    return [limiter.take(key).allowed for _ in range(count)]


def test_a_burst_of_the_rate_passes_and_the_next_request_waits():
    clock = ManualMonotonic()
    limiter = RateLimiter(5, clock=clock)
    decisions = [limiter.take("acme") for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert all(d.limit == 5 for d in decisions)
    refused = decisions[-1]
    # One token comes back every 0.2 s: a whole second, rounded up, to wait; the
    # bucket is full again after 1 s.
    assert (refused.retry_after, refused.reset) == (1, 1)
    assert refused.headers() == {"RateLimit-Limit": "5", "RateLimit-Remaining": "0",
                                 "RateLimit-Reset": "1", "Retry-After": "1"}
    assert "Retry-After" not in decisions[0].headers()


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst():
    clock = ManualMonotonic()
    limiter = RateLimiter(5, clock=clock)
    assert takes(limiter, "acme", 6) == [True] * 5 + [False]
    clock.advance(0.2)  # one token
    assert takes(limiter, "acme", 2) == [True, False]
    clock.advance(3600)  # idle for an hour: still only a burst of 5
    assert takes(limiter, "acme", 6) == [True] * 5 + [False]


def test_waiting_as_retry_after_says_lets_the_request_through():
    clock = ManualMonotonic()
    limiter = RateLimiter(3, clock=clock)
    takes(limiter, "acme", 3)
    refused = limiter.take("acme")
    assert not refused.allowed and refused.retry_after == 1
    clock.advance(refused.retry_after)
    assert limiter.take("acme").allowed


def test_each_project_has_a_bucket_of_its_own():
    limiter = RateLimiter(2, clock=ManualMonotonic())
    assert takes(limiter, "acme", 3) == [True, True, False]
    assert takes(limiter, "globex", 3) == [True, True, False]


def test_a_rate_below_one_per_second_still_lets_one_request_through_and_says_how_long():
    clock = ManualMonotonic()
    limiter = RateLimiter(0.25, clock=clock)  # one request every 4 s
    assert takes(limiter, "acme", 2) == [True, False]
    refused = limiter.take("acme")
    assert (refused.limit, refused.retry_after, refused.reset) == (1, 4, 4)
    clock.advance(3.9)
    assert not limiter.take("acme").allowed
    clock.advance(0.1)
    assert limiter.take("acme").allowed


def test_a_fractional_rate_rounds_the_headers_for_the_client():
    clock = ManualMonotonic()
    limiter = RateLimiter(2.5, clock=clock)
    first = limiter.take("acme")
    assert (first.limit, first.remaining, first.reset) == (2, 1, 1)  # 1.5 left, 0.4 s to full
    limiter.take("acme")
    refused = limiter.take("acme")  # 0.5 left: 0.2 s until the next token
    assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 0, 1)


def test_buckets_that_filled_up_again_are_dropped():
    clock = ManualMonotonic()
    limiter = RateLimiter(1, clock=clock)
    for project in range(100):
        limiter.take(f"project-{project}")
    assert limiter.tracked() == 100
    clock.advance(SWEEP_SECONDS)
    limiter.take("busy")
    limiter.take("busy")
    # The idle projects' buckets are full again, as good as new; the busy one is kept.
    assert limiter.tracked() == 1
    assert not limiter.take("busy").allowed


def test_concurrent_takes_never_hand_out_more_than_the_burst():
    limiter = RateLimiter(50, clock=ManualMonotonic())  # the clock stands still
    allowed: list[bool] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        allowed.extend(takes(limiter, "acme", 25))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 200 and allowed.count(True) == 50


def test_a_limiter_needs_a_positive_rate():
    with pytest.raises(ValueError, match="above 0"):
        RateLimiter(0)


def test_the_setting_is_off_by_default_and_named_when_invalid(monkeypatch):
    assert load_settings().rate_limit_per_second == 0
    monkeypatch.setenv("SMSLEDGER_RATE_LIMIT_PER_SECOND", "7.5")
    assert load_settings().rate_limit_per_second == 7.5
    for bad in ("-1", "inf", "many"):
        monkeypatch.setenv("SMSLEDGER_RATE_LIMIT_PER_SECOND", bad)
        with pytest.raises(ConfigurationError, match="rate_limit_per_second"):
            load_settings()
