"""Real servers on loopback: the Infobip simulator and the smsledger service."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.infobip.accounts import InfobipAccount, StaticAccounts
from smsledger.adapters.infobip.addresses import ProviderAddresses
from smsledger.adapters.infobip.provider import InfobipProvider, RetryPolicy
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.application.ledger import LedgerApplication
from support.wiring import ledger_of

PROJECT, INTEGRATION, API_KEY = "acme", "infobip", "sim-api-key"
LOOPBACK_ALLOWED = ProviderAddresses(allow_private_networks=True)


@dataclass
class Stack:
    ledger: LedgerApplication
    simulator: InfobipSimulator
    webhook: BackgroundServer
    provider: InfobipProvider
    accounts: StaticAccounts
    secret: str  # the integration's webhook secret

    @property
    def webhook_path(self) -> str:
        return f"/v1/webhooks/infobip/{PROJECT}/{INTEGRATION}/delivery-reports"

    @property
    def webhook_url(self) -> str:
        return (f"http://{INTEGRATION}:{self.secret}@{self.webhook.host}:{self.webhook.port}"
                f"{self.webhook_path}")


@pytest.fixture
def stack(request, durable_store_url):
    """The service (ledger, webhooks) + real Infobip adapter + simulator, on loopback,
    on a durable store (SQLite and PostgreSQL). The adapter's account table is
    static here, so tests can point it elsewhere; the project's integration holds
    the webhook secret."""
    options = getattr(request, "param", {}) or {}
    config = SimulatorConfig(api_key=API_KEY, report_delay=0.05, late_report_delay=0.3,
                             slow_answer_seconds=1.0, webhook_retry_delays=(0.05, 0.1, 0.2))
    accounts = StaticAccounts({})
    # The simulator answers on loopback: a private address, allowed for the tests.
    provider = InfobipProvider(accounts, timeout=options.get("timeout", 5.0),
                               retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05),
                               addresses=LOOPBACK_ALLOWED)
    settings = load_settings(database_url=durable_store_url, secret_key="integration-tests-0123456789abcdef",
                             allow_private_networks=True)
    with InfobipSimulator(config) as simulator, BackgroundServer() as webhook, provider:
        channel = bootstrap(settings=settings, public_url=webhook.url, provider=provider)
        ledger = ledger_of(channel)
        webhook.start(create_app(ServiceContext.serving(channel, webhook.url, settings)))
        ledger.projects.create_project(PROJECT)
        _, secret = ledger.projects.configure_integration(
            PROJECT, INTEGRATION, base_url=simulator.base_url, api_key=API_KEY,
            senders=["Acme"], default_sender="Acme", changed_by="test")
        stack = Stack(ledger, simulator, webhook, provider, accounts, secret)
        accounts.add(PROJECT, INTEGRATION, InfobipAccount(
            base_url=simulator.base_url, api_key=API_KEY, delivery_webhook_url=stack.webhook_url))
        yield stack
        webhook.stop()
        ledger.close()
