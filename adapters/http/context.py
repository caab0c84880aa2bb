"""What the HTTP handlers work with, built once per service."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from smsledger.adapters.facade import SmsChannel
from smsledger.adapters.http.metrics import ServiceMetrics
from smsledger.adapters.http.rate_limit import RateLimiter
from smsledger.adapters.runtime.config import Settings
from smsledger.application.projects import ProjectDirectory


@dataclass
class ServiceContext:
    channel: SmsChannel
    public_url: str  # where Infobip reaches this service, e.g. https://sms.example.com
    max_body_bytes: int = 4 * 1024 * 1024
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    rate_limiter: RateLimiter | None = None  # None: the client API is not rate-limited

    @property
    def projects(self) -> ProjectDirectory:
        return self.channel.projects

    @classmethod
    def serving(cls, channel: SmsChannel, public_url: str, settings: Settings, *,
                monotonic: Callable[[], float] = time.monotonic,
                metrics: ServiceMetrics | None = None) -> ServiceContext:
        """The context of a service answering at `public_url`, as `settings` say;
        `monotonic` is the rate limiter's clock (tests pass their own); `metrics` the
        ones the channel's Infobip calls already count into (default: new ones)."""
        rate = settings.rate_limit_per_second
        return cls(channel, public_url=public_url.rstrip("/"),
                   max_body_bytes=settings.max_body_bytes,
                   metrics=metrics or ServiceMetrics(),
                   rate_limiter=RateLimiter(rate, clock=monotonic) if rate else None)

    def webhook_url(self, project_id: str, integration_id: str, kind: str) -> str:
        return f"{self.public_url}/v1/webhooks/infobip/{project_id}/{integration_id}/{kind}"


def context_of(request: HTTPConnection) -> ServiceContext:
    """The context the app was created with (smsledger.adapters.http.app.create_app)."""
    context: ServiceContext = request.app.state.context
    return context
