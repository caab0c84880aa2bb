"""BackgroundRun with a job lock (application/background.py): the job runs only while
the lock is held, stops when it is lost, resumes when it is taken again; taking and
losing are logged once each; stopping gives the lock up."""

from __future__ import annotations

import logging
import time

from smsledger.application.background import BackgroundRun
from support.waiting import wait_for


class ScriptedLock:
    """A JobLock the test opens and closes: `available` says whether another process
    leaves it to this one."""

    def __init__(self, available: bool) -> None:
        self.available = available
        self.held = False
        self.released = 0

    def try_acquire(self) -> bool:
        self.held = self.available
        return self.held

    def holds(self) -> bool:
        self.held = self.held and self.available
        return self.held

    def release(self) -> None:
        self.held = False
        self.released += 1


class CountedJob:
    def __init__(self) -> None:
        self.runs = 0  # written by the run's thread alone

    def __call__(self) -> None:
        self.runs += 1

    def runs_after(self, seconds: float) -> int:
        """How many times the job ran in the next `seconds`."""
        before = self.runs
        time.sleep(seconds)
        return self.runs - before


def job_messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "smsledger.background"]


def test_a_job_runs_only_while_its_lock_is_held(caplog):
    caplog.set_level(logging.INFO, logger="smsledger.background")
    lock, job = ScriptedLock(available=False), CountedJob()
    run = BackgroundRun("projections", job, 0.01, lock, lock_retry=0.01)
    try:
        assert job.runs_after(0.2) == 0 and not run.holds_job  # another process holds it
        lock.available = True
        wait_for(lambda: job.runs >= 3, timeout=5, what="the job to run once the lock is free")
        assert run.holds_job
        lock.available = False  # lost: e.g. its connection to the store was cut
        wait_for(lambda: not run.holds_job, timeout=5, what="the lost lock to be noticed")
        assert job.runs_after(0.2) == 0
        lock.available = True
        wait_for(lambda: job.runs_after(0.05) > 0, timeout=5, what="the job to run again")
    finally:
        run.stop()
    assert lock.released == 1 and not lock.held
    assert job_messages(caplog) == ["took job projections", "lost job projections",
                                    "took job projections", "released job projections"]


def test_without_a_lock_the_job_runs_at_once_and_again():
    job = CountedJob()
    run = BackgroundRun("maintenance", job, 0.01)
    try:
        wait_for(lambda: job.runs >= 3, timeout=5, what="the job to run")
        assert run.holds_job
    finally:
        run.stop()


def test_a_lock_that_fails_is_logged_once_and_tried_again(caplog):
    caplog.set_level(logging.INFO, logger="smsledger.background")

    class BrokenThenFine(ScriptedLock):
        failures = 5

        def try_acquire(self) -> bool:
            if self.failures:
                self.failures -= 1
                raise PermissionError("cannot open the lock file")
            return super().try_acquire()

    lock, job = BrokenThenFine(available=True), CountedJob()
    run = BackgroundRun("maintenance", job, 0.01, lock, lock_retry=0.01)
    try:
        wait_for(lambda: job.runs > 0, timeout=5, what="the job to run once the lock works")
    finally:
        run.stop()
    assert job_messages(caplog) == ["the lock of job maintenance cannot be taken",
                                    "took job maintenance", "released job maintenance"]
