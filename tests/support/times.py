"""The moment the tests' manual clocks start at, and a manual monotonic clock."""

from datetime import datetime, timezone

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


class ManualMonotonic:
    """A monotonic clock (seconds) that moves only when told: what time.monotonic is
    to code that measures intervals, such as the rate limiter's buckets."""

    def __init__(self, start: float = 1000.0) -> None:
        self.seconds = start

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds
