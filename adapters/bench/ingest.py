"""bench ingest: delivery reports applied per second, in callbacks of 100 reports.

On each database (a fresh PostgreSQL schema, a fresh SQLite file):
- ours, (a): `LedgerApplication.record_reports`, one call per callback of 100 parsed reports;
- ours, (b): the webhook `POST /v1/webhooks/infobip/{project}/{integration}/delivery-reports`
  (Basic auth, Infobip's JSON), with several concurrent senders (threads, one kept-alive
  connection each, in a child process), the service in this process on loopback
  (uvicorn in a thread);
- ours, (c): `smsledger serve` in its own processes, in four layouts (bench/served.py);
- ours, (d), PostgreSQL only: group commit, callbacks of one report from many threads,
  with and without it (bench/group_commit.py);
- baselines, in the same store: the naive use of the library (per report: repository.get,
  the aggregate's command, save; one transaction per report), a plain relational table
  updated one row per transaction, and the same table updated 100 rows per transaction.
  (a) and that last one take turns (TURNS each), so that the share of the ceiling
  compares the two at the same machine speed.

Every message gets one DELIVERED report. Messages are set up first (sent through a
provider stub that accepts everything), and every variant gets messages of its own in
the same state, so none of them sees a duplicate.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from smsledger.adapters.bench.common import (
    BenchReport,
    Measurement,
    Target,
    analyze,
    connect_postgres,
    measuring,
    progress,
    settings_for,
    store,
    turn_share,
)
from smsledger.adapters.bench import group_commit
from smsledger.adapters.bench.group_commit import VARIANTS as GROUP_COMMIT_VARIANTS
from smsledger.adapters.bench.group_commit import measure_group_commit
from smsledger.adapters.bench.profiling import Profiles, now
from smsledger.adapters.bench.senders import SenderProcess
from smsledger.adapters.bench.served import APP_BESIDE_SERVE, Layout, measure_served
from smsledger.adapters.bench.workload import (
    API_KEY,
    CALLBACK_SIZE,
    INTEGRATION,
    PROJECT,
    SENDER,
    WEBHOOK_PATH,
    AcceptAll,
    callback_bodies,
    send_requests,
)
from smsledger.adapters.bootstrap import build_ledger, build_projects
from smsledger.adapters.facade import SmsChannel
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.infobip.callbacks import parse_delivery_reports
from smsledger.adapters.runtime.persistence import OUR_PERSISTENCE
from smsledger.application.commands import ProviderReport
from smsledger.application.ledger import LedgerApplication
from smsledger.domain.message import Message, message_aggregate_id

TARGET_APP_RATE = 15_000
TARGET_APP_SHARE_OF_CEILING = 0.30
TARGET_HTTP_RATE = 5_000
TARGET_SERVED_SHARE = 0.60  # issue 15: one served process vs the application layer
TARGET_FEED_LAG = 1.0  # issue 15: seconds from the last webhook answer to a complete feed
SETUP_CHUNK = 2_000
TURNS = 5  # (a) and the 100-rows-per-transaction table alternate, this many times each

BASELINES = ("naive", "plain-1", "plain-100")
# The layouts of one served process whose share of the application layer is a target:
# (key, how the target names it).
ONE_SERVED_PROCESS = (("serve-1", ""), ("serve-1-pinned", " with --pin-cpus"))


@dataclass
class IngestOptions:
    databases: list[str]
    postgres_url: str
    reports: int = 10_000  # for (a), (b) and the 100-rows-per-transaction baseline
    served_reports: int = 30_000  # for each layout of (c), and (a) measured around it
    baseline_reports: int = 2_000  # for the two one-transaction-per-report baselines
    concurrency: int = 4
    http: bool = True
    serve_workers: int = 2  # (c) `smsledger serve` with one worker and with this many; 1 skips
    catch_up_events: int = 5_000  # projection catch-up measured on this many events
    nodelay: bool = True  # TCP_NODELAY on the in-process server, as `smsledger serve` has it
    profiles: Profiles = field(default_factory=lambda: Profiles(None))


@dataclass
class _Batch:
    """Prepared messages: their ids, recipients, and the callbacks reporting on them."""

    message_ids: list[str]
    recipients: list[str]
    bodies: list[bytes] = field(default_factory=list)

    def parsed(self) -> list[list[ProviderReport]]:
        callbacks = []
        for body in self.bodies:
            parsed = parse_delivery_reports(body)
            assert not parsed.malformed, parsed.malformed
            callbacks.append(parsed.reports)
        return callbacks


def _served_layouts(options: IngestOptions) -> list[Layout]:
    if not options.http or options.serve_workers < 2:
        return []
    # serve --workers 1 first, as the application layer is measured around it; then the
    # same with --pin-cpus (Linux only), later in the run, when the machine is if anything
    # slower (see _app_rate_for_share).
    pinned = [Layout(1, pinned=True)] if sys.platform.startswith("linux") else []
    return [Layout(1), *pinned, Layout(options.serve_workers), Layout(1, separate_worker=True)]


def run_ingest(options: IngestOptions) -> BenchReport:
    report = BenchReport("ingest")
    started = now()
    for database in options.databases:
        _run_on(database, options, report)
        report.compare(database, "ours-app", BASELINES)
        if database == "postgres":
            report.compare(database, "callbacks-of-1-grouped", ["callbacks-of-1-alone"])
        if options.http:
            report.compare(database, "ours-http", BASELINES)
        for layout in _served_layouts(options)[1:]:
            report.compare(database, layout.key, ["serve-1"])
        for key, _ in ONE_SERVED_PROCESS:
            if report.find(key, database) is not None:
                report.compare(database, key, [_app_rate_for_share(database, report)])
        _targets(database, report)
    report.notes += [
        f"callbacks of {CALLBACK_SIZE} reports; each report is a DELIVERED report for an "
        "enqueued message, applied exactly once; every call and transaction commits before "
        "the next one starts (synchronous, durable).",
        "the projections (feed, statistics, history, campaign_index) are not updated in the "
        "write path; "
        "reads and the service's background runner catch them up. 'projections catching "
        f"up' is that work, on the store's first {options.catch_up_events:,} events "
        "(requested and enqueued messages); not a target, but it runs beside the ingest in "
        "the service.",
        f"the naive-library and one-row-per-transaction baselines run on "
        f"{options.baseline_reports:,} reports (a rate does not need more); the others on "
        f"{options.reports:,}; each layout of `smsledger serve`, and the application layer "
        f"measured around it, on {options.served_reports:,} (seconds of steady load: the "
        "feed's lag is about a rate the service sustains).",
    ]
    if options.http:
        report.notes.append(
            f"(b) runs {options.concurrency} sender threads in a process of their own "
            "(adapters/bench/senders.py), as Infobip is another machine; it shares the 2 "
            "cores with the service and the database.")
        report.notes.append(
            "the in-process server's connections have TCP_NODELAY, as `smsledger serve`'s "
            "have." if options.nodelay else
            "the in-process server's connections have no TCP_NODELAY (--keep-nagle: asyncio's "
            "loop and a socket of protocol 0): every request waits ~40 ms for a delayed ACK.")
    if "postgres" in options.databases:
        report.notes.append(
            f"(d), PostgreSQL only: {group_commit.THREADS} threads apply callbacks of one "
            "report each through the application layer, with group commit and without "
            f"(each callback its own insert), in {group_commit.TURNS} alternating turns "
            "(adapters/bench/group_commit.py).")
    if _served_layouts(options):
        report.notes.append(
            f"(c) starts `smsledger serve` as an operator does, with one HTTP worker and with "
            f"{options.serve_workers}, each beside serve's background process, and "
            "with one worker and --no-worker beside a `smsledger worker` process "
            f"(adapters/bench/served.py), posted to by {options.concurrency} senders per "
            f"worker of the largest service, in every run (the kernel spreads connections, "
            "not requests, over the workers); serve --workers 1 also with --pin-cpus (each "
            "HTTP process on a CPU of its own, the background process on the other). "
            "The background runner keeps the projections "
            "current during the measurement. On 2 cores the processes share them with the "
            "database and the senders. Then the feed's lag: seconds from the last webhook "
            "answer until the feed view held every event stored (read from the store, "
            "without catching the view up). The background work runs in a process of its "
            "own in every layout: in the HTTP process its threads would compete for the "
            "interpreter with the request threads. The served share is taken of the faster "
            "of (a) and the application layer measured in two halves around serve "
            "--workers 1's run, each alone on the machine.")
    report.seconds = now() - started
    return report


def _run_on(database: str, options: IngestOptions, report: BenchReport) -> None:
    with store(database, options.postgres_url) as (url, where):
        progress(f"ingest on {database} ({where})")
        settings = settings_for(url)
        server = BackgroundServer(nodelay=options.nodelay)
        # Wired as smsledger.adapters.bootstrap.bootstrap wires the service, keeping
        # the application service at hand for the benchmark's own setup.
        ledger = build_ledger(settings, provider=AcceptAll(),
                              projects=build_projects(settings, require_integrations=True))
        facade = SmsChannel(ledger)
        context = ServiceContext.serving(facade, server.url, settings)
        try:
            ledger.projects.create_project(PROJECT)
            _, secret = ledger.projects.configure_integration(
                PROJECT, INTEGRATION, base_url="http://127.0.0.1:9", api_key=API_KEY,
                senders=[SENDER], default_sender=SENDER, changed_by="bench")
            ledger.projects.choose_default_provider(PROJECT, INTEGRATION, changed_by="bench")

            sizes = {"app": options.reports, "naive": options.baseline_reports}
            analyzed = ", analyze" if database == "postgres" else ""
            if database == "postgres":  # (d): only PostgreSQL's recorder commits in groups
                sizes.update(dict.fromkeys(GROUP_COMMIT_VARIANTS, options.reports // 2))
            if options.http:
                sizes["http"] = options.reports
            served = _served_layouts(options)
            with measuring() as setup:
                batches = _prepare(ledger, sizes)
                analyze(database, url, where)
            report.setup[f"{database}: send {sum(sizes.values()):,} messages through a stub "
                         f"provider{analyzed}"] = setup.seconds

            with _plain_table(database, url, where, options, batches) as plain:
                _ours_against_ceiling(database, ledger, batches["app"], plain, report,
                                      options.profiles)
                if options.catch_up_events:
                    _projection_catch_up(database, ledger, options.catch_up_events, report)
                _naive(database, url, batches["naive"], report)
                if database == "postgres":
                    measure_group_commit(database, ledger, {
                        variant: [one for callback in batches[variant].parsed()
                                  for one in callback] for variant in GROUP_COMMIT_VARIANTS},
                        report)
                if options.http:
                    server.start(create_app(context))
                    try:
                        _ours_http(database, server.url, secret, batches["http"],
                                   options.concurrency, report, options.profiles)
                    finally:
                        server.stop()
                if served:
                    # Prepared only now, so that the measurements above ran on the same
                    # store with or without this one.
                    with measuring() as setup:
                        more = _prepare(ledger, {APP_BESIDE_SERVE: options.served_reports,
                                                 **{layout.key: options.served_reports
                                                    for layout in served}},
                                        start=sum(sizes.values()))
                        analyze(database, url, where)  # for the catch-up's reads too
                        ledger.projections.catch_up()
                        analyze(database, url, where)
                    more_count = options.served_reports * (len(served) + 1)
                    report.setup[f"{database}: send {more_count:,} more messages, catch the "
                                 f"projections up{analyzed}"] = setup.seconds
                    measure_served(database, url, secret,
                                   {layout: more[layout.key].bodies for layout in served},
                                   options.concurrency, report, ledger,
                                   more[APP_BESIDE_SERVE].parsed())
                plain.measure_one_row_per_transaction(database, report)
                plain.check_updated()
        finally:
            server.stop()
            facade.close()


# --- setup -----------------------------------------------------------------------------

def _prepare(ledger: LedgerApplication, sizes: dict[str, int], start: int = 0) -> dict[str, _Batch]:
    batches = {}
    for name, count in sizes.items():
        ids: list[str] = []
        recipients: list[str] = []
        for chunk_start in range(start, start + count, SETUP_CHUNK):
            requests = send_requests(min(SETUP_CHUNK, start + count - chunk_start),
                                     campaign_id=f"ingest-{name}", start=chunk_start)
            results = ledger.send(PROJECT, requests)
            assert all(r.status == "enqueued" for r in results), results[:3]
            ids += [r.message_id for r in results if r.message_id]
            recipients += [r.to for r in requests]
        batch = _Batch(ids, recipients)
        batch.bodies = callback_bodies(ids, recipients)
        batches[name] = batch
        start += count
    return batches


# --- ours --------------------------------------------------------------------------------

class _Turns:
    """One variant measured over several turns: wall and CPU time summed, latencies
    pooled, the highest peak of memory."""

    def __init__(self) -> None:
        self.seconds = self.cpu_seconds = 0.0
        self.peak_mb: float | None = None
        self.start_mb: float | None = None
        self.latencies: list[float] = []

    @contextlib.contextmanager
    def turn(self) -> Iterator[list[float]]:
        with measuring() as watch:
            yield self.latencies
        self.seconds += watch.seconds
        self.cpu_seconds += watch.cpu_seconds
        self.peak_mb = max(self.peak_mb or 0.0, watch.peak_mb or 0.0)
        self.start_mb = watch.start_mb if self.start_mb is None else self.start_mb


def _ours_against_ceiling(database: str, ledger: LedgerApplication, batch: _Batch, plain: Any,
                          report: BenchReport, profiles: Profiles) -> None:
    """(a), and the table updated 100 rows per transaction, taking turns: this machine's
    speed drifts by a quarter or more within a minute, and a share of the ceiling is
    only meaningful when both were measured at the same speed."""
    callbacks = batch.parsed()
    if profiles.enabled:  # a profiled run needs messages of its own
        callbacks, profiled = callbacks[: len(callbacks) // 2], callbacks[len(callbacks) // 2:]
    ceiling = plain.hundred
    ours, plain_turns = _Turns(), _Turns()
    for turn in range(TURNS):
        with ours.turn() as latencies:
            for reports in turn_share(callbacks, turn, TURNS):
                started = now()
                result = ledger.record_reports(PROJECT, reports)
                latencies.append(now() - started)
                assert result.applied == len(reports), result
        with plain_turns.turn() as latencies:
            for reports in turn_share(ceiling, turn, TURNS):
                started = now()
                plain.update_in_one_transaction(reports)
                latencies.append(now() - started)
    plain.check_updated()
    report.add(Measurement(
        "ours-app", "smsledger: LedgerApplication.record_reports (application layer)", database,
        sum(len(c) for c in callbacks), "reports", ours.seconds, ours=True,
        latencies=ours.latencies, latency_of=f"callback of {CALLBACK_SIZE}",
        peak_mb=ours.peak_mb, start_mb=ours.start_mb, cpu_seconds=ours.cpu_seconds,
        label="ours: application layer"))
    report.add(_plain_measurement("plain-100", "100 rows per transaction", database,
                                  ceiling, plain_turns))
    if profiles.enabled:
        with profiles.cprofile(f"ingest-app-{database}"):
            for reports in profiled:
                ledger.record_reports(PROJECT, reports)


class _UpTo:
    """The ledger's recorder, read only up to a notification id: a catch-up of a
    bounded number of events, through the application's own projection runner."""

    def __init__(self, recorder: Any, stop: int) -> None:
        self.recorder = recorder
        self.stop = stop

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True
                             ) -> Sequence[Any]:
        notifications: Sequence[Any] = self.recorder.select_notifications(
            start, limit, stop=self.stop, topics=topics, inclusive_of_start=inclusive_of_start)
        return notifications

    def max_notification_id(self) -> int:
        return self.stop


