"""bench soak: `smsledger serve` under a steady mixed load for a while, watched.

The service runs as an operator runs it (its own process, background work on) on a fresh
store (SQLite by default), sending to the Infobip simulator, which runs in a process of
its own and holds its reports back: the load's threads (soak_load.py) post the delivery
reports and replies themselves, timed, as Infobip would. For `seconds` they send,
report, reply, read the feed and audit, at a steady pace; every second the service's
memory and the feed projection's backlog are sampled (soak_watch.py). After the load:
how long the backlog takes to drain with no reads helping, a last feed read and an
audit of every campaign, checked against what the load was answered (the "end
check"), and the ERROR lines of the service's log. Not part of `bench all`, nor of CI.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smsledger.adapters.bench.common import Measurement, progress, settings_for, store
from smsledger.adapters.bench.send import SimulatorProcess
from smsledger.adapters.bench.soak_load import (
    CALLBACK_SIZE,
    CAMPAIGN_SECONDS,
    FEED_PAGE,
    KINDS,
    REPLY_EVERY,
    SENDER,
    Load,
    auditor,
    feed_reader,
    read_feed,
    replier,
    reporter,
    sender,
)
from smsledger.adapters.bench.soak_report import SoakReport
from smsledger.adapters.bench.feed_backlog import FeedBacklog
from smsledger.adapters.bench.soak_watch import (
    Sample,
    Service,
    lag_summary,
    memory_summary,
    sampler,
    serving,
)
from smsledger.adapters.bench.workload import API_KEY, INTEGRATION, PROJECT

DRAIN_TIMEOUT = 60.0
UNITS = {"send": "messages", "report": "reports", "reply": "replies", "feed": "events",
         "audit": "audits"}
SUBJECTS = {"send": "send: POST .../messages/batch", "report": "reports: delivery-report webhook",
            "reply": "replies: inbound webhook", "feed": "feed: GET .../events",
            "audit": "audit: GET .../campaigns/{c}/audit"}
LATENCY_OF = {"send": "batch POST", "report": f"callback of up to {CALLBACK_SIZE}",
              "reply": "inbound POST of 1", "feed": f"page of up to {FEED_PAGE}",
              "audit": "campaign audit"}


@dataclass
class SoakOptions:
    database: str
    postgres_url: str
    seconds: float = 120.0
    rate: int = 200  # messages per second
    batch: int = 100  # messages per batch POST
    audit_interval: float = 5.0
    workers: int = 1


def run_soak(options: SoakOptions) -> SoakReport:
    from smsledger.adapters.bootstrap import build_ledger, build_projects

    report = SoakReport()
    begun = time.perf_counter()
    with store(options.database, options.postgres_url) as (url, where), \
            SimulatorProcess() as simulator:
        progress(f"soak on {options.database} ({where}): {options.seconds:.0f}s, "
                 f"{options.rate} messages/s in batches of {options.batch}")
        settings = settings_for(url)
        ledger = build_ledger(settings, projects=build_projects(settings,
                                                                 require_integrations=True))
        try:
            admin = ledger.projects.create_project(PROJECT)
            _, secret = ledger.projects.configure_integration(
                PROJECT, INTEGRATION, base_url=simulator.base_url, api_key=API_KEY,
                senders=[SENDER], default_sender=SENDER, changed_by="bench")
            ledger.projects.choose_default_provider(PROJECT, INTEGRATION, changed_by="bench")
            with serving(url, options.workers) as service:
                _soak(service, FeedBacklog(ledger), admin, secret, options, report)
            count, first = service.errors
            report.service_log = {"error_lines": count, "first": first}
        finally:
            ledger.close()
    report.seconds = time.perf_counter() - begun
    return report


def _soak(service: Service, backlog: FeedBacklog, admin: str, secret: str,
          options: SoakOptions, report: SoakReport) -> None:
    load = Load(service.base, admin, secret)
    samples: list[Sample] = []
    stop_load, stop_webhooks, stop_sampling = threading.Event(), threading.Event(), \
        threading.Event()
    first_audit_after = min(options.audit_interval, options.seconds / 4)
    cpu_before = service.cpu_seconds()
    load.started = time.perf_counter()
    # The webhook posters stop after the others, once what they still hold is posted.
    timed = _start({
        "send": (sender, (load, options.batch, options.rate, stop_load)),
        "feed": (feed_reader, (load, stop_load)),
        "audit": (auditor, (load, options.audit_interval, first_audit_after, stop_load)),
        "sample": (sampler, (service, backlog, load.started, samples, stop_sampling))})
    webhooks = _start({"report": (reporter, (load, stop_webhooks)),
                       "reply": (replier, (load, stop_webhooks))})
    time.sleep(options.seconds)  # the load runs in the threads; nothing to wait for here
    stop_load.set()
    stop_sampling.set()
    window = time.perf_counter() - load.started
    _join(timed)
    end = Sample(window, service.rss_mb(), backlog.head(), backlog.position(),
                 backlog.behind())
    cpu_after = service.cpu_seconds()
    # What is still queued (sent or reported in the load's last moments) is posted now,
    # so that the end check can be exact; it is not in the rates.
    queued = {"reports": load.reports_due.qsize(), "replies": load.replies_due.qsize()}
    stop_webhooks.set()
    _join(webhooks)
    drain = _drain_seconds(backlog)
    with load.client(webhook=False) as client:
        read_feed(load, client)  # to the head: the end check compares what it shows
    progress(f"soak: load stopped after {window:.1f}s; checking the campaigns")
    _figures(load, options, window, report)
    report.load = {"seconds": round(window, 1), "rate_messages_per_s": options.rate,
                   "batch": options.batch, "campaign_seconds": CAMPAIGN_SECONDS,
                   "reply_every": REPLY_EVERY, "audit_interval_s": options.audit_interval,
                   "workers": options.workers, "campaigns": len(load.campaigns),
                   "posted_after_the_load": queued,
                   "failures": {k: load.tallies[k].failures for k in KINDS},
                   "first_failures": {k: load.tallies[k].first_failures for k in KINDS
                                      if load.tallies[k].first_failures}}
    report.memory = memory_summary(samples, end, window, cpu_before, cpu_after)
    report.projection_lag = lag_summary(samples, end, drain, load.feed_delays)
    report.end_check = _end_check(load)


def _start(targets: dict[str, tuple[Callable[..., None], tuple[Any, ...]]]
           ) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, args=args, name=f"soak-{name}", daemon=True)
               for name, (target, args) in targets.items()]
    for thread in threads:
        thread.start()
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join()


def _drain_seconds(backlog: FeedBacklog) -> float | None:
    """How long the service's background runner takes to bring the feed to the store's
    head, with nobody reading; None if it did not within DRAIN_TIMEOUT."""
    started = time.perf_counter()
    while time.perf_counter() - started < DRAIN_TIMEOUT:
        if backlog.behind() == 0:
            return time.perf_counter() - started
        time.sleep(0.05)
    return None


def _figures(load: Load, options: SoakOptions, window: float, report: SoakReport) -> None:
    for kind in KINDS:
        tally = load.tallies[kind]
        within = [s for s in tally.samples if s[0] - load.started <= window]
        count = sum(items for _, _, items in within)
        report.add(Measurement(
            kind, SUBJECTS[kind], options.database, count, UNITS[kind], window,
            ours=True, latencies=[seconds for _, seconds, _ in within],
            latency_of=LATENCY_OF[kind]))
    report.notes += [
        "rates count what was answered within the load window; latencies are this "
        "process's, from request to answer (it shares the 2 cores with the service and "
        "the simulator).",
        f"feed: {load.feed_statuses.get('enqueued', 0):,} enqueued, "
        f"{load.feed_statuses.get('delivered', 0):,} delivered, "
        f"{load.feed_statuses.get('incoming_message', 0):,} replies read in all.",
    ]


def _end_check(load: Load) -> dict[str, Any]:
    """Every campaign's audit and the feed against what the load was answered."""
    totals: Counter[str] = Counter()
    problems: list[str] = []
    with load.client(webhook=False) as client:
        for campaign in load.campaigns:
            answer = client.get(f"/v1/projects/{PROJECT}/campaigns/{campaign}/audit")
            if answer.status_code == 404:
                continue  # the campaign's window opened as the load stopped: nothing sent
            answer.raise_for_status()
            audit = answer.json()
            totals.update({k: v for k, v in audit.items() if isinstance(v, int)})
            problems += [f"{campaign}: drift {d}" for d in audit["drift"]]
    expected = {"requested": len(load.sent_ids), "enqueued": len(load.sent_ids),
                "unresolved": 0, "enqueue_failed": 0, "delivered": len(load.reported_ids)}
    problems += [f"audits: {key} {totals.get(key, 0):,}, expected {value:,}"
                 for key, value in expected.items() if totals.get(key, 0) != value]
    feed = {"enqueued": len(load.sent_ids), "delivered": len(load.reported_ids),
            "incoming_message": load.replied}
    problems += [f"feed: {key} {load.feed_statuses.get(key, 0):,}, expected {value:,}"
                 for key, value in feed.items() if load.feed_statuses.get(key, 0) != value]
    return {"ok": not problems, "problems": problems,
            "audited": {k: totals.get(k, 0) for k in expected},
            "answered": {"messages_enqueued": len(load.sent_ids),
                         "reports_2xx": len(load.reported_ids), "replies_2xx": load.replied}}
