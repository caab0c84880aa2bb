"""Real servers on loopback: the Infobip simulator and our webhook service."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.http.app import create_app
from adapters.http.server import BackgroundServer
from adapters.http.webhook_auth import StaticWebhookCredentials
from adapters.infobip.accounts import InfobipAccount, StaticAccounts
from adapters.infobip.provider import InfobipProvider, RetryPolicy
from adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from adapters.bootstrap import build_ledger
from adapters.config import load_settings
from application.ledger import SmsLedger

PROJECT, INTEGRATION, API_KEY, SECRET = "acme", "infobip", "sim-api-key", "webhook-secret-123"


@dataclass
class Stack:
    ledger: SmsLedger
    simulator: InfobipSimulator
    webhook: BackgroundServer
    provider: InfobipProvider
    accounts: StaticAccounts

    @property
    def webhook_path(self) -> str:
        return f"/v1/webhooks/infobip/{PROJECT}/{INTEGRATION}/delivery-reports"

    @property
    def webhook_url(self) -> str:
        return (f"http://{INTEGRATION}:{SECRET}@{self.webhook.host}:{self.webhook.port}"
                f"{self.webhook_path}")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture
def stack(request, store_url):
    """Ledger + real adapter + simulator + webhook service, all on loopback, on a
    durable store (SQLite and PostgreSQL)."""
    options = getattr(request, "param", {}) or {}
    config = SimulatorConfig(api_key=API_KEY, report_delay=0.05, late_report_delay=0.3,
                             slow_answer_seconds=1.0, webhook_retry_delays=(0.05, 0.1, 0.2))
    accounts = StaticAccounts({})
    provider = InfobipProvider(accounts, timeout=options.get("timeout", 5.0),
                               retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05))
    ledger = build_ledger(load_settings(database_url=store_url), provider=provider)
    credentials = StaticWebhookCredentials({(PROJECT, INTEGRATION): SECRET})
    with InfobipSimulator(config) as simulator, \
            BackgroundServer(create_app(ledger, credentials)) as webhook, provider:
        stack = Stack(ledger, simulator, webhook, provider, accounts)
        accounts.add(PROJECT, INTEGRATION, InfobipAccount(
            base_url=simulator.base_url, api_key=API_KEY, delivery_webhook_url=stack.webhook_url))
        yield stack
    ledger.close()
