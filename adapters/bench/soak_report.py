"""bench soak's report: the usual table (one line per kind of request), then the load,
the service's memory, the projection lag, its log's ERROR lines and the end check."""

from __future__ import annotations

import math
from typing import Any

from smsledger.adapters.bench.common import BenchReport
from smsledger.adapters.bench.soak_load import KINDS


class SoakReport(BenchReport):
    """The usual figures (a measurement per kind), plus the soak's own sections."""

    def __init__(self) -> None:
        super().__init__("soak")
        self.memory: dict[str, Any] = {}
        self.projection_lag: dict[str, Any] = {}
        self.service_log: dict[str, Any] = {}
        self.end_check: dict[str, Any] = {}
        self.load: dict[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "load": self.load, "memory": self.memory,
                "projection_lag": self.projection_lag, "service_log": self.service_log,
                "end_check": self.end_check}

    def format(self) -> str:
        return "\n".join([super().format(), *self._load_lines(), *self._memory_lines(),
                          *self._lag_lines(), *self._log_lines(), *self._check_lines()])

    def _load_lines(self) -> list[str]:
        load = self.load
        lines = [f"load: {load['rate_messages_per_s']} messages/s in batches of {load['batch']}, "
                 f"a reply for one message in {load['reply_every']}, an audit every "
                 f"{load['audit_interval_s']}s, {load['campaigns']} campaign(s) of "
                 f"{load['campaign_seconds']:.0f}s, serve --workers {load['workers']}; posted "
                 f"after the load: {load['posted_after_the_load']['reports']} reports, "
                 f"{load['posted_after_the_load']['replies']} replies",
                 "failed requests (each posted again): " + ", ".join(
                     f"{kind} {load['failures'][kind]}" for kind in KINDS)]
        for kind, failures in load["first_failures"].items():
            lines += [f"  {kind}: {failure}" for failure in failures]
        return lines

    def _memory_lines(self) -> list[str]:
        m = self.memory
        return [
            f"service memory (RSS MB): start {_num(m['start_mb'])}, warm at "
            f"{m['warm_at_s']:.0f}s {_num(m['warm_mb'])}, peak {_num(m['peak_mb'])}, end "
            f"{_num(m['end_mb'])}; after warm-up {m['growth_after_warmup_mb']:+.1f} MB, slope "
            f"{m['slope_mb_per_min']:+.2f} MB/min: "
            f"{'GREW' if m['grew_after_warmup'] else 'flat'} ({m['rule']})",
            "  over time (s: MB): " + ", ".join(f"{at:.0f}: {_num(mb)}"
                                                for at, mb in _spread(m["samples"], 12)),
            f"  service CPU: {_num(m['service_cpu_percent'], 0)}% of one core"]

    def _lag_lines(self) -> list[str]:
        lag = self.projection_lag
        delay = lag["report_to_feed_ms"]
        return [
            f"projection lag (feed events stored, not yet in the feed view): p50 "
            f"{_num(lag['p50'], 0)}, p99 {_num(lag['p99'], 0)}, max {lag['max']:,} events; "
            f"{lag['at_end']:,} when the load stopped, drained in "
            f"{_num(lag['drain_seconds'], 2)}s with no reads (store head {lag['store_head']:,},"
            f" feed view at {lag['feed_position']:,})",
            f"  report answered -> its delivered event read from the feed: p50 "
            f"{_num(delay['p50'], 0)} ms, p99 {_num(delay['p99'], 0)} ms (the reader polls "
            "every 250 ms)"]

    def _log_lines(self) -> list[str]:
        log = self.service_log
        return ([f"service log: {log['error_lines']} ERROR line(s)"]
                + [f"  {line}" for line in log["first"]])

    def _check_lines(self) -> list[str]:
        check = self.end_check
        audited, answered = check["audited"], check["answered"]
        return ([f"end check: {'OK' if check['ok'] else 'FAILED'}: audits requested "
                 f"{audited['requested']:,}, delivered {audited['delivered']:,}, unresolved "
                 f"{audited['unresolved']}, enqueue_failed {audited['enqueue_failed']}; "
                 f"answered: {answered['messages_enqueued']:,} messages enqueued, "
                 f"{answered['reports_2xx']:,} reports, {answered['replies_2xx']:,} replies"]
                + [f"  {problem}" for problem in check["problems"]])


def _spread(samples: list[Any], most: int) -> list[Any]:
    """At most `most` samples, evenly spread, the last included."""
    if len(samples) <= most:
        return samples
    step = (len(samples) - 1) / (most - 1)
    return [samples[round(i * step)] for i in range(most)]


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"
