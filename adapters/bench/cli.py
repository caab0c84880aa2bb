"""`smsledger bench`: ingest, send, replay, audit, or all four, beside baselines in the same run;
and `soak`, the service under a steady load for minutes.

Wired into the command line by smsledger.adapters.cli (`add_bench_command(commands)`). Figures go
to stdout (a table, or JSON with --json); progress goes to stderr. The exit status is
0 whether or not the targets are met (the report says which are); 2 on a usage error.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from smsledger.adapters.bench.common import (
    DEFAULT_POSTGRES_URL,
    BenchReport,
    environment,
    print_reports,
    progress,
)
from smsledger.adapters.bench.profiling import Profiles
from smsledger.adapters.cli.progress import Progress

# Which databases each benchmark runs on unless --database says otherwise (issue 7:
# ingest on PostgreSQL and SQLite; replay from PostgreSQL; send on the production store).
DEFAULT_DATABASES = {"ingest": "both", "send": "postgres", "replay": "postgres",
                     "audit": "postgres"}

DEFAULTS = {
    "reports": 10_000,
    "served_reports": 30_000,
    "baseline_reports": 2_000,
    "concurrency": 4,
    "serve_workers": 2,
    "catch_up_events": 5_000,
    "messages": 100_000,
    "baseline_messages": 500,
    "call_size": 10_000,  # the most POST /v1/projects/{p}/messages/batch takes
    "events": 1_000_000,
    "campaign_messages": 1_000,
    "other_events": 1_000_000,
    "audit_repeats": 5,
    "soak_seconds": 120,
    "soak_rate": 200,  # messages per second
    "soak_batch": 100,
    "stores_reports": 20_000,
    "stores_rounds": 2,
}


def add_bench_command(subcommands: Any) -> None:
    """Register `bench` (ingest, send, replay, audit, all) on an argparse subparsers object."""
    bench = subcommands.add_parser(
        "bench", help="measure ingest, send and replay beside baselines (issue 7's targets)",
        description="Benchmarks of the hot paths, each beside baselines measured in the same "
                    "run on the same database. Sizes scale down with flags.")
    commands = bench.add_subparsers(dest="bench_command", required=True)
    helps = {
        "ingest": "delivery reports per second: application layer and HTTP webhook, vs the "
                  "naive library use and a plain table (1 and 100 rows per transaction)",
        "send": "messages per second for a campaign through InfobipProvider to the simulator, "
                "vs one request and one save per message",
        "replay": "events per second and peak memory of a campaign audit replay",
        "audit": "one campaign's audit alone in its store and beside a million other "
                 "events, vs a whole-store replay",
        "all": "ingest, send, replay and audit",
    }
    _add_soak_command(commands)
    _add_stores_command(commands)
    for name, text in helps.items():
        parser = commands.add_parser(name, help=text, description=text)
        default_db = DEFAULT_DATABASES.get(name)
        parser.add_argument(
            "--database", choices=["postgres", "sqlite", "both"], default=None,
            help=f"which store (default: {default_db})" if default_db else
                 "which store, for every benchmark (default: ingest on both, send and "
                 "replay on postgres)")
        parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                            help="server and database; each run uses a new schema bench_<random>, "
                                 f"dropped at the end (default {DEFAULT_POSTGRES_URL})")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        if name in ("ingest", "send", "all"):
            parser.add_argument("--keep-nagle", action="store_true",
                                help="run the in-process service and the simulator without "
                                     "the TCP_NODELAY the benchmark sets on them (each "
                                     "request then waits ~40 ms for a delayed ACK)")
        parser.add_argument("--profile", metavar="DIR", default=None,
                            help="also profile our paths (an extra, untimed run of each) and "
                                 "write .prof/.txt files to DIR; the top lists go to stderr")
        if name in ("ingest", "all"):
            parser.add_argument("--reports", type=_positive, default=DEFAULTS["reports"],
                                help="reports for the application layer, the HTTP webhook and "
                                     "the 100-rows-per-transaction table "
                                     f"(default {DEFAULTS['reports']:,})")
            parser.add_argument("--baseline-reports", type=_positive,
                                default=DEFAULTS["baseline_reports"],
                                help="reports for the slow baselines (naive library use, one "
                                     "row per transaction) "
                                     f"(default {DEFAULTS['baseline_reports']:,})")
            parser.add_argument("--concurrency", type=_positive, default=DEFAULTS["concurrency"],
                                help="concurrent webhook senders "
                                     f"(default {DEFAULTS['concurrency']})")
            parser.add_argument("--catch-up-events", type=int, default=DEFAULTS["catch_up_events"],
                                help="events the projection catch-up is measured on; 0 skips "
                                     f"it (default {DEFAULTS['catch_up_events']:,})")
            parser.add_argument("--no-http", action="store_true",
                                help="skip the end-to-end HTTP webhook measurements")
            parser.add_argument("--served-reports", type=_positive,
                                default=DEFAULTS["served_reports"],
                                help="reports for each layout of `smsledger serve` and for the "
                                     "application layer measured around it: seconds of steady "
                                     "load, as the feed's lag is about a rate the service "
                                     "sustains (a one-second burst hid a lag of 3.4 s) "
                                     f"(default {DEFAULTS['served_reports']:,})")
            parser.add_argument("--serve-workers", type=_positive,
                                default=DEFAULTS["serve_workers"],
                                help="also measure `smsledger serve` in its own process with one "
                                     "worker and with this many, and with one worker beside a "
                                     "`smsledger worker` process; 1 skips it "
                                     f"(default {DEFAULTS['serve_workers']})")
        if name in ("send", "all"):
            parser.add_argument("--messages", type=_positive, default=DEFAULTS["messages"],
                                help=f"campaign size (default {DEFAULTS['messages']:,})")
            parser.add_argument("--baseline-messages", type=_positive,
                                default=DEFAULTS["baseline_messages"],
                                help="messages for the one-request-per-message baseline "
                                     f"(default {DEFAULTS['baseline_messages']:,})")
            parser.add_argument("--call-size", type=_positive, default=DEFAULTS["call_size"],
                                help="requests per LedgerApplication.send call "
                                     f"(default {DEFAULTS['call_size']:,})")
            parser.add_argument("--send-batch-size", type=int, default=None,
                                help="the ledger's send_batch_size (default: the product's "
                                     "setting)")
        if name in ("replay", "all"):
            parser.add_argument("--events", type=_positive, default=DEFAULTS["events"],
                                help=f"events in the store (default {DEFAULTS['events']:,})")
            parser.add_argument("--no-references", action="store_true",
                                help="skip the read-only and read+decode references")
        if name in ("audit", "all"):
            parser.add_argument("--campaign-messages", type=_positive,
                                default=DEFAULTS["campaign_messages"],
                                help="messages of the audited campaign "
                                     f"(default {DEFAULTS['campaign_messages']:,})")
            parser.add_argument("--other-events", type=_positive,
                                default=DEFAULTS["other_events"],
                                help="other events in the crowded store "
                                     f"(default {DEFAULTS['other_events']:,})")
            parser.add_argument("--repeats", type=_positive, default=DEFAULTS["audit_repeats"],
                                help="audits per store, the median kept "
                                     f"(default {DEFAULTS['audit_repeats']})")
        parser.set_defaults(handler=run_bench)


def _add_soak_command(commands: Any) -> None:
    """`bench soak`: not part of `all` (it runs for minutes, and CI does not run it)."""
    text = ("`smsledger serve` under a steady mixed load (sends, delivery reports, replies, "
            "feed reads, audits) for a while: rates, latencies, the service's memory over "
            "time, the projection lag, ERROR lines in its log, and an end check")
    parser = commands.add_parser("soak", help=text, description=text)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite",
                        help="which store (default: sqlite)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="server and database for --database postgres; the run uses a new "
                             f"schema bench_<random>, dropped at the end (default "
                             f"{DEFAULT_POSTGRES_URL})")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--seconds", type=_positive, default=DEFAULTS["soak_seconds"],
                        help=f"how long the load runs (default {DEFAULTS['soak_seconds']})")
    parser.add_argument("--rate", type=_positive, default=DEFAULTS["soak_rate"],
                        help="messages sent per second; each gets a delivery report, one in "
                             f"20 a reply (default {DEFAULTS['soak_rate']})")
    parser.add_argument("--batch", type=_positive, default=DEFAULTS["soak_batch"],
                        help=f"messages per batch POST (default {DEFAULTS['soak_batch']})")
    parser.add_argument("--audit-interval", type=float, default=5.0,
                        help="seconds between audits of the current campaign (default 5)")
    parser.add_argument("--serve-workers", type=_positive, default=1,
                        help="`serve --workers N` (default 1)")
    parser.set_defaults(handler=run_soak_command)


def _add_stores_command(commands: Any) -> None:
    """`bench stores`: PostgreSQL only, not part of `all` (a question of deployment)."""
    text = ("application-layer ingest by two writer processes on one PostgreSQL store and on "
            "two stores (a schema each), against one writer: where one store tops out")
    parser = commands.add_parser("stores", help=text, description=text)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="server and database; each layout uses new schemas "
                             f"bench_<random>, dropped at the end (default {DEFAULT_POSTGRES_URL})")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--reports", type=_positive, default=DEFAULTS["stores_reports"],
                        help="reports per writer and round "
                             f"(default {DEFAULTS['stores_reports']:,})")
    parser.add_argument("--rounds", type=_positive, default=DEFAULTS["stores_rounds"],
                        help="rounds in which the three layouts take turns "
                             f"(default {DEFAULTS['stores_rounds']})")
    parser.set_defaults(handler=run_stores_command)


def run_stores_command(args: argparse.Namespace) -> int:
    from smsledger.adapters.bench.stores import StoresOptions, run_stores

    started = time.perf_counter()
    env = environment(args.postgres_url, ["postgres"])
    report = run_stores(StoresOptions(args.postgres_url, reports=args.reports,
                                      rounds=args.rounds))
    print_reports([report], as_json=args.json, seconds=time.perf_counter() - started,
                  environment=env)
    return 0


def run_soak_command(args: argparse.Namespace) -> int:
    from smsledger.adapters.bench.soak import SoakOptions, run_soak

    started = time.perf_counter()
    env = environment(args.postgres_url, [args.database])
    with Progress("soak", note=f"{args.seconds}s of load").tick():  # on a terminal only
        report = run_soak(SoakOptions(
            args.database, args.postgres_url, seconds=args.seconds, rate=args.rate,
            batch=args.batch, audit_interval=args.audit_interval, workers=args.serve_workers))
    print_reports([report], as_json=args.json, seconds=time.perf_counter() - started,
                  environment=env)
    return 0


def _positive(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _databases(args: argparse.Namespace, benchmark: str) -> list[str]:
    choice = args.database or DEFAULT_DATABASES[benchmark]
    return ["postgres", "sqlite"] if choice == "both" else [choice]


def run_bench(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    wanted = (["ingest", "send", "replay", "audit"] if args.bench_command == "all"
              else [args.bench_command])
    profiles = Profiles(args.profile)
    all_databases = sorted({d for b in wanted for d in _databases(args, b)})
    env = environment(args.postgres_url, all_databases)
    reports: list[BenchReport] = []
    # A bar of the benchmarks done, its clock ticking (a benchmark runs for minutes with
    # its own progress lines only); drawn only when stderr is a terminal. A benchmark of
    # `all` runs in a process of its own whose lines the bar cannot print above: it is
    # redrawn a second later.
    with Progress("bench", total=len(wanted), unit="benchmarks").tick() as bar:
        for done, benchmark in enumerate(wanted):
            bar.update(done, note=benchmark)
            if len(wanted) > 1:
                reports.append(_in_own_process(benchmark, args, _databases(args, benchmark)))
            else:
                reports.append(_RUNNERS[benchmark](args, _databases(args, benchmark), profiles))
            progress(f"{benchmark} done in {reports[-1].seconds:.1f}s")
    profiles.print()
    print_reports(reports, as_json=args.json, seconds=time.perf_counter() - started,
                  environment=env)
    return 0


def _ingest(args: argparse.Namespace, databases: list[str], profiles: Profiles) -> BenchReport:
    from smsledger.adapters.bench.ingest import IngestOptions, run_ingest

    return run_ingest(IngestOptions(
        databases, args.postgres_url, reports=args.reports,
        served_reports=args.served_reports, baseline_reports=args.baseline_reports,
        concurrency=args.concurrency,
        http=not args.no_http, catch_up_events=args.catch_up_events,
        serve_workers=args.serve_workers, nodelay=not args.keep_nagle, profiles=profiles))


def _send(args: argparse.Namespace, databases: list[str], profiles: Profiles) -> BenchReport:
    from smsledger.adapters.bench.send import SendOptions, run_send

    return run_send(SendOptions(
        databases, args.postgres_url, messages=args.messages,
        baseline_messages=args.baseline_messages, call_size=args.call_size,
        send_batch_size=args.send_batch_size, simulator_nodelay=not args.keep_nagle,
        profiles=profiles))


def _replay(args: argparse.Namespace, databases: list[str], profiles: Profiles) -> BenchReport:
    from smsledger.adapters.bench.replay import ReplayOptions, run_replay

    return run_replay(ReplayOptions(databases, args.postgres_url, events=args.events,
                                    references=not args.no_references, profiles=profiles))


def _audit(args: argparse.Namespace, databases: list[str], profiles: Profiles) -> BenchReport:
    from smsledger.adapters.bench.audit import AuditOptions, run_audit

    return run_audit(AuditOptions(databases, args.postgres_url,
                                  campaign_messages=args.campaign_messages,
                                  other_events=args.other_events, repeats=args.repeats,
                                  profiles=profiles))


_RUNNERS = {"ingest": _ingest, "send": _send, "replay": _replay, "audit": _audit}


def _in_own_process(benchmark: str, args: argparse.Namespace, databases: list[str]
                    ) -> BenchReport:
    """One benchmark of `all` in a fresh interpreter, so that none inherits another's
    memory (peak RSS is the whole process's) or garbage-collector load."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_run_alone, benchmark, args, databases).result()


def _run_alone(benchmark: str, args: argparse.Namespace, databases: list[str]) -> BenchReport:
    profiles = Profiles(args.profile)
    report = _RUNNERS[benchmark](args, databases, profiles)
    profiles.print()
    return report


def main(argv: list[str] | None = None) -> int:
    """`python -m smsledger.adapters.bench.cli ...`: the bench command on its own, before it is
    wired into `smsledger`."""
    parser = argparse.ArgumentParser(prog="smsledger")
    add_bench_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


if __name__ == "__main__":
    import sys

    sys.exit(main())
