"""`serve --pin-cpus`: each HTTP process on a CPU of its own, the background process
on the others.

An HTTP process runs its requests in threads that take turns at one interpreter lock,
so it never uses more than about one core. Left to the kernel, its threads are spread
over the cores, and a hand-over of the lock between threads on two cores wakes the
other core. Measured on 2 cores with PostgreSQL, three alternating rounds of 30,000
reports, `serve` with its background process, 8 senders: not pinned, the HTTP process
spent 8.2 to 9.6 ms of CPU per callback of 100 reports and served 8,210 to 10,039
reports/s; pinned (the background process on the other CPU), 7.5 to 8.3 ms and 10,801
to 11,718 reports/s, the feed complete 0.58 to 0.81 s after the last answer (0.37 to
0.49 s not pinned: pinned, the background process has one CPU, which it shares with
PostgreSQL, and more reports to follow).

Opt-in, because it is only right where this serve's processes are alone on the CPUs
they may use (a host or VM of their own, or a container given CPUs of its own, a
cpuset): several serves on one machine would all pin their first process to the same
CPU. The CPUs are those the process may run on (os.sched_getaffinity), so a cpuset is
respected.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

log = logging.getLogger("smsledger.runtime")


class CannotPin(RuntimeError):
    """This platform cannot set a process's CPUs (only Linux can)."""


@dataclass(frozen=True)
class CpuPlan:
    """Which CPUs each of serve's processes may run on: `http[i]` for HTTP process i,
    `background` for the background process (None: every CPU, when the HTTP processes
    have taken them all)."""

    http: tuple[frozenset[int], ...]
    background: frozenset[int] | None

    @classmethod
    def for_workers(cls, workers: int, available: set[int] | None = None) -> CpuPlan:
        """HTTP process i on the i-th available CPU (wrapping around when there are more
        processes than CPUs), the background process on the CPUs left over."""
        if available is None:
            available = _available_cpus()
        cpus = sorted(available)
        http = tuple(frozenset({cpus[index % len(cpus)]}) for index in range(workers))
        left = frozenset(cpus[workers:])
        return cls(http, left or None)


def pin_this_process(cpus: frozenset[int] | None, *, role: str) -> None:
    """Run this process, and every thread it starts from now on, on `cpus` (None: leave
    it as it is); logged. Call it before the process starts threads: the threads
    already running keep the CPUs they had."""
    if cpus is None:
        return
    os.sched_setaffinity(0, cpus)
    log.info("pinned to CPUs", extra={"fields": {"cpus": sorted(cpus), "role": role}})


def _available_cpus() -> set[int]:
    if not hasattr(os, "sched_setaffinity") or not sys.platform.startswith("linux"):
        raise CannotPin("--pin-cpus needs Linux (sched_setaffinity)")
    return set(os.sched_getaffinity(0))
