"""Background work: a job run again and again, every `interval` seconds, in a thread
of its own, until stopped. A failed run is logged and retried at the next one, so
the service's read models and periodic work stay alive through a passing fault."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("smsledger.background")


class BackgroundRun:
    def __init__(self, name: str, job: Callable[[], object], interval: float) -> None:
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(name, job, interval),
                                        name=name, daemon=True)
        self._thread.start()

    def _loop(self, name: str, job: Callable[[], object], interval: float) -> None:
        while not self._stopping.is_set():
            try:
                job()
            except Exception:
                log.exception("%s failed; retrying", name)
            self._stopping.wait(interval)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
