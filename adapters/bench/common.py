"""What every benchmark shares: timing, percentiles, peak memory, throw-away stores,
the report (measurements, baseline ratios, targets) and how it is printed.

Peak memory is the process's peak resident set size (VmHWM) during a measurement:
on Linux the high-water mark is reset before each measurement (/proc/self/clear_refs),
so each figure covers that measurement only. Where the reset is not possible, the
figure is the process's peak since it started (ru_maxrss), and the report says so.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

if TYPE_CHECKING:
    import psycopg

    from smsledger.adapters.runtime.config import Settings

T = TypeVar("T")

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASES = ("postgres", "sqlite")
BENCH_SECRET_KEY = "smsledger-bench-secret-key"  # webhook secrets; nothing is written to disk


# --- peak memory ---------------------------------------------------------------------

class PeakMemory:
    """The process's peak RSS, reset before each measurement where Linux allows it."""

    def __init__(self) -> None:
        self.resettable = self._try_reset()

    @property
    def method(self) -> str:
        return ("peak RSS of the whole process during the measurement (VmHWM, reset first)"
                if self.resettable else
                "peak RSS of the whole process since it started (ru_maxrss; no reset here)")

    @staticmethod
    def _try_reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            return PeakMemory._vm_hwm_kb() is not None
        except OSError:
            return False

    def reset(self) -> None:
        if self.resettable:
            self._try_reset()

    @staticmethod
    def current_mb() -> float | None:
        try:
            with open("/proc/self/status") as handle:
                found = re.search(r"^VmRSS:\s+(\d+)\s+kB", handle.read(), re.MULTILINE)
        except OSError:
            return None
        return int(found.group(1)) / 1024 if found else None

    def peak_mb(self) -> float:
        kb = self._vm_hwm_kb() if self.resettable else None
        if kb is None:
            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
            if sys.platform == "darwin":
                kb //= 1024
        return kb / 1024

    @staticmethod
    def _vm_hwm_kb() -> int | None:
        try:
            with open("/proc/self/status") as handle:
                found = re.search(r"^VmHWM:\s+(\d+)\s+kB", handle.read(), re.MULTILINE)
        except OSError:
            return None
        return int(found.group(1)) if found else None


PEAK = PeakMemory()


@dataclass
class Stopwatch:
    seconds: float = 0.0
    peak_mb: float | None = None
    start_mb: float | None = None  # resident when the measurement began
    cpu_seconds: float = 0.0


