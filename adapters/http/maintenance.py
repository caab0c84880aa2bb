"""The service's periodic work: close waiting windows, expire double opt-ins, and
reconcile messages whose answer or report was lost. Each round is safe to repeat
and to run in several processes at once (commands are idempotent, writes retried)."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from smsledger.adapters.facade import SmsChannel

log = logging.getLogger("smsledger.maintenance")


class Maintenance:
    def __init__(self, channel: SmsChannel, *, interval: float = 60.0,
                 reconcile_after: timedelta = timedelta(minutes=15)) -> None:
        self.channel = channel
        self.interval = interval
        self.reconcile_after = reconcile_after
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="maintenance", daemon=True)

    def run_once(self) -> dict[str, int]:
        closed = self.channel.close_due_windows()
        settled = self.channel.reconcile(self.reconcile_after)
        return {"windows_closed": closed, "reconciled": settled.applied}

    def start(self) -> Maintenance:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                done = self.run_once()
                log.info("maintenance", extra={"fields": done})
            except Exception:  # a failed round is retried at the next one
                log.exception("maintenance round failed")
