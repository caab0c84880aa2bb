"""The service's periodic work: a round of SmsChannel.run_maintenance every
`interval` seconds (the same round as `smsledger maintenance --once`). Each round is
safe to repeat and to run in several processes at once (commands are idempotent,
writes retried)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from smsledger.adapters.facade import SmsChannel

log = logging.getLogger("smsledger.maintenance")


class Maintenance:
    def __init__(self, channel: SmsChannel, *, interval: float = 60.0) -> None:
        self.channel = channel
        self.interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="maintenance", daemon=True)

    def run_once(self) -> dict[str, Any]:
        return self.channel.run_maintenance()

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