def _projection_catch_up(database: str, ledger: LedgerApplication, events: int,
                         report: BenchReport) -> None:
    """The projections (feed, statistics, history) fed the store's first `events`
    notifications, as the service's background runner feeds them."""
    from smsledger.application.projection_runner import ProjectionRunner

    stop = min(events, ledger.recorder.max_notification_id() or 0)
    runner = ProjectionRunner(_UpTo(ledger.recorder, stop), ledger.mapper, ledger.read_store,
                              list(ledger.projections.projections.values()))
    with measuring() as watch:
        runner.catch_up()
    report.add(Measurement(
        "catch-up", "smsledger: projections (feed+statistics+history) catching up",
        database, stop, "events", watch.seconds, ours=True, peak_mb=watch.peak_mb, start_mb=watch.start_mb,
        cpu_seconds=watch.cpu_seconds,
        note="not a target: the work the background runner does per stored event",
        label="ours: projection catch-up"))


def _ours_http(database: str, url: str, secret: str, batch: _Batch, concurrency: int,
               report: BenchReport, profiles: Profiles) -> None:
    bodies = batch.bodies
    if profiles.enabled:
        bodies, profiled = bodies[: len(bodies) // 2], bodies[len(bodies) // 2:]
    senders = SenderProcess(url, WEBHOOK_PATH, (INTEGRATION, secret), concurrency)
    try:
        posted, watch = senders.timed(bodies)
        expected = sum(len(json.loads(b)["results"]) for b in bodies)
        assert posted.applied == expected, (posted.applied, expected)
        report.add(Measurement(
            "ours-http", f"smsledger: webhook over HTTP, {concurrency} concurrent senders",
            database, posted.applied, "reports", watch.seconds, ours=True,
            latencies=posted.latencies, latency_of=f"request of {CALLBACK_SIZE}",
            peak_mb=watch.peak_mb, start_mb=watch.start_mb, cpu_seconds=watch.cpu_seconds,
            label="ours: HTTP webhook"))
        if profiles.enabled:
            senders.load(profiled)
            with profiles.sampled(f"ingest-http-{database}"):
                senders.go()
    finally:
        senders.close()


# --- baselines ---------------------------------------------------------------------------

class _LibraryDefaults(Application[UUID]):
    """The library as it comes: its own recorder, mapper, transcoder and save, on the
    same tables as the ledger (same name), so the naive baseline owes nothing to ours."""

    name = LedgerApplication.name


def library_defaults(url: str) -> Application[UUID]:
    """The application of the naive baseline, on the store at `url`."""
    return _LibraryDefaults(env={key: value for key, value in
                                 settings_for(url).store_env().items()
                                 if key not in OUR_PERSISTENCE})


def _naive(database: str, url: str, batch: _Batch, report: BenchReport) -> None:
    """The library used as its documentation shows: get, command, save, per report."""
    app = library_defaults(url)
    callbacks = batch.parsed()
    latencies = []
    try:
        with measuring() as watch:
            for reports in callbacks:
                started = now()
                for one in reports:
                    received_at = datetime.now(UTC)
                    message: Message = app.repository.get(
                        message_aggregate_id(PROJECT, one.message_id))
                    message.record_report(one.outcome, received_at=received_at)
                    app.save(message)
                latencies.append(now() - started)
    finally:
        app.close()
    report.add(Measurement(
        "naive", "baseline: naive library use (get + command + save per report)", database,
        sum(len(c) for c in callbacks), "reports", watch.seconds, latencies=latencies,
        latency_of=f"callback of {CALLBACK_SIZE}", peak_mb=watch.peak_mb, start_mb=watch.start_mb,
        cpu_seconds=watch.cpu_seconds, label="naive library use"))


PLAIN_TABLE = "bench_plain_messages"


def _plain_rows(callbacks: list[list[ProviderReport]]) -> list[list[tuple[Any, ...]]]:
    """Per callback, the UPDATE parameters of each report (built inside the timing)."""
    rows = []
    for reports in callbacks:
        chunk = []
        for one in reports:
            outcome = one.outcome
            final_status = outcome.final_status
            assert final_status is not None  # the bench's reports are all final
            chunk.append((final_status.value, outcome.done_at, outcome.parts,
                          str(outcome.price.amount) if outcome.price else None,
                          outcome.price.currency if outcome.price else None,
                          outcome.error_name, json.dumps(outcome.to_dict(), default=str),
                          datetime.now(UTC), one.message_id))
        rows.append(chunk)
    return rows


class _PlainTable:
    """A relational table with one row per message, in the same database: updated one
    row per transaction, and 100 rows per transaction (the database's practical ceiling).
    The update only moves a message that is not final yet, as a real one would. Rows of
    its own, with the same ids and report contents as (a)'s and the naive baseline's."""

    def __init__(self, options: IngestOptions, batches: dict[str, _Batch]) -> None:
        one_count, hundred_count = options.baseline_reports, options.reports
        source = batches["app"].parsed() + batches["naive"].parsed()
        flat = [r for c in source for r in c]
        while len(flat) < one_count + hundred_count:
            flat += flat
        self.ids = [f"plain-{i}-{r.message_id}"
                    for i, r in enumerate(flat[: one_count + hundred_count])]
        reports = [ProviderReport(message_id=i, outcome=r.outcome)
                   for i, r in zip(self.ids, flat)]
        self.one = [reports[i:i + CALLBACK_SIZE] for i in range(0, one_count, CALLBACK_SIZE)]
        self.hundred = [reports[i:i + CALLBACK_SIZE]
                        for i in range(one_count, one_count + hundred_count, CALLBACK_SIZE)]
        self.updated = 0  # reports applied so far, each moving one row to a final status

    def measure_one_row_per_transaction(self, database: str, report: BenchReport) -> None:
        turns = _Turns()
        with turns.turn() as latencies:
            for reports in self.one:
                started = now()
                self.update_one_per_transaction(reports)
                latencies.append(now() - started)
        report.add(_plain_measurement("plain-1", "one row per transaction", database,
                                      self.one, turns))

    conn: Any  # a psycopg or sqlite3 connection, both with execute()

    def update_one_per_transaction(self, reports: list[ProviderReport]) -> None:
        raise NotImplementedError  # by each database's table

    def update_in_one_transaction(self, reports: list[ProviderReport]) -> None:
        raise NotImplementedError  # by each database's table

    def check_updated(self) -> None:
        """Every report measured so far moved its row."""
        counted = self.conn.execute(
            f"SELECT count(*) FROM {PLAIN_TABLE} WHERE status = 'delivered'").fetchone()[0]
        assert counted == self.updated, (counted, self.updated)

    def close(self) -> None:
        self.conn.close()


class _PlainPostgres(_PlainTable):
    def __init__(self, url: str, schema: str, options: IngestOptions,
                 batches: dict[str, _Batch]) -> None:
        super().__init__(options, batches)
        self.conn = connect_postgres(url)
        self.conn.execute(f'SET search_path TO "{schema}"')
        self.conn.execute(_CREATE.format(time="timestamptz"))
        with self.conn.cursor() as cursor, cursor.copy(
                f"COPY {PLAIN_TABLE} (message_id, status) FROM STDIN") as copy:
            for message_id in self.ids:
                copy.write_row((message_id, "enqueued"))
        self.conn.execute(f"ANALYZE {PLAIN_TABLE}")
        self.update = _UPDATE.replace("?", "%s")

    def update_one_per_transaction(self, reports: list[ProviderReport]) -> None:
        for row in _plain_rows([reports])[0]:
            self.conn.execute(self.update, row, prepare=True)  # autocommit: one each
        self.updated += len(reports)

    def update_in_one_transaction(self, reports: list[ProviderReport]) -> None:
        rows = _plain_rows([reports])[0]
        with self.conn.transaction(), self.conn.cursor() as cursor:
            cursor.executemany(self.update, rows)  # pipelined by psycopg
        self.updated += len(reports)



class _PlainSQLite(_PlainTable):
    def __init__(self, path: str, options: IngestOptions, batches: dict[str, _Batch]) -> None:
        import sqlite3

        super().__init__(options, batches)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")  # as the library's connections
        self.conn.execute(_CREATE.format(time="text"))
        self.conn.execute("BEGIN")
        self.conn.executemany(f"INSERT INTO {PLAIN_TABLE} (message_id, status) VALUES (?, ?)",
                              [(i, "enqueued") for i in self.ids])
        self.conn.execute("COMMIT")
        self.update = _UPDATE

    @staticmethod
    def _params(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(v.isoformat() if isinstance(v, datetime) else v for v in row)

    def update_one_per_transaction(self, reports: list[ProviderReport]) -> None:
        for row in _plain_rows([reports])[0]:
            self.conn.execute("BEGIN")
            self.conn.execute(self.update, self._params(row))
            self.conn.execute("COMMIT")
        self.updated += len(reports)

    def update_in_one_transaction(self, reports: list[ProviderReport]) -> None:
        rows = [self._params(r) for r in _plain_rows([reports])[0]]
        self.conn.execute("BEGIN")
        self.conn.executemany(self.update, rows)
        self.conn.execute("COMMIT")
        self.updated += len(reports)



@contextlib.contextmanager
def _plain_table(database: str, url: str, where: str, options: IngestOptions,
                 batches: dict[str, _Batch]) -> Iterator[_PlainTable]:
    table: _PlainPostgres | _PlainSQLite = (
        _PlainPostgres(url, where, options, batches) if database == "postgres"
        else _PlainSQLite(where, options, batches))
    try:
        yield table
    finally:
        table.close()


# The update only moves a message that is not final yet, as a real one would.
_UPDATE = (f"UPDATE {PLAIN_TABLE} SET status = ?, done_at = ?, parts = ?, price = ?, "
           "currency = ?, error_name = ?, outcome = ?, updated_at = ? "
           "WHERE message_id = ? AND status NOT IN ('delivered', 'failed', 'rejected')")
_CREATE = (f"CREATE TABLE {PLAIN_TABLE} (message_id text PRIMARY KEY, status text NOT NULL, "
           "done_at {time}, parts integer, price numeric, currency text, error_name text, "
           "outcome text, updated_at {time})")


def _plain_measurement(key: str, how: str, database: str, callbacks: list[list[Any]],
                       turns: _Turns) -> Measurement:
    driver = "psycopg" if database == "postgres" else "sqlite3"
    return Measurement(
        key, f"baseline: plain table, {how} ({driver})", database,
        sum(len(c) for c in callbacks), "reports", turns.seconds, latencies=turns.latencies,
        latency_of=f"callback of {CALLBACK_SIZE}", peak_mb=turns.peak_mb,
        start_mb=turns.start_mb, cpu_seconds=turns.cpu_seconds,
        label="plain table, 1 row/txn" if key == "plain-1" else "plain table, 100 rows/txn")


# --- targets -----------------------------------------------------------------------------

def _app_rate_for_share(database: str, report: BenchReport) -> str:
    """Which application-layer measurement the served share is taken of: the faster of
    (a) and the one around serve --workers 1's run. The second was meant to see the
    same machine speed as the served run, but later in a run the application layer
    is often slower (the benchmark process then holds every prepared callback, and the
    database has more to vacuum): the faster one keeps the share from being flattered."""
    rates = {key: found.rate for key in ("ours-app", APP_BESIDE_SERVE)
             if (found := report.find(key, database)) is not None}
    return max(rates, key=lambda key: rates[key]) if rates else "ours-app"


def _targets(database: str, report: BenchReport) -> None:
    for key, how in ONE_SERVED_PROCESS:
        if report.find(key, database) is not None:
            report.require_ratio(f"ingest, one served process{how} vs the application layer",
                                 database, key, _app_rate_for_share(database, report),
                                 TARGET_SERVED_SHARE, as_share=True)
    for (where, layout), lag in sorted(report.feed_lags.items()):
        if where == database:
            report.targets.append(Target(
                f"feed complete after the last webhook answer, {layout} ({database})", f"<= {TARGET_FEED_LAG:g} s", f"{lag:.2f} s",
                lag <= TARGET_FEED_LAG))
    report.require_rate("ingest, application layer", "ours-app", database, TARGET_APP_RATE)
    report.require_ratio("ingest, application layer vs 100-rows-per-transaction table",
                         database, "ours-app", "plain-100", TARGET_APP_SHARE_OF_CEILING,
                         as_share=True)
    report.require_rate("ingest, end to end through HTTP", "ours-http", database,
                        TARGET_HTTP_RATE)
