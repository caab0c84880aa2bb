"""What bench soak watches: the service's process (memory, CPU, its log's ERROR lines)
and the feed projection's backlog in the store, sampled over the run.

Memory is the resident set (VmRSS) of the service's process and its descendants (its
HTTP processes and its background process), from /proc. The backlog is the number of
events the feed projection takes that are stored but not yet in the feed view: what the
service's background runner (and reads, which catch the view up first) still have to
do. It is read from the store directly: a read through the service would catch the view
up.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smsledger.adapters.bench.common import BENCH_SECRET_KEY, percentile
from smsledger.adapters.bench.feed_backlog import FeedBacklog
from smsledger.adapters.bench.served import _free_port, _wait_until_ready
from smsledger.adapters.bench.soak_load import paced

SAMPLE_INTERVAL = 1.0
WARMUP_SHARE = 0.25  # the first quarter of the run is warm-up for the memory verdict
GROWTH_ALLOWED_MB, GROWTH_ALLOWED_SHARE = 5.0, 0.05


@dataclass
class Service:
    base: str
    process: subprocess.Popen[bytes]
    log: Path
    # ERROR lines of its log (how many, the first three), read once it has stopped
    errors: tuple[int, list[str]] = (0, [])

    def processes(self) -> list[int]:
        """The service's process and its descendants (the workers of --workers N)."""
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    children = Path(f"/proc/{pid}/task/{task}/children").read_text().split()
                    todo += [int(child) for child in children]
            except OSError:
                continue
        return found

    def rss_mb(self) -> float | None:
        total, seen = 0, False
        for pid in self.processes():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            found = re.search(r"^VmRSS:\s+(\d+)\s+kB", status, re.MULTILINE)
            if found:
                total, seen = total + int(found.group(1)), True
        return total / 1024 if seen else None

    def cpu_seconds(self) -> float | None:
        """User and system CPU time of the service's processes (alive ones)."""
        ticks, seen = 0, False
        for pid in self.processes():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            ticks, seen = ticks + int(fields[11]) + int(fields[12]), True
        return ticks / os.sysconf("SC_CLK_TCK") if seen else None


@contextmanager
def serving(database_url: str, workers: int) -> Iterator[Service]:
    """`smsledger serve` on a free loopback port, allowed to reach the simulator there."""
    with tempfile.TemporaryDirectory(prefix="smsledger-soak-") as folder:
        log = Path(folder) / "serve.log"
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "smsledger.adapters.cli", "serve", "--host", "127.0.0.1",
                 "--port", str(port), "--workers", str(workers), "--database-url", database_url],
                cwd=folder, stdout=output, stderr=subprocess.STDOUT,
                env={**os.environ, "SMSLEDGER_SECRET_KEY": BENCH_SECRET_KEY,
                     "SMSLEDGER_PUBLIC_URL": base, "SMSLEDGER_ALLOW_PRIVATE_NETWORKS": "true"})
        service = Service(base, process, log)
        try:
            _wait_until_ready(base, workers, process, log)
            yield service
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            service.errors = service_errors(log)


@dataclass
class Sample:
    at: float  # seconds since the load started
    rss_mb: float | None
    head: int  # the store's last notification id
    feed_position: int
    behind: int  # feed events not yet in the feed view


def sampler(service: Service, backlog: FeedBacklog, started: float, samples: list[Sample],
             stop: threading.Event) -> None:
    def sample() -> None:
        samples.append(Sample(time.perf_counter() - started, service.rss_mb(), backlog.head(),
                              backlog.position(), backlog.behind()))

    paced(stop, SAMPLE_INTERVAL, sample)


def service_errors(log: Path) -> tuple[int, list[str]]:
    """Log lines at level error or critical (JSON lines), and tracebacks printed outside
    the log format: how many, and the first three."""
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if isinstance(entry, dict):
            if str(entry.get("level", "")).lower() in ("error", "critical"):
                lines.append(line)
        elif "ERROR" in line or line.startswith("Traceback"):
            lines.append(line)
    return len(lines), [line[:400] for line in lines[:3]]


def memory_summary(samples: list[Sample], end: Sample, window: float, cpu_before: float | None,
            cpu_after: float | None) -> dict[str, Any]:
    rss = [(s.at, s.rss_mb) for s in [*samples, end] if s.rss_mb is not None]
    warm_at = window * WARMUP_SHARE
    after = [(at, mb) for at, mb in rss if at >= warm_at]
    start_mb = rss[0][1] if rss else None
    warm_mb = after[0][1] if after else None
    end_mb = end.rss_mb
    growth = (end_mb - warm_mb) if end_mb is not None and warm_mb is not None else 0.0
    allowed = max(GROWTH_ALLOWED_MB, GROWTH_ALLOWED_SHARE * (warm_mb or 0.0))
    cpu = (cpu_after - cpu_before) if cpu_after is not None and cpu_before is not None else None
    return {
        "start_mb": _round(start_mb), "warm_mb": _round(warm_mb), "warm_at_s": warm_at,
        "peak_mb": _round(max((mb for _, mb in rss), default=None)), "end_mb": _round(end_mb),
        "growth_after_warmup_mb": round(growth, 1),
        "slope_mb_per_min": round(_slope(after) * 60, 3),
        "grew_after_warmup": growth > allowed,
        "rule": f"grew: end - warm > max({GROWTH_ALLOWED_MB:.0f} MB, "
                f"{GROWTH_ALLOWED_SHARE:.0%} of warm)",
        "service_cpu_percent": _round(100 * cpu / window if cpu is not None else None),
        "samples": [(round(at, 1), _round(mb)) for at, mb in rss],
    }


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (MB per second)."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def lag_summary(samples: list[Sample], end: Sample, drain: float | None, delays: list[float]
         ) -> dict[str, Any]:
    behind = [s.behind for s in samples] or [end.behind]
    return {
        "p50": percentile(behind, 50), "p99": percentile(behind, 99), "max": max(behind),
        "at_end": end.behind, "drain_seconds": _round(drain, 3), "store_head": end.head,
        "feed_position": end.feed_position,
        "report_to_feed_ms": {f"p{p}": _round(percentile(delays, p) * 1000 if delays
                                              else None, 1) for p in (50, 99)},
        "samples": [(round(s.at, 1), s.head, s.feed_position, s.behind) for s in samples],
    }


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)
