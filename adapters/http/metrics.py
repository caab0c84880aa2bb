"""Prometheus metrics of one service instance (its own registry, so tests and
several apps in one process do not share counters).

Several worker processes (`serve --workers N`) count in prometheus-client's
multiprocess mode: `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh directory
before the workers start (adapters/http/serving.py), each worker's values go to files
there, and whichever worker answers a scrape adds up every worker's files, so the
totals are the service's, not one worker's share. The metrics are listed in README.md,
"The HTTP service".
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from smsledger.adapters.http.errors import STORE_ERRORS
from smsledger.application.projection_lag import COUNT_LIMIT, Lag
from smsledger.application.views import IngestResult, SendResult

# No `<name>_created` series: they double the series of every counter and histogram,
# and a worker's start time is not what anyone graphs. Set before any metric is made.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"

# Infobip answers in about a second at worst; retries wait up to 8 s between tries.
INFOBIP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# What IngestResult tells apart, each a value of the `effect` label.
REPORT_EFFECTS = ("applied", "noted", "parked", "quarantined")


def multiprocess_mode() -> bool:
    """Whether this process counts into the shared directory of `serve --workers N`
    (prometheus-client chose its value class on import, from the same variable)."""
    return bool(os.environ.get(MULTIPROCESS_DIRECTORY))


def label_value(text: str | None) -> str:
    """A code fit for a label value: snake_case, no spaces ("consent_missing"), so that
    queries need no quoting tricks and every reason is one series."""
    value = re.sub(r"[^a-z0-9]+", "_", (text or "").lower()).strip("_")
    return value or "unknown"


class ServiceMetrics:
    """The service's metrics, and the observers the adapters and use cases report to:
    Infobip calls (adapters/infobip/observer.py) and background job runs
    (application/background.py)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = multiprocess_mode()
        registry = self.registry
        self.requests = Counter("smsledger_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=registry)
        self.latency = Histogram("smsledger_http_request_seconds", "HTTP request latency",
                                 ["route"], registry=registry)
        self.reports = Counter("smsledger_delivery_reports",
                               "delivery reports ingested, by what they did: applied "
                               "(changed a status), noted (duplicate, pending, conflicting "
                               "or older: recorded only), parked (message not known yet), "
                               "quarantined (unreadable, kept with the reason)",
                               ["effect"], registry=registry)
        self.inbound = Counter("smsledger_inbound_messages",
                               "inbound SMS ingested: applied (new reply), noted (a repeat), "
                               "quarantined (unreadable)", ["effect"], registry=registry)
        self.statuses = Counter("smsledger_messages_sent", "messages sent, by status after sending",
                                ["status"], registry=registry)
        self.refusals = Counter("smsledger_send_refusals",
                                "messages not sent, by reason: the send policy's refusals "
                                "(consent_missing, number_invalid) and invalid requests "
                                "(e.g. invalid_message, message_id_reused)",
                                ["reason"], registry=registry)
        # No project label: tenants are many, and the request log names the path.
        self.rate_limited = Counter("smsledger_http_rate_limited",
                                    "client API requests refused with 429: the project was "
                                    "over its rate limit", registry=registry)

        # Infobip, per integration id (not per project: tenants are many) and endpoint.
        self.infobip_latency = Histogram(
            "smsledger_infobip_request_seconds",
            "time of one HTTP request to Infobip, answered or not (each retry is one)",
            ["integration", "endpoint"], buckets=INFOBIP_BUCKETS, registry=registry)
        self.infobip_requests = Counter(
            "smsledger_infobip_requests",
            "HTTP requests to Infobip, by outcome: the HTTP status, or connect_error, "
            "transport_error (timeout, reset), address_refused",
            ["integration", "endpoint", "outcome"], registry=registry)
        self.infobip_retries = Counter(
            "smsledger_infobip_retries", "requests to Infobip sent again after a 429, a 5xx "
            "or no answer, by what the try before met", ["integration", "endpoint", "reason"],
            registry=registry)
        self.infobip_throttled = Counter(
            "smsledger_infobip_throttled", "429 answers from Infobip (it throttled us)",
            ["integration"], registry=registry)
        self.infobip_errors = Counter(
            "smsledger_infobip_errors", "requests to Infobip that failed: server_error (5xx), "
            "client_error (4xx but 429), connect_error, transport_error, address_refused",
            ["integration", "endpoint", "kind"], registry=registry)

        self.job_runs = Counter("smsledger_background_job_runs",
                                "runs of a background job (projections, maintenance, "
                                "subscriptions) in this service, failed ones included",
                                ["job"], registry=registry)
        self.job_failures = Counter("smsledger_background_job_failures",
                                    "runs of a background job that raised (logged, and "
                                    "retried at the next run)", ["job"], registry=registry)

        # Measured on scrape by the worker that answers it: the most recent measure of
        # the living workers is the lag, not a sum or an old worker's maximum.
        self.events_behind = Gauge(
            "smsledger_projection_events_behind",
            f"events stored that the projection has not yet applied (counted up to "
            f"{COUNT_LIMIT:,})", ["projection"], registry=registry,
            multiprocess_mode="livemostrecent")
        self.seconds_behind = Gauge(
            "smsledger_projection_seconds_behind",
            "how long the oldest event the projection has not applied has waited (a lower "
            "bound, short by at most the scrape interval); 0 when it is current",
            ["projection"], registry=registry, multiprocess_mode="livemostrecent")

    # --- what the HTTP handlers record --------------------------------------------------

    def record_lag(self, lags: Mapping[str, Lag]) -> None:
        for name, lag in lags.items():
            self.events_behind.labels(name).set(lag.events)
            self.seconds_behind.labels(name).set(round(lag.seconds, 3))

    def record_reports(self, result: IngestResult) -> None:
        for effect in REPORT_EFFECTS:
            self.reports.labels(effect).inc(getattr(result, effect))

    def record_inbound(self, result: IngestResult) -> None:
        for effect in ("applied", "noted", "quarantined"):
            self.inbound.labels(effect).inc(getattr(result, effect))

    def record_sends(self, results: Iterable[SendResult]) -> None:
        for result in results:
            self.statuses.labels(result.status).inc()
            if result.status == "refused":
                self.refusals.labels(label_value(result.detail)).inc()
            elif result.status == "invalid":
                self.refusals.labels(label_value(result.error)).inc()

    # --- observers: Infobip calls, background jobs --------------------------------------

    def infobip_call(self, integration: str, endpoint: str, outcome: str,
                     seconds: float) -> None:
        self.infobip_latency.labels(integration, endpoint).observe(seconds)
        self.infobip_requests.labels(integration, endpoint, outcome).inc()
        if outcome == "429":
            self.infobip_throttled.labels(integration).inc()
        elif not outcome.isdigit():
            self.infobip_errors.labels(integration, endpoint, outcome).inc()
        elif int(outcome) >= 500:
            self.infobip_errors.labels(integration, endpoint, "server_error").inc()
        elif int(outcome) >= 400:
            self.infobip_errors.labels(integration, endpoint, "client_error").inc()

    def infobip_retry(self, integration: str, endpoint: str, reason: str) -> None:
        self.infobip_retries.labels(integration, endpoint, reason).inc()

    def job_ran(self, job: str, failed: bool) -> None:
        self.job_runs.labels(job).inc()
        if failed:
            self.job_failures.labels(job).inc()

    def scrape(self, lag: Callable[[], Mapping[str, Lag]]) -> bytes:
        """What a scrape answers: the projections' lag measured now by `lag`, then every
        metric. A store that does not answer leaves the counters answering (the lag
        gauges keep their last values; /readyz, or the jobs' failures, say why)."""
        try:
            self.record_lag(lag())
        except STORE_ERRORS:
            pass
        return self.render()

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        # Every worker's files, this one's included: a registry of its own per scrape,
        # as prometheus-client asks (the files are read afresh each time).
        everyone = CollectorRegistry()
        MultiProcessCollector(everyone)  # type: ignore[no-untyped-call]
        return generate_latest(everyone)
