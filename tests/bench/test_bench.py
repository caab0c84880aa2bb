"""`smsledger bench` at tiny sizes, on SQLite and PostgreSQL: every sub-command runs,
and its output carries the figures, the baseline ratios and the targets. No test
asserts a time: the figures are whatever this machine gives."""

from __future__ import annotations

import argparse
import json

import pytest

from smsledger.adapters.bench.cli import add_bench_command, main
from smsledger.adapters.bench.common import BenchReport, Measurement, percentile

TINY = {
    "ingest": ["--reports", "200", "--served-reports", "200", "--baseline-reports", "100",
               "--concurrency", "2", "--catch-up-events", "200"],
    "send": ["--messages", "200", "--baseline-messages", "20", "--call-size", "100"],
    "replay": ["--events", "2000"],
    "audit": ["--campaign-messages", "50", "--other-events", "2000", "--repeats", "2"],
}
EXPECTED_KEYS = {
    "ingest": {"ours-app", "ours-http", "catch-up", "naive", "plain-1", "plain-100",
               "serve-1", "serve-1-pinned", "serve-2", "serve-1+worker", "app-beside-serve"},
    "send": {"ours", "one-per-message"},
    "replay": {"ours", "read", "read-decode"},
    "audit": {"alone", "crowded", "whole-store"},
}
# Group commit is PostgreSQL's recorder's (adapters/store/group_commit.py).
POSTGRES_ONLY_KEYS = {"ingest": {"callbacks-of-1-grouped", "callbacks-of-1-alone"}}
POSTGRES_ONLY_RATIOS = {"ingest": {("callbacks-of-1-grouped", "callbacks-of-1-alone")}}
EXPECTED_RATIOS = {
    "ingest": {("ours-app", "naive"), ("ours-app", "plain-1"), ("ours-app", "plain-100"),
               ("ours-http", "naive"), ("ours-http", "plain-1"), ("ours-http", "plain-100"),
               ("serve-1-pinned", "serve-1"), ("serve-2", "serve-1"),
               ("serve-1+worker", "serve-1")},
    "send": {("ours", "one-per-message")},
    "replay": {("ours", "read"), ("ours", "read-decode")},
    "audit": {("crowded", "alone"), ("crowded", "whole-store")},
}


@pytest.fixture(params=["sqlite", "postgres"])
def database(request):
    if request.param == "postgres":
        request.getfixturevalue("postgres_available")
    return request.param


def run(capsys, *argv: str) -> dict:
    assert main(["bench", *argv]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("benchmark", ["ingest", "send", "replay", "audit"])
def test_each_benchmark_reports_figures_ratios_and_targets(capsys, database, benchmark):
    output = run(capsys, benchmark, "--database", database, "--json", *TINY[benchmark])
    [report] = output["benchmarks"]
    assert report["benchmark"] == benchmark
    measurements = report["measurements"]
    assert {m["key"] for m in measurements} == EXPECTED_KEYS[benchmark] | (
        POSTGRES_ONLY_KEYS.get(benchmark, set()) if database == "postgres" else set())
    for m in measurements:
        assert m["database"] == database
        assert m["count"] > 0 and m["seconds"] > 0 and m["per_second"] > 0
        if m["key"].startswith("serve-"):  # another process's memory: not ours to read
            assert m["peak_rss_mb"] is None
        else:
            assert m["peak_rss_mb"] > 0 and m["start_rss_mb"] > 0
        if m["latency_of"]:
            assert set(m["latency_ms"]) == {"p50", "p95", "p99"}
    ratios = {(r["ours"], r["baseline"]) for r in report["ratios"]}
    # The served shares (serve --workers 1, and with --pin-cpus) are taken of the faster
    # of two application-layer measurements.
    served_share = {(ours, base) for ours, base in ratios
                    if ours in ("serve-1", "serve-1-pinned")
                    and base in ("ours-app", "app-beside-serve")}
    assert len(served_share) == (2 if benchmark == "ingest" else 0)
    assert ratios - served_share == EXPECTED_RATIOS[benchmark] | (
        POSTGRES_ONLY_RATIOS.get(benchmark, set()) if database == "postgres" else set())
    assert all(r["ratio"] > 0 and r["database"] == database for r in report["ratios"])
    assert report["targets"] and all(isinstance(t["met"], bool) for t in report["targets"])
    assert output["environment"]["cores"]


def test_the_table_names_ours_the_baselines_ratios_and_targets(capsys):
    assert main(["bench", "ingest", "--database", "sqlite", "--no-http",
                 *TINY["ingest"]]) == 0
    text = capsys.readouterr().out
    for expected in ("bench ingest", "ours: application layer", "naive library use",
                     "plain table, 1 row/txn", "plain table, 100 rows/txn", "per second",
                     "p50 ms", "p99 ms", "RSS MB start>peak", "ratios", "targets (issue 7)",
                     "15,000 reports/s", "total run time"):
        assert expected in text, expected


def test_all_runs_every_benchmark(capsys, database):
    output = run(capsys, "all", "--database", database, "--json", *TINY["ingest"],
                 "--no-http", *TINY["send"], *TINY["replay"], "--no-references",
                 *TINY["audit"])
    assert [r["benchmark"] for r in output["benchmarks"]] == ["ingest", "send", "replay",
                                                              "audit"]


def test_the_command_registers_on_any_subparsers_object():
    parser = argparse.ArgumentParser(prog="smsledger")
    add_bench_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", "replay", "--events", "1_000"])
    assert (args.bench_command, args.events, args.database) == ("replay", 1000, None)
    assert callable(args.handler)
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "ingest", "--reports", "0"])


def test_percentiles_and_ratios():
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([1, 2], 50) == 1.5
    assert percentile([7], 99) == 7
    report = BenchReport("x")
    report.add(Measurement("ours", "ours", "sqlite", 300, "reports", 1.0, ours=True))
    report.add(Measurement("base", "base", "sqlite", 100, "reports", 1.0))
    report.compare("sqlite", "ours", ["base", "missing"])
    assert report.ratio("sqlite", "ours", "base") == 3.0
    assert len(report.ratios) == 1


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_naive_baseline_uses_the_library_as_it_comes(database, tmp_path, request):
    from eventsourcing.persistence import JSONTranscoder, Mapper

    from smsledger.adapters.bench.ingest import library_defaults

    url = (f"sqlite:///{tmp_path}/naive.db" if database == "sqlite"
           else request.getfixturevalue("postgres_url"))
    app = library_defaults(url)
    try:
        assert type(app.mapper) is Mapper
        assert type(app.mapper.transcoder) is JSONTranscoder
        assert type(app.recorder).__module__.startswith("eventsourcing.")
    finally:
        app.close()


def test_bench_stores_compares_two_writers_on_one_store_and_on_two(capsys, postgres_available):
    output = run(capsys, "stores", "--reports", "200", "--rounds", "1", "--json")
    [report] = output["benchmarks"]
    assert {m["key"]: m["count"] for m in report["measurements"]} == {
        "one": 200, "shared": 400, "split": 400}  # every report applied, none twice
    assert {(r["ours"], r["baseline"]) for r in report["ratios"]} == {
        ("shared", "one"), ("split", "one"), ("split", "shared")}
