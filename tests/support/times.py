"""The moment the tests' manual clocks start at."""

from datetime import datetime, timezone

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
