"""The real clock and id source, and a clock that tests and the demo move by hand."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

from smsledger.application.ports import Clock, IdSource


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock(Clock):
    """Stands still until moved, so a scenario can pass four days in a millisecond."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


class OffsetClock(Clock):
    """Real time shifted forward by a growing offset: the demo's fast-forward."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(timezone.utc) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._offset += delta
        return self.now()


class UuidMessageIds(IdSource):
    def new_message_id(self) -> str:
        return uuid.uuid4().hex
