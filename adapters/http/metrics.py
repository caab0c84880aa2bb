"""Prometheus metrics of one service instance (its own registry, so tests and
several apps in one process do not share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


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

    def render(self) -> bytes:
        return generate_latest(self.registry)
