"""Background work: a job run again and again, every `interval` seconds, in a thread
of its own, until stopped. A failed run is logged and retried at the next one, so
the service's read models and periodic work stay alive through a passing fault.

With a lock (application/jobs.py) the job runs only while this process holds it:
until then the lock is tried every `lock_retry` seconds, and before each run the
lock is checked, so a process that lost it (its connection to the store cut) stops
running the job until it takes the lock again. Taking and losing a job are logged
once each, so the log says which process runs what. An observer, if given, hears of
every run and whether it failed (the service's metrics).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from smsledger.application.jobs import JobLock

log = logging.getLogger("smsledger.background")

LOCK_RETRY_SECONDS = 1.0  # how soon a standby takes over a job whose holder died


class JobObserver(Protocol):
    def job_ran(self, job: str, failed: bool) -> None:
        """A run of `job` ended, raising (`failed`) or not."""


class BackgroundRun:
    def __init__(self, name: str, job: Callable[[], object], interval: float,
                 lock: JobLock | None = None, *,
                 lock_retry: float = LOCK_RETRY_SECONDS,
                 observer: JobObserver | None = None) -> None:
        self.name = name
        self._observer = observer
        self._job = job
        self._interval = interval
        self._lock = lock
        self._lock_retry = lock_retry
        self._held = False
        self._lock_failing = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def holds_job(self) -> bool:
        """Whether the job runs here: always without a lock, else while it is held."""
        return self._lock is None or self._held

    def _loop(self) -> None:
        try:
            while not self._stopping.is_set():
                if not self._may_run():
                    self._stopping.wait(self._lock_retry)
                    continue
                failed = False
                try:
                    self._job()
                except Exception:
                    failed = True
                    log.exception("%s failed; retrying", self.name,
                                  extra={"fields": {"job": self.name}})
                if self._observer is not None:
                    self._observer.job_ran(self.name, failed)
                self._stopping.wait(self._interval)
        finally:
            if self._lock is not None:
                self._release()

    def _may_run(self) -> bool:
        if self._lock is None:
            return True
        try:
            held = self._lock.holds() if self._held else self._lock.try_acquire()
            self._lock_failing = False
        except Exception:
            # A lock that cannot be used (e.g. a lock file in a folder this process may
            # not write) is logged once, not every second, and tried again.
            if not self._lock_failing:
                log.exception("the lock of job %s cannot be taken", self.name)
            self._lock_failing = True
            held = False
        if held != self._held:
            log.info("%s job %s", "took" if held else "lost", self.name,
                     extra={"fields": {"job": self.name}})
        self._held = held
        return held

    def _release(self) -> None:
        assert self._lock is not None
        try:
            self._lock.release()
        except Exception:  # the process is stopping; its end releases the lock anyway
            log.exception("releasing the lock of job %s failed", self.name)
        if self._held:
            log.info("released job %s", self.name, extra={"fields": {"job": self.name}})
        self._held = False

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