def turn_share(items: Sequence[T], turn: int, turns: int) -> Sequence[T]:
    """The turn-th of `turns` consecutive, near-equal parts of `items` (variants measured
    in turns each take their share of their own items per turn)."""
    return items[len(items) * turn // turns: len(items) * (turn + 1) // turns]


@contextlib.contextmanager
def measuring() -> Iterator[Stopwatch]:
    """Wall time, process CPU time and peak RSS of the block."""
    watch = Stopwatch()
    PEAK.reset()
    watch.start_mb = PEAK.current_mb()
    cpu = time.process_time()
    started = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - started
        watch.cpu_seconds = time.process_time() - cpu
        watch.peak_mb = PEAK.peak_mb()


def percentile(samples: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- the report ------------------------------------------------------------------------

@dataclass
class Measurement:
    """One thing measured: our implementation or a baseline, on one database."""

    key: str  # short id used by ratios: "ours", "naive", "plain-1", ...
    subject: str  # what was measured, in words
    database: str
    count: int  # reports, messages or events processed
    unit: str  # "reports", "messages", "events"
    seconds: float
    ours: bool = False
    latencies: list[float] = field(default_factory=list, repr=False)  # seconds each
    latency_of: str = ""  # e.g. "callback of 100 reports"
    peak_mb: float | None = None
    cpu_seconds: float | None = None
    note: str = ""
    label: str = ""
    start_mb: float | None = None  # resident at the start: peak - start is what it added  # a short name for the ratio lines; default: the key

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.inf

    def latency_ms(self) -> dict[str, float] | None:
        if not self.latencies:
            return None
        return {f"p{p}": round(percentile(self.latencies, p) * 1000, 2) for p in (50, 95, 99)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "subject": self.subject, "database": self.database,
            "ours": self.ours, "count": self.count, "unit": self.unit,
            "seconds": round(self.seconds, 4), "per_second": round(self.rate, 1),
            "latency_of": self.latency_of or None, "latency_ms": self.latency_ms(),
            "peak_rss_mb": round(self.peak_mb, 1) if self.peak_mb is not None else None,
            "start_rss_mb": round(self.start_mb, 1) if self.start_mb is not None else None,
            "cpu_seconds": round(self.cpu_seconds, 3) if self.cpu_seconds is not None else None,
            "label": self.label or self.key, "note": self.note or None,
        }


@dataclass
class Ratio:
    database: str
    ours: str  # measurement key
    baseline: str  # measurement key
    ratio: float  # ours' rate / the baseline's rate

    def to_dict(self) -> dict[str, Any]:
        return {"database": self.database, "ours": self.ours, "baseline": self.baseline,
                "ratio": round(self.ratio, 3)}


@dataclass
class Target:
    """A target from issue 7, and whether this run met it."""

    name: str
    required: str  # e.g. ">= 15,000 reports/s"
    measured: str
    met: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "required": self.required, "measured": self.measured,
                "met": self.met}


@dataclass
class BenchReport:
    benchmark: str
    measurements: list[Measurement] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    setup: dict[str, float] = field(default_factory=dict)  # what was timed outside the figures
    # (database, serve workers) -> seconds from the last webhook answer to a complete feed
    feed_lags: dict[tuple[str, str], float] = field(default_factory=dict)  # (database, layout)
    seconds: float = 0.0

    def add(self, measurement: Measurement) -> Measurement:
        self.measurements.append(measurement)
        return measurement

    def find(self, key: str, database: str) -> Measurement | None:
        return next((m for m in self.measurements
                     if m.key == key and m.database == database), None)

    def compare(self, database: str, ours: str, baselines: Sequence[str]) -> None:
        """Ratios of one of our measurements to each baseline on the same database."""
        mine = self.find(ours, database)
        if mine is None:
            return
        for key in baselines:
            base = self.find(key, database)
            if base is not None and base.rate > 0:
                self.ratios.append(Ratio(database, ours, key, mine.rate / base.rate))

    def ratio(self, database: str, ours: str, baseline: str) -> float | None:
        return next((r.ratio for r in self.ratios if (r.database, r.ours, r.baseline)
                     == (database, ours, baseline)), None)

    def require_rate(self, name: str, key: str, database: str, minimum: float) -> None:
        """A target: measurement `key` on `database` at `minimum` per second or more."""
        found = self.find(key, database)
        if found is not None:
            self.targets.append(Target(
                f"{name} ({database})", f">= {minimum:,} {found.unit}/s",
                f"{found.rate:,.0f} {found.unit}/s", found.rate >= minimum))

    def require_ratio(self, name: str, database: str, ours: str, baseline: str,
                      minimum: float, *, as_share: bool = False) -> None:
        """A target: `ours` at `minimum` times `baseline` or more (as a share: `minimum`
        of it, printed in percent)."""
        ratio = self.ratio(database, ours, baseline)
        if ratio is not None:
            required, measured = ((f">= {minimum:.0%} of it", f"{ratio:.1%}") if as_share
                                  else (f">= {minimum}x", f"{ratio:,.1f}x"))
            self.targets.append(Target(f"{name} ({database})", required, measured,
                                       ratio >= minimum))

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "seconds": round(self.seconds, 2),
                "measurements": [m.to_dict() for m in self.measurements],
                "ratios": [r.to_dict() for r in self.ratios],
                "targets": [t.to_dict() for t in self.targets],
                "setup_seconds": {k: round(v, 2) for k, v in self.setup.items()},
                "notes": list(self.notes)}

    def format(self) -> str:
        lines = [f"== bench {self.benchmark} ({self.seconds:.1f}s) =="]
        rows: list[tuple[str, ...]] = [
            ("database", "what", "count", "per second", "p50 ms", "p95 ms", "p99 ms",
             "RSS MB start>peak", "CPU %", "latency of")]
        databases = list(dict.fromkeys(m.database for m in self.measurements))
        for m in sorted(self.measurements,
                        key=lambda m: (databases.index(m.database), not m.ours)):
            lat = m.latency_ms() or {}
            rows.append((
                m.database, ("* " if m.ours else "  ") + m.subject, f"{m.count:,} {m.unit}",
                f"{m.rate:,.0f}", _num(lat.get("p50")), _num(lat.get("p95")),
                _num(lat.get("p99")),
                f"{_num(m.start_mb, 0)}>{_num(m.peak_mb, 0)}" if m.start_mb else _num(m.peak_mb, 0),
                _num(100 * m.cpu_seconds / m.seconds if m.cpu_seconds and m.seconds else None, 0),
                m.latency_of or ""))
        lines += _table(rows)
        lines.append("  (* = smsledger; the others are baselines or references measured in the same "
                     "run; CPU % = this process's CPU time / wall time, 200% = both cores)")
        labels = {(m.key, m.database): m.label or m.key for m in self.measurements}
        if self.ratios:
            lines.append("ratios (our rate / baseline rate, same run, same database):")
            rows = [(r.database, labels.get((r.ours, r.database), r.ours),
                     labels.get((r.baseline, r.database), r.baseline), f"{r.ratio:,.2f}x")
                    for r in self.ratios]
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            lines += [f"  {a:{widths[0]}}  {b:{widths[1]}}  vs  {c:{widths[2]}}  {d:>8}"
                      for a, b, c, d in rows]
        if self.targets:
            lines.append("targets (issue 7):")
            for t in self.targets:
                lines.append(f"  [{'met' if t.met else 'NOT MET':7}] {t.name}: "
                             f"required {t.required}, measured {t.measured}")
        if self.setup:
            lines.append("setup (not in the figures): " + ", ".join(
                f"{k} {v:.1f}s" for k, v in self.setup.items()))
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = {2, 3, 4, 5, 6, 7, 8}
    out = []
    for row in rows:
        cells = [cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                 for i, cell in enumerate(row)]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def print_reports(reports: Sequence[BenchReport], *, as_json: bool, seconds: float,
                  environment: dict[str, Any]) -> None:
    if as_json:
        print(json.dumps({"seconds": round(seconds, 2), "environment": environment,
                          "benchmarks": [r.to_dict() for r in reports]}, indent=2))
        return
    print("environment: " + ", ".join(f"{k}={v}" for k, v in environment.items()))
    print(f"memory: {PEAK.method}")
    for report in reports:
        print()
        print(report.format())
    print()
    print(f"total run time {seconds:.1f}s")


