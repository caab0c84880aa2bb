"""`serve --pin-cpus`: each HTTP process on a CPU of its own, the background process
on the others.

An HTTP process runs its requests in threads that take turns at one interpreter lock,
so it never uses more than about one core. Left to the kernel, its threads are spread
over the cores, and a hand-over of the lock between threads on two cores wakes the
other core, which costs more than the hand-over itself: pinned, the same process
serves more on the same machine (measured: README, Performance, "Scale").

Opt-in, because it is only right where this serve's processes are alone on the CPUs
they may use (a host or VM of their own, or a container given CPUs of its own, a
cpuset): several serves on one machine would all pin their first process to the same
CPU. The CPUs are those the process may run on (os.sched_getaffinity), so a cpuset is
respected. More HTTP processes than CPUs are refused: two pinned to one CPU would
each get half of it, and the kernel could not move either.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

log = logging.getLogger("smsledger.runtime")


class CannotPin(RuntimeError):
    """The processes cannot be pinned as asked; the message says why."""


@dataclass(frozen=True)
class CpuPlan:
    """Which CPUs each of serve's processes may run on: `http[i]` for HTTP process i,
    `background` for the background process (None: every CPU, when the HTTP processes
    have taken them all)."""

    http: tuple[frozenset[int], ...]
    background: frozenset[int] | None

    @classmethod
    def for_workers(cls, workers: int, available: set[int] | None = None) -> CpuPlan:
        """HTTP process i on the i-th available CPU, the background process on the CPUs
        left over; CannotPin when there are more HTTP processes than CPUs."""
        if available is None:
            available = _available_cpus()
        cpus = sorted(available)
        if workers > len(cpus):
            raise CannotPin(
                f"--pin-cpus with {workers} HTTP processes on {len(cpus)} CPU(s): two would "
                f"share a CPU the kernel could not move them from; run at most {len(cpus)} "
                "(--workers) or leave --pin-cpus out")
        http = tuple(frozenset({cpu}) for cpu in cpus[:workers])
        return cls(http, frozenset(cpus[workers:]) or None)


def pin_this_process(cpus: frozenset[int] | None, *, role: str) -> None:
    """Run this process, and every thread it starts from now on, on `cpus` (None: leave
    it as it is); logged. Call it before the process starts threads: the threads
    already running keep the CPUs they had. CannotPin if the kernel refuses (the CPUs
    allowed changed since the plan was made)."""
    if cpus is None:
        return
    try:
        os.sched_setaffinity(0, cpus)
    except OSError as error:
        raise CannotPin(f"cannot pin the {role} process to CPU(s) {sorted(cpus)}: "
                        f"{error.strerror}") from None
    log.info("pinned to CPUs", extra={"fields": {"cpus": sorted(cpus), "role": role}})


def _available_cpus() -> set[int]:
    if not hasattr(os, "sched_setaffinity") or not sys.platform.startswith("linux"):
        raise CannotPin("--pin-cpus needs Linux (sched_setaffinity)")
    return set(os.sched_getaffinity(0))
