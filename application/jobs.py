"""The port for running a background job in one process at a time.

Several processes may share a store (service instances, workers): each background
job (keeping the projections current, the maintenance rounds, delivering the event
subscriptions) should run in one of them, with the others standing by to take over
when it dies. The store decides who holds a job: adapters/runtime/job_locks.py holds
one lock per job and store.

The jobs stay safe to overlap (the projections track what they processed, the
maintenance commands are idempotent, two deliveries of a subscription send repeats
at worst: positions are written only over the state read), so a lock keeps the work
to one process without carrying correctness: a holder cut off from the store may
finish the run it is in while another takes the job.
"""

from __future__ import annotations

from typing import Protocol

PROJECTIONS_JOB = "projections"
MAINTENANCE_JOB = "maintenance"
SUBSCRIPTIONS_JOB = "subscriptions"  # delivering the event subscriptions (push)


class JobLock(Protocol):
    """One job's lock for this process. Never blocks for long: a refused lock is
    tried again later by the caller."""

    def try_acquire(self) -> bool:
        """Take the lock if no other process holds it; True if this process holds
        it now (also when it held it already). False when the store cannot be
        reached."""
        ...

    def holds(self) -> bool:
        """Whether this process still holds the lock, checked against the store (a
        lock can be lost: its connection cut, its holder's session ended)."""
        ...

    def release(self) -> None:
        """Give the lock up, if held, and whatever the lock keeps open."""
        ...
