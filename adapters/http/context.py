"""What the HTTP handlers work with, built once per service."""

from __future__ import annotations

from dataclasses import dataclass, field

from smsledger.adapters.http.metrics import ServiceMetrics
from smsledger.application.ledger import LedgerApplication
from smsledger.application.projects import ProjectDirectory


@dataclass
class ServiceContext:
    ledger: LedgerApplication
    public_url: str  # where Infobip reaches this service, e.g. https://sms.example.com
    max_body_bytes: int = 4 * 1024 * 1024
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)

    @property
    def projects(self) -> ProjectDirectory:
        return self.ledger.projects

    def webhook_url(self, project_id: str, integration_id: str, kind: str) -> str:
        return f"{self.public_url}/v1/webhooks/infobip/{project_id}/{integration_id}/{kind}"
