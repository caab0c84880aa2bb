"""smsledger's HTTP service in this process, sending through the real InfobipProvider to
the Infobip simulator, with the provider's timeout and retries set by the test.

The provider is the real one; only its knobs are turned down (a read timeout under the
simulator's slow answer, retries in milliseconds), and its pauses are recorded on the
way to a real sleep, so a test can see that a 429's Retry-After was waited for. The
webhook server can be taken down and brought back on the same port: for Infobip, a
receiver that is down for a while.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.facade import SmsChannel
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.infobip.accounts import InfobipAccount, StaticAccounts
from smsledger.adapters.infobip.addresses import ProviderAddresses
from smsledger.adapters.infobip.provider import InfobipProvider, RetryPolicy
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.adapters.runtime.config import Settings, load_settings

PROJECT, INTEGRATION, API_KEY, CAMPAIGN = "acme", "infobip", "faults-api-key", "spring"
ATTEMPTS = 3  # the provider's attempts per hand-over
# The simulator answers on loopback: a private address, allowed for the tests.
LOOPBACK_ALLOWED = ProviderAddresses(allow_private_networks=True)


@dataclass
class FaultStack:
    channel: SmsChannel
    settings: Settings
    simulator: InfobipSimulator
    provider: InfobipProvider
    webhook: BackgroundServer
    admin_token: str
    webhook_secret: str
    sleeps: list[float] = field(default_factory=list)  # the provider's pauses between attempts

    @property
    def url(self) -> str:
        return self.webhook.url

    @property
    def report_path(self) -> str:
        return f"/v1/webhooks/infobip/{PROJECT}/{INTEGRATION}/delivery-reports"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {self.admin_token}"})

    def send(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST one batch to the service; its per-message answers."""
        with self.client() as client:
            answer = client.post(f"/v1/projects/{PROJECT}/messages/batch",
                                 json={"messages": messages})
        assert answer.status_code == 202, answer.text
        results: list[dict[str, Any]] = answer.json()["messages"]
        assert not [r for r in results if r["status"] == "invalid"], results
        return results

    def post_reports(self, body: str | bytes) -> dict[str, int]:
        """POST one delivery-report body to the webhook, as Infobip does."""
        answer = httpx.post(self.url + self.report_path, content=body, timeout=60,
                            auth=(INTEGRATION, self.webhook_secret),
                            headers={"Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def audit(self) -> dict[str, Any]:
        with self.client() as client:
            answer = client.get(f"/v1/projects/{PROJECT}/campaigns/{CAMPAIGN}/audit")
        assert answer.status_code == 200, answer.text
        return answer.json()

    def status(self, message_id: str) -> str:
        return self.view(message_id)["status"]

    def view(self, message_id: str) -> dict[str, Any]:
        with self.client() as client:
            return client.get(f"/v1/projects/{PROJECT}/messages/{message_id}").json()

    def feed(self) -> list[dict[str, Any]]:
        """Every campaign event of the project, page by page."""
        events: list[dict[str, Any]] = []
        cursor = "0"
        with self.client() as client:
            while True:
                page = client.get(f"/v1/projects/{PROJECT}/events",
                                  params={"after": cursor, "limit": 500}).json()
                if not page["events"]:
                    break
                events += page["events"]
                cursor = page["next"]
        return events

    def maintenance(self) -> dict[str, Any]:
        """One round with every wait at zero, as `smsledger maintenance --once --older-than 0`."""
        return self.channel.run_maintenance(older_than=timedelta(0))

    def requests_per_id(self) -> Counter[str]:
        """How many send requests Infobip received carrying each message id."""
        return Counter(destination["messageId"]
                       for request in self.simulator.requests if isinstance(request.body, dict)
                       for message in request.body.get("messages", [])
                       for destination in message.get("destinations", []))

    @contextlib.contextmanager
    def webhook_down(self) -> Iterator[None]:
        """The webhook receiver stopped (connections refused), then back on the same port."""
        port = self.webhook.port
        self.webhook.stop()
        try:
            yield
        finally:
            self.webhook = BackgroundServer(port=port)
            self.webhook.start(self._app())

    def _app(self) -> Any:
        return create_app(ServiceContext.serving(self.channel, self.webhook.url, self.settings))


@contextlib.contextmanager
def fault_stack(store_url: str, *, provider_timeout: float = 5.0, batch_size: int = 1000,
                push_reports: bool = True, **simulator: Any) -> Iterator[FaultStack]:
    """The service on `store_url` (an empty store), the simulator (SimulatorConfig
    fields as keyword arguments) and the real provider, `batch_size` messages per
    request to Infobip. `push_reports=False`: the simulator keeps the reports for
    pulling (GET /sms/3/reports) instead of posting them."""
    config = SimulatorConfig(**{"api_key": API_KEY, "report_delay": 0.05, **simulator})
    accounts = StaticAccounts({})
    sleeps: list[float] = []

    def recorded_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    provider = InfobipProvider(
        accounts, batch_size=batch_size, addresses=LOOPBACK_ALLOWED, sleep=recorded_sleep,
        timeout=httpx.Timeout(provider_timeout, connect=2.0),
        retry=RetryPolicy(max_attempts=ATTEMPTS, base_delay=0.01, max_delay=2.0))
    settings = load_settings(database_url=store_url, secret_key="reliability-0123456789abcdef",
                             allow_private_networks=True)
    with InfobipSimulator(config) as sim, BackgroundServer() as webhook, provider:
        channel = bootstrap(settings=settings, public_url=webhook.url, provider=provider)
        admin = channel.projects.create_project(PROJECT)
        _, secret = channel.projects.configure_integration(
            PROJECT, INTEGRATION, base_url=sim.base_url, api_key=API_KEY,
            senders=["Acme"], default_sender="Acme", changed_by="test")
        stack = FaultStack(channel, settings, sim, provider, webhook, admin, secret, sleeps)
        try:
            webhook.start(stack._app())
            with stack.client() as client:
                chosen = client.put(f"/v1/projects/{PROJECT}/channels/sms",
                                    json={"default_provider": INTEGRATION})
                assert chosen.status_code == 200, chosen.text
            hook = (f"http://{INTEGRATION}:{secret}@{webhook.host}:{webhook.port}"
                    f"{stack.report_path}") if push_reports else None
            accounts.add(PROJECT, INTEGRATION, InfobipAccount(
                base_url=sim.base_url, api_key=API_KEY, delivery_webhook_url=hook))
            yield stack
        finally:
            stack.webhook.stop()
            channel.close()
