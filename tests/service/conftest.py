"""The HTTP service on loopback, with the Infobip simulator standing in for Infobip."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.application.ledger import LedgerApplication
from support.wiring import ledger_of

SIMULATOR_KEY = "simulated-infobip-key"


@dataclass
class Service:
    url: str
    ledger: LedgerApplication
    simulator: InfobipSimulator
    admin_token: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def new_project(self, project_id: str) -> str:
        """A second project, with its own admin token."""
        return self.ledger.projects.create_project(project_id)


@pytest.fixture
def service(durable_store_url, tmp_path):
    # The simulator answers on loopback: a private address, allowed for the tests.
    settings = load_settings(database_url=durable_store_url, secret_key="http-tests-0123456789abcdef",
                             max_body_bytes=64 * 1024, allow_private_networks=True)
    config = SimulatorConfig(api_key=SIMULATOR_KEY, report_delay=0.05, late_report_delay=0.3)
    with InfobipSimulator(config) as simulator, BackgroundServer() as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        server.start(create_app(ServiceContext.serving(channel, server.url, settings)))
        admin_token = channel.projects.create_project("acme")
        yield Service(server.url, ledger_of(channel), simulator, admin_token)
        server.stop()
        channel.close()


def configure_infobip(client: httpx.Client, simulator: InfobipSimulator,
                      project: str = "acme") -> dict:
    answer = client.put(f"/v1/projects/{project}/integrations/infobip", json={
        "base_url": simulator.base_url, "api_key": SIMULATOR_KEY,
        "senders": ["AcmeShop", "385991234567"], "default_sender": "AcmeShop"})
    assert answer.status_code == 200, answer.text
    assert client.put(f"/v1/projects/{project}/channels/sms",
                      json={"default_provider": "infobip"}).status_code == 200
    return answer.json()
