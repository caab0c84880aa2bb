"""Prometheus metrics of one service instance (its own registry, so tests and
several apps in one process do not share counters)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from smsledger.application.projection_lag import COUNT_LIMIT, Lag


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("smsledger_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("smsledger_http_request_seconds", "HTTP request latency",
                                 ["route"], registry=self.registry)
        self.reports = Counter("smsledger_delivery_reports", "delivery reports ingested",
                               ["effect"], registry=self.registry)
        self.statuses = Counter("smsledger_messages_sent", "messages sent, by status after sending",
                                ["status"], registry=self.registry)
        # No project label: tenants are many, and the request log names the path.
        self.rate_limited = Counter("smsledger_http_rate_limited",
                                    "client API requests refused with 429: the project was "
                                    "over its rate limit", registry=self.registry)

        self.events_behind = Gauge(
            "smsledger_projection_events_behind",
            f"events stored that the projection has not yet applied (counted up to "
            f"{COUNT_LIMIT:,})", ["projection"], registry=self.registry)
        self.seconds_behind = Gauge(
            "smsledger_projection_seconds_behind",
            "how long the oldest event the projection has not applied has waited (a lower "
            "bound, short by at most the scrape interval); 0 when it is current",
            ["projection"], registry=self.registry)

    def record_lag(self, lags: Mapping[str, Lag]) -> None:
        for name, lag in lags.items():
            self.events_behind.labels(name).set(lag.events)
            self.seconds_behind.labels(name).set(round(lag.seconds, 3))

    def render(self) -> bytes:
        return generate_latest(self.registry)
