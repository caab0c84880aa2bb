"""How far each projection is behind the store: events and seconds.

Events behind: the notifications of the projection's topics after its view's position,
counted up to COUNT_LIMIT (a view further behind shows the limit). Store-wide truth,
whichever process asks and whichever process runs the projections.

Seconds behind: how long the oldest of those events has been waiting. The store
keeps no time of storing (an event's own timestamp is the domain's: a delivery
report is dated by Infobip's doneAt, hours back for a late one), so each measurement
also notes the store's head, and an event is known to have been stored no later than
the first measurement whose head reached it. Seconds behind are therefore a lower
bound, short by at most the interval between measurements (a Prometheus scrape);
0 when nothing waits.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smsledger.application.projection_runner import ProjectionRunner

COUNT_LIMIT = 10_000
_HEADS_KEPT = 10_000  # measurements remembered: hours of scrapes


@dataclass(frozen=True)
class Lag:
    events: int
    seconds: float


class LagWatch:
    def __init__(self, runner: ProjectionRunner,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runner = runner
        self.clock = clock
        self._heads: deque[tuple[float, int]] = deque(maxlen=_HEADS_KEPT)  # (when, head)

    def measure(self) -> dict[str, Lag]:
        """Each projection's lag now, by name."""
        now = self.clock()
        recorder: Any = self.runner.recorder
        self._heads.append((now, recorder.max_notification_id() or 0))
        store = self.runner.store
        lags = {}
        for name, projection in self.runner.projections.items():
            position = store.position(store.live_view(name))
            waiting = recorder.select_notifications(
                start=position, limit=COUNT_LIMIT, topics=projection.topics,
                inclusive_of_start=False)
            lags[name] = Lag(len(waiting), now - self._stored_by(waiting[0].id)
                             if waiting else 0.0)
        return lags

    def _stored_by(self, notification_id: int) -> float:
        """When the first measurement that saw this notification in the store was made."""
        # A copy: scrapes measure in threads of their own, and a deque appended to by
        # another thread cannot be iterated meanwhile.
        heads = list(self._heads)
        return next((when for when, head in heads if head >= notification_id),
                    heads[-1][0])  # stored since this measurement began
