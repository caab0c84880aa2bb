"""Event subscriptions end to end: `smsledger serve` as an operator runs it, the Infobip
simulator standing in for Infobip, and the platform's receiver, an HTTP server on
loopback that verifies every request with the `standardwebhooks` package.

1. A receiver that answers its first three deliveries with 500 and then accepts ends
   with every campaign event exactly once (repeats dropped by `event_id`), in feed
   order, and the subscription shows lag 0.
2. A receiver down for longer than the retry budget leaves the subscription disabled,
   saying why; enabled again, it receives what it missed, and a replay from a cursor
   delivers the events after it again.
3. The README's receiver, run as written, verifies and prints every event once.

Backoffs and the budget are a fraction of a second, so this runs in seconds."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from support.serve_process import CLI, Service, free_port
from support.waiting import wait_for

API_KEY = "subscriptions-infobip-key"
# The simulator's rules, by the last two digits: delivered, rejected, failed, expired,
# delivered with its report posted twice. Each message: `enqueued`, then its final status.
CAMPAIGN = ["+385921234510", "+385921234520", "+385921234530", "+385921234540",
            "+385921234550"]


class Receiver:
    """The platform's endpoint: verifies each request's signature with the secret it is
    given, records what came, and answers with `answers` in turn (then 204)."""

    def __init__(self, port: int = 0, answers: list[int] | None = None) -> None:
        self.secret: str | None = None
        self.answers = list(answers or [])
        self.requests: list[dict] = []
        self.unverified: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received(self, body)

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/sms"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def received(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._lock:
            try:
                payload = Webhook(self.secret).verify(body, dict(handler.headers.items()))
            except WebhookVerificationError as error:
                self.unverified.append(str(error))
                payload = json.loads(body)
            status = self.answers.pop(0) if self.answers else 204
            self.requests.append({"id": handler.headers["webhook-id"], "status": status,
                                  "events": payload["events"], "next": payload["next"]})
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def accepted_event_ids(self) -> list[str]:
        """What the platform keeps: the events of acknowledged requests, repeats dropped
        by event_id (the first arrival kept)."""
        with self._lock:
            ids = [e["event_id"] for r in self.requests if r["status"] < 300 for e in r["events"]]
        return list(dict.fromkeys(ids))

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Platform:
    """The service's client, as the platform (admin token) uses it."""

    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(base_url=f"{base}/v1/projects/acme", timeout=60,
                                 headers={"Authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, **kwargs) -> dict:
        answer = self.http.request(method, path, **kwargs)
        assert answer.status_code in (200, 202), answer.text
        return answer.json()

    def feed(self) -> list[dict]:
        return self.call("GET", "/events", params={"after": "0", "limit": "1000"})["events"]

    def subscription(self) -> dict:
        return self.call("GET", "/subscriptions/crm")

    def send_campaign(self, numbers: list[str], campaign: str) -> None:
        sent = self.call("POST", "/messages/batch", json={"messages": [
            {"customer_id": f"c-{i}", "to": number, "text": "Spring sale",
             "campaign_id": campaign} for i, number in enumerate(numbers)]})
        assert all(m["status"] in ("enqueued", "rejected") for m in sent["messages"]), sent


@pytest.fixture
def serve(tmp_path):
    """Start `smsledger serve` on `database_url` with the simulator as Infobip and the
    given settings; yields (platform, simulator); stopped at the end."""
    started: list[Service] = []
    simulator = InfobipSimulator(SimulatorConfig(api_key=API_KEY, report_delay=0.05)).start()

    def start(database_url: str, **settings: str) -> Platform:
        port = free_port()
        env = {**os.environ, "SMSLEDGER_DATABASE_URL": database_url,
               "SMSLEDGER_SECRET_KEY": "subscriptions-secret-key-0123456789",
               "SMSLEDGER_PUBLIC_URL": f"http://127.0.0.1:{port}",
               # The simulator and the receiver are on loopback.
               "SMSLEDGER_ALLOW_PRIVATE_NETWORKS": "true",
               "SMSLEDGER_SUBSCRIPTION_BACKOFF_FIRST_SECONDS": "0.2",
               "SMSLEDGER_SUBSCRIPTION_BACKOFF_MAX_SECONDS": "0.5",
               "SMSLEDGER_SUBSCRIPTION_TIMEOUT_SECONDS": "2",
               **{f"SMSLEDGER_{k.upper()}": v for k, v in settings.items()}}
        created = subprocess.run([*CLI, "projects", "create", "acme"], env=env, cwd=tmp_path,
                                 capture_output=True, text=True, timeout=60, check=True)
        started.append(Service(tmp_path, env, port).start())
        platform = Platform(started[-1].base, json.loads(created.stdout)["admin_token"])
        platform.call("PUT", "/integrations/infobip", json={
            "base_url": simulator.base_url, "api_key": API_KEY, "senders": ["Acme"],
            "default_sender": "Acme"})
        platform.call("PUT", "/channels/sms", json={"default_provider": "infobip"})
        return platform

    yield start, simulator
    for service in started:
        service.stop()
    simulator.stop()


def settled(platform: Platform, simulator: InfobipSimulator, events: int) -> list[dict]:
    """The feed once every report of the campaign is in: `events` of them."""
    simulator.wait_until_idle(timeout=30)
    return wait_for(lambda: (lambda f: f if len(f) == events else None)(platform.feed()),
                    timeout=30, what=f"{events} campaign events in the feed")


def test_a_receiver_failing_its_first_three_deliveries_gets_every_event_in_order(
        serve, durable_store_url):
    start, simulator = serve
    platform = start(durable_store_url)
    with Receiver(answers=[500, 500, 500]) as receiver:
        created = platform.call("PUT", "/subscriptions/crm", json={"url": receiver.url})
        receiver.secret = created["secret"]
        platform.send_campaign(CAMPAIGN, "spring")
        feed = settled(platform, simulator, 2 * len(CAMPAIGN))

        wanted = [e["event_id"] for e in feed]
        wait_for(lambda: receiver.accepted_event_ids() == wanted
                 and platform.subscription()["lag"] == 0, timeout=60,
                 what="every campaign event acknowledged by the receiver")
        assert receiver.unverified == []  # every request's signature verified
        assert [r["status"] for r in receiver.requests[:3]] == [500, 500, 500]
        assert receiver.requests[0]["id"] == receiver.requests[1]["id"]  # the batch, retried
        assert all(len(r["events"]) <= 100 for r in receiver.requests)
        statuses = {e["properties"]["status"] for e in feed}
        assert statuses == {"enqueued", "delivered", "rejected", "failed"}
        view = platform.subscription()
        assert (view["lag"], view["failures"], view["enabled"]) == (0, 0, True)
        assert view["delivered"] >= len(wanted) and view["last_success_at"]
        assert view["last_error"] == "the receiver answered HTTP 500"
        assert view["position"] == str(max(int(r["next"]) for r in receiver.requests))


def test_a_receiver_down_beyond_the_budget_disables_the_subscription_until_enabled_again(
        serve, tmp_path):
    start, simulator = serve
    platform = start(f"sqlite:///{tmp_path}/store.db",
                     subscription_retry_budget_seconds="2")
    port = free_port()  # where the receiver will listen: nothing does yet
    url = f"http://127.0.0.1:{port}/hooks/sms"
    secret = platform.call("PUT", "/subscriptions/crm", json={"url": url})["secret"]
    platform.send_campaign(CAMPAIGN[:2], "spring")
    settled(platform, simulator, 4)

    disabled = wait_for(lambda: (lambda s: s if not s["enabled"] else None)(
        platform.subscription()), timeout=30, what="the subscription to be disabled")
    assert "retry budget" in disabled["disabled_reason"]
    assert "could not reach the receiver (ConnectError)" in disabled["disabled_reason"]
    assert (disabled["position"], disabled["lag"]) == ("0", 4)  # nothing skipped
    # While disabled, the campaign goes on: those events wait too.
    platform.send_campaign(CAMPAIGN[2:3], "summer")
    feed = settled(platform, simulator, 6)

    with Receiver(port=port) as receiver:
        receiver.secret = secret
        enabled = platform.call("PUT", "/subscriptions/crm", json={"url": url})
        assert enabled["enabled"] and enabled["disabled_reason"] is None
        wanted = [e["event_id"] for e in feed]
        wait_for(lambda: receiver.accepted_event_ids() == wanted, timeout=30,
                 what="the missed events to be delivered")

        # The platform lost what came after its fourth event: a replay from that cursor.
        cursor = next(r["next"] for r in receiver.requests  # a cursor it was given
                      if r["events"][-1]["event_id"] == wanted[-1])
        first_four = platform.call("GET", "/events", params={"after": "0", "limit": "4"})
        before = len(receiver.requests)
        replayed = platform.call("POST", "/subscriptions/crm/replay",
                                 json={"after": first_four["next"]})
        assert replayed["lag"] == 2
        wait_for(lambda: platform.subscription()["lag"] == 0 and len(receiver.requests) > before,
                 timeout=30, what="the replay to be delivered")
        again = [e["event_id"] for r in receiver.requests[before:] for e in r["events"]]
        assert again == wanted[4:]
        assert receiver.unverified == []
        assert platform.subscription()["position"] == cursor


README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_receiver_verifies_and_takes_every_event_once(serve, tmp_path):
    start, simulator = serve
    platform = start(f"sqlite:///{tmp_path}/store.db")
    port = free_port()
    secret = platform.call("PUT", "/subscriptions/crm",
                           json={"url": f"http://127.0.0.1:{port}/hooks"})["secret"]
    example = re.search(r"### Subscriptions \(push\).*?```python\n(.*?)```", README.read_text(),
                        re.DOTALL).group(1)
    assert 'Webhook("whsec_...")' in example and '("", 8000)' in example
    example = example.replace("whsec_...", secret).replace('("", 8000)', f'("127.0.0.1", {port})')
    receiver = subprocess.Popen([sys.executable, "-u", "-c", example], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    try:
        platform.send_campaign([CAMPAIGN[0], CAMPAIGN[4]], "spring")  # delivered, twice reported
        feed = settled(platform, simulator, 4)
        wait_for(lambda: platform.subscription()["lag"] == 0, timeout=30,
                 what="the README receiver to acknowledge every event")
    finally:
        receiver.terminate()
        out, err = receiver.communicate(timeout=10)
    assert out.splitlines() == [f"campaign {e['properties']['status']}" for e in feed], err
    assert "Traceback" not in err  # every signature verified
