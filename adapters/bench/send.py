"""bench send: messages sent per second for a campaign, through the real Infobip adapter.

The campaign goes through `LedgerApplication.send` in calls of `call_size` requests (as a
platform posts `/messages/batch`, which takes up to 10,000: the default), wired as the service wires it (bootstrap:
the project's integration, `InfobipProvider` over httpx), to the Infobip simulator over
real HTTP on loopback. Each message is stored as requested before the request that
carries it, and its outcome (enqueued) is stored after the answer. The simulator runs
in a process of its own, so its work does not share our interpreter lock (it does
share the machine's cores); it holds every report back for a day, so the benchmark
measures sending only. Within a call, batches overlap: one batch's request is with the
simulator while the next batch is stored and the previous batch's answers recorded
(Sending._send_batches, smsledger/application/sending.py).

Baseline: one HTTP request and one save per message: the same ledger with
send_batch_size 1, the adapter with batch_size 1, one `send` call per message.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smsledger.adapters.bench.common import (
    BenchReport,
    Measurement,
    measuring,
    progress,
    settings_for,
    store,
)
from smsledger.adapters.bench.profiling import Profiles, now
from smsledger.adapters.bench.workload import API_KEY, INTEGRATION, PROJECT, SENDER, send_requests
from smsledger.adapters.bootstrap import build_ledger, build_projects
from smsledger.adapters.infobip.project_accounts import ProjectAccounts
from smsledger.adapters.infobip.addresses import ProviderAddresses
from smsledger.adapters.infobip.provider import InfobipProvider
from smsledger.application.ports import OutgoingMessage, SendOutcome, SmsProvider

TARGET_RATE = 5_000
TARGET_TIMES_BASELINE = 10
REPORTS_HELD_FOR = 86_400.0  # seconds: no report is posted while the benchmark runs
PUBLIC_URL = "http://127.0.0.1:9"  # webhook URLs in the requests; nothing is posted to it


@dataclass
class SendOptions:
    databases: list[str]
    postgres_url: str
    messages: int = 100_000
    baseline_messages: int = 500
    call_size: int = 10_000  # requests per LedgerApplication.send call: the batch endpoint's most
    send_batch_size: int | None = None  # None: the product's default setting
    simulator_nodelay: bool = True
    profiles: Profiles = field(default_factory=lambda: Profiles(None))


def run_send(options: SendOptions) -> BenchReport:
    report = BenchReport("send")
    started = now()
    with SimulatorProcess(nodelay=options.simulator_nodelay) as simulator:
        for database in options.databases:
            _run_on(database, options, simulator, report)
            report.compare(database, "ours", ["one-per-message"])
            report.require_rate("send", "ours", database, TARGET_RATE)
            report.require_ratio("send vs one request and one save per message", database,
                                 "ours", "one-per-message", TARGET_TIMES_BASELINE)
    report.notes += [
        "a message counts once it is stored as requested, sent, and its outcome stored; "
        "every message of the run was answered 'enqueued' (checked).",
        f"the one-request-per-message baseline is measured on {options.baseline_messages:,} "
        "messages; its rate is not extrapolated to the campaign size.",
        "the simulator runs in its own process on the same 2 cores; its CPU time is in the "
        "notes.",
        "the simulator's HTTP server runs with TCP_NODELAY " + (
            "(set by the benchmark): without it every request on a kept-alive connection "
            "waits ~40 ms for a delayed ACK (http.server sends headers and body apart), which "
            "would dominate the one-request-per-message baseline."
            if options.simulator_nodelay else
            "OFF (--keep-nagle): each request waits ~40 ms for a delayed ACK."),
    ]
    report.seconds = now() - started
    return report


def _run_on(database: str, options: SendOptions, simulator: SimulatorProcess,
            report: BenchReport) -> None:
    with store(database, options.postgres_url) as (url, where):
        progress(f"send on {database} ({where}): {options.messages:,} messages")
        overrides = {"send_batch_size": options.send_batch_size} if options.send_batch_size else {}
        settings = settings_for(url, **overrides)
        batch_size = settings.send_batch_size
        ours = _campaign(database, url, settings, simulator, options.messages,
                         options.call_size, provider_batch=1000, campaign="send-bench",
                         profiles=options.profiles)
        report.add(Measurement(
            "ours", f"smsledger: LedgerApplication.send in calls of {options.call_size:,}, "
                    f"send_batch_size {batch_size}, InfobipProvider -> simulator",
            database, options.messages, "messages", ours.watch.seconds, ours=True,
            latencies=ours.latencies, latency_of=f"send() call of {options.call_size:,}",
            peak_mb=ours.watch.peak_mb, start_mb=ours.watch.start_mb, cpu_seconds=ours.watch.cpu_seconds,
            label="ours: campaign send"))
        report.notes.append(
            f"{database}: Infobip requests of our campaign: {ours.requests:,}, HTTP round trip "
            f"p50 {ours.request_ms(50):.1f} ms, p95 {ours.request_ms(95):.1f} ms; simulator "
            f"CPU {ours.simulator_cpu:.1f}s of {ours.watch.seconds:.1f}s")
        one = _campaign(database, url, settings_for(url, send_batch_size=1), simulator,
                        options.baseline_messages, 1, provider_batch=1,
                        campaign="send-baseline", profiles=Profiles(None))
        report.add(Measurement(
            "one-per-message", "baseline: one HTTP request and one save per message "
                               "(send_batch_size 1, adapter batch 1, one send() each)",
            database, options.baseline_messages, "messages", one.watch.seconds,
            latencies=one.latencies, latency_of="message", peak_mb=one.watch.peak_mb, start_mb=one.watch.start_mb,
            cpu_seconds=one.watch.cpu_seconds, label="one request + one save per message"))


@dataclass
class _Run:
    watch: Any
    latencies: list[float]
    request_latencies: list[float]
    simulator_cpu: float

    @property
    def requests(self) -> int:
        return len(self.request_latencies)

    def request_ms(self, p: float) -> float:
        from smsledger.adapters.bench.common import percentile

        return percentile(self.request_latencies, p) * 1000


class TimedProvider(SmsProvider):
    """The real adapter, with the round trip of each batch it is handed timed."""

    def __init__(self, inner: InfobipProvider) -> None:
        self.inner = inner
        self.latencies: list[float] = []

    def send(self, messages: Sequence[OutgoingMessage]) -> Sequence[SendOutcome]:
        started = now()
        try:
            return self.inner.send(messages)
        finally:
            self.latencies.append(now() - started)

    def close(self) -> None:
        self.inner.close()


def _campaign(database: str, url: str, settings: Any, simulator: SimulatorProcess, count: int,
              call_size: int, *, provider_batch: int, campaign: str,
              profiles: Profiles) -> _Run:
    # Wired as smsledger.adapters.bootstrap.bootstrap wires the service, with the
    # adapter's batch size chosen here and its batches timed.
    projects = build_projects(settings)
    provider = TimedProvider(InfobipProvider(
        ProjectAccounts(projects, PUBLIC_URL), batch_size=provider_batch,
        addresses=ProviderAddresses(settings.allow_private_networks)))
    ledger = build_ledger(settings, provider=provider, projects=projects)
    try:
        if ledger.projects.find(PROJECT) is None:
            ledger.projects.create_project(PROJECT)
        ledger.projects.configure_integration(
            PROJECT, INTEGRATION, base_url=simulator.base_url, api_key=API_KEY,
            senders=[SENDER], default_sender=SENDER, changed_by="bench")
        ledger.projects.choose_default_provider(PROJECT, INTEGRATION, changed_by="bench")
        requests = send_requests(count, campaign_id=campaign, sender=None)
        profiled: list[Any] = []
        if profiles.enabled:  # a profiled extra tenth, after the timed run, not in the figures
            profiled = send_requests(max(count // 10, call_size), campaign_id=campaign + "-p",
                                     start=count, sender=None)
        latencies = []
        cpu_before = simulator.cpu()
        with measuring() as watch:
            for start in range(0, count, call_size):
                began = now()
                results = ledger.send(PROJECT, requests[start:start + call_size])
                latencies.append(now() - began)
                bad = [r for r in results if r.status != "enqueued"]
                if bad:
                    raise RuntimeError(f"{len(bad)} messages not enqueued, e.g. {bad[0]}")
        simulator_cpu = simulator.cpu() - cpu_before
        request_latencies = list(provider.latencies)
        if profiled:
            with profiles.cprofile(f"send-{database}"):
                for start in range(0, len(profiled), call_size):
                    ledger.send(PROJECT, profiled[start:start + call_size])
        return _Run(watch, latencies, request_latencies, simulator_cpu)
    finally:
        provider.close()
        ledger.close()


# --- the simulator, in a process of its own ------------------------------------------------

def _serve_simulator(connection: Any, nodelay: bool) -> None:
    from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig, server

    handler = getattr(server, "_Handler", None)
    if nodelay and handler is not None:
        # http.server writes an answer's headers and body in two sends; without
        # TCP_NODELAY the body waits for the client's delayed ACK, ~40 ms per request on
        # a keep-alive connection. Production servers (and uvicorn, and httpx on our
        # side) set TCP_NODELAY; this does it for the simulator in this process only.
        handler.disable_nagle_algorithm = True
    config = SimulatorConfig(api_key=API_KEY, report_delay=REPORTS_HELD_FOR,
                             late_report_delay=REPORTS_HELD_FOR)
    with InfobipSimulator(config) as simulator:
        connection.send(simulator.base_url)
        while True:
            command = connection.recv()
            if command == "cpu":
                connection.send(time.process_time())
            else:
                break


class SimulatorProcess:
    def __init__(self, nodelay: bool = True) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve_simulator, args=(child, nodelay),
                                        name="infobip-simulator", daemon=True)
        self.base_url = ""

    def __enter__(self) -> SimulatorProcess:
        self._process.start()
        if not self._connection.poll(60):
            raise RuntimeError("the Infobip simulator process did not start")
        self.base_url = self._connection.recv()
        return self

    def cpu(self) -> float:
        self._connection.send("cpu")
        seconds: float = self._connection.recv()
        return seconds

    def __exit__(self, *_: object) -> None:
        try:
            self._connection.send("stop")
        except OSError:
            pass
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
