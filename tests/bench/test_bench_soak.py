"""`smsledger bench soak` for a few seconds: `serve` in its own process under the mixed
load, and a report with every section: a rate and latencies per kind of request, the
service's memory over time, the projection lag, the service log's ERROR lines and the
end check (every campaign's audit and the feed agree with what the load was answered).
No test asserts a time: the figures are whatever this machine gives."""

from __future__ import annotations

import json

import pytest

from smsledger.adapters.bench.cli import main

KINDS = {"send", "report", "reply", "feed", "audit"}
SHORT = ["--seconds", "4", "--rate", "100", "--audit-interval", "1"]


def test_the_soak_reports_every_section_as_json(capsys):
    assert main(["bench", "soak", "--database", "sqlite", "--json", *SHORT]) == 0
    [report] = json.loads(capsys.readouterr().out)["benchmarks"]

    assert report["benchmark"] == "soak"
    measured = {m["key"]: m for m in report["measurements"]}
    assert set(measured) == KINDS
    for m in measured.values():
        assert m["count"] > 0 and m["per_second"] > 0, m
        assert set(m["latency_ms"]) == {"p50", "p95", "p99"}
    assert report["load"]["failures"] == dict.fromkeys(KINDS, 0)

    memory = report["memory"]
    assert 0 < memory["start_mb"] <= memory["peak_mb"] and memory["warm_mb"] > 0
    assert memory["end_mb"] > 0 and isinstance(memory["grew_after_warmup"], bool)
    assert len(memory["samples"]) >= 4  # one a second, and one as the load stopped

    lag = report["projection_lag"]
    assert {"p50", "p99", "max", "at_end", "drain_seconds", "store_head", "feed_position",
            "report_to_feed_ms"} <= set(lag)
    assert lag["drain_seconds"] is not None  # the feed caught up with the store
    assert lag["feed_position"] <= lag["store_head"]

    assert report["service_log"] == {"error_lines": 0, "first": []}

    check = report["end_check"]
    assert check["ok"] is True, check["problems"]
    answered = check["answered"]
    assert check["audited"] == {
        "requested": answered["messages_enqueued"], "enqueued": answered["messages_enqueued"],
        "unresolved": 0, "enqueue_failed": 0, "delivered": answered["reports_2xx"]}
    assert answered["replies_2xx"] == answered["messages_enqueued"] // 20


@pytest.mark.postgres
def test_the_soak_prints_its_sections_as_text_on_postgresql(capsys, postgres_available):
    assert main(["bench", "soak", "--database", "postgres", "--seconds", "3",
                 "--rate", "100"]) == 0
    text = capsys.readouterr().out
    for expected in ("bench soak", "send: POST .../messages/batch",
                     "reports: delivery-report webhook", "replies: inbound webhook",
                     "feed: GET .../events", "audit: GET .../campaigns/{c}/audit", "p50 ms",
                     "p99 ms", "failed requests", "service memory (RSS MB): start",
                     "warm at", "projection lag", "drained in", "service log: 0 ERROR line(s)",
                     "end check: OK", "total run time"):
        assert expected in text, expected