def progress(text: str) -> None:
    """Progress lines go to stderr, so --json output stays clean (above the progress
    bar, when `smsledger bench` draws one on a terminal)."""
    from smsledger.adapters.cli.progress import say

    say(f"[bench] {text}")


# --- throw-away stores -----------------------------------------------------------------

def connect_postgres(url: str) -> psycopg.Connection[Any]:
    import psycopg

    parsed = urlparse(url)
    plain = urlunparse(parsed._replace(query=""))
    return psycopg.connect(plain, autocommit=True, connect_timeout=5)


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[tuple[str, str]]:
    """A new schema `bench_<random>` in the database of `base_url`, dropped at the end.
    Yields (database URL naming the schema, schema name)."""
    schema = "bench_" + uuid.uuid4().hex[:12]
    with connect_postgres(base_url) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    parsed = urlparse(base_url)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    query["schema"] = schema
    try:
        yield urlunparse(parsed._replace(query=urlencode(query))), schema
    finally:
        with connect_postgres(base_url) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def analyze(database: str, url: str, where: str) -> None:
    """Table statistics for the store's tables (PostgreSQL; `where` is the schema), as a
    store that has run for a minute has them from autovacuum. A benchmark's store is
    minutes old, and without them the planner's guesses made a run's figures depend on
    when autovacuum came by (README, Deployment: "Table statistics")."""
    if database != "postgres":
        return
    from psycopg import sql

    with connect_postgres(url) as conn:
        tables = conn.execute("SELECT table_name FROM information_schema.tables "
                              "WHERE table_schema = %s AND table_type = 'BASE TABLE'",
                              (where,)).fetchall()
        for (table,) in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(where, table)))


@contextlib.contextmanager
def sqlite_file(name: str = "bench.db") -> Iterator[tuple[str, str]]:
    """A file in a new temporary directory, removed at the end. Yields (URL, path)."""
    with tempfile.TemporaryDirectory(prefix="smsledger-bench-") as directory:
        path = str(Path(directory) / name)
        yield f"sqlite:///{path}", path


@contextlib.contextmanager
def store(database: str, postgres_url: str) -> Iterator[tuple[str, str]]:
    """(database URL, schema name or SQLite path) of a fresh, empty store."""
    if database == "postgres":
        with postgres_schema(postgres_url) as found:
            yield found
    elif database == "sqlite":
        with sqlite_file() as found:
            yield found
    else:
        raise ValueError(f"unknown database {database!r}")


def databases(choice: str) -> list[str]:
    return list(DATABASES) if choice == "both" else [choice]


def settings_for(database_url: str, **overrides: Any) -> Settings:
    from smsledger.adapters.runtime.config import load_settings

    # The simulator answers on loopback: a private address (see allow_private_networks).
    overrides.setdefault("allow_private_networks", True)
    return load_settings(database_url=database_url, secret_key=BENCH_SECRET_KEY, **overrides)


def environment(postgres_url: str, wanted: Sequence[str]) -> dict[str, Any]:
    """What the figures depend on: cores, Python, and the database's durability settings."""
    import sqlite3
    from importlib.metadata import version

    import eventsourcing  # noqa: F401  (the version below)

    found: dict[str, Any] = {"cores": os.cpu_count(), "python": sys.version.split()[0],
                             "eventsourcing": version("eventsourcing")}
    if "postgres" in wanted:
        try:
            with connect_postgres(postgres_url) as conn:
                found["postgres"] = _show(conn, "server_version")
                for name in ("fsync", "synchronous_commit"):
                    found[f"postgres.{name}"] = _show(conn, name)
        except Exception as exc:  # noqa: BLE001 - reported, the bench then fails clearly
            found["postgres"] = f"unreachable: {exc}"
    if "sqlite" in wanted:
        found["sqlite"] = sqlite3.sqlite_version
        found["sqlite.mode"] = "WAL, synchronous=FULL (the library's connection defaults)"
    return found


def _show(conn: psycopg.Connection[Any], name: str) -> Any:
    row = conn.execute(f"SHOW {name}").fetchone()
    assert row is not None  # SHOW always answers with one row
    return row[0]
