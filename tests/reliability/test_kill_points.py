"""`smsledger serve` killed outright (SIGKILL) at several points, then restarted.

Promises checked (README, Reliability):
- nothing requested for ever, and nothing sent twice: a batch send killed right after
  its first batch reached Infobip, in the middle, or with its last batch at Infobip
  still unanswered, then retried by the platform and settled by one
  `smsledger maintenance --once --older-than 0`, ends with every message sent to
  Infobip (the simulator) exactly once, enqueued and delivered;
- a webhook answers 2xx only once its reports are stored: a burst of delivery-report
  callbacks from concurrent senders, which post each callback again until it is
  answered 2xx as Infobip does, killed early or in the middle, loses no report that
  was answered 2xx and counts none twice.

Extends tests/e2e/test_crash_recovery.py (one kill in the middle of 5 x 1000) to more
points, on smaller batches. An Infobip answer held back (the simulator's rule `93`:
accepted, answered after `slow_answer_seconds`) pins each kill to a known batch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from support.serve_process import CLI, Service, free_port
from support.statuses import outcome, report_body
from support.waiting import wait_for

API_KEY = "kill-points-infobip-key"
BATCHES, BATCH = 4, 250
TOTAL = BATCHES * BATCH
CALLBACK_SIZE, SENDERS = 10, 8
SLOW_ANSWER = 5.0  # seconds the held-back batch keeps its request open: the kill's window


class Deployment:
    """A project `acme` on a fresh store, its Infobip integration pointing at the
    simulator, and the service: what each test kills and restarts."""

    def __init__(self, folder, database_url, simulator):
        self.folder, self.port = folder, free_port()
        self.env = {**os.environ, "SMSLEDGER_DATABASE_URL": database_url,
                    "SMSLEDGER_SECRET_KEY": "kill-points-key-0123456789abcdef",
                    "SMSLEDGER_PUBLIC_URL": f"http://127.0.0.1:{self.port}",
                    "SMSLEDGER_ALLOW_PRIVATE_NETWORKS": "true",
                    "SMSLEDGER_SEND_BATCH_SIZE": str(BATCH)}
        created = self.cli("projects", "create", "acme")
        self.headers = {"Authorization": f"Bearer {created['admin_token']}"}
        self.service = Service(folder, self.env, self.port).start()
        configured = httpx.put(f"{self.base}/v1/projects/acme/integrations/infobip",
                               headers=self.headers, json={
                                   "base_url": simulator.base_url, "api_key": API_KEY,
                                   "senders": ["Acme"], "default_sender": "Acme"})
        assert configured.status_code == 200, configured.text
        hooks = configured.json()["webhooks"]
        self.webhook = (hooks["delivery_reports"], (hooks["username"], hooks["secret"]))
        assert httpx.put(f"{self.base}/v1/projects/acme/channels/sms", headers=self.headers,
                         json={"default_provider": "infobip"}).status_code == 200

    @property
    def base(self):
        return self.service.base

    def cli(self, *args):
        done = subprocess.run([*CLI, *args], env=self.env, cwd=self.folder,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def maintenance_round(self):
        """One `smsledger maintenance --once --older-than 0`: every wait of recovery zero."""
        round_ = self.cli("maintenance", "--once", "--older-than", "0")
        assert round_["failed_integrations"] == [] and round_["gave_up"] == 0, round_
        return round_

    def post_batch(self, batch):
        return httpx.post(f"{self.base}/v1/projects/acme/messages/batch", headers=self.headers,
                          json=batch, timeout=120)

    def audit(self):
        answer = httpx.get(f"{self.base}/v1/projects/acme/campaigns/spring/audit",
                           headers=self.headers, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def feed(self):
        events, after = [], "0"
        while True:
            page = httpx.get(f"{self.base}/v1/projects/acme/events", headers=self.headers,
                             params={"after": after, "limit": 1000}, timeout=60).json()
            if not page["events"]:
                return events
            events += page["events"]
            after = page["next"]

    def stop(self):
        self.service.stop()


@pytest.fixture
def deploy(tmp_path):
    """deploy(simulator, store): a Deployment on an SQLite file or a PostgreSQL schema."""
    made = []

    def make(simulator, store, request_fixture):
        url = (f"sqlite:///{tmp_path}/kill.db" if store == "sqlite"
               else request_fixture.getfixturevalue("postgres_url"))
        made.append(Deployment(tmp_path, url, simulator))
        return made[-1]

    yield make
    for deployment in made:
        deployment.stop()


def campaign(slow_batch=None):
    """TOTAL messages to numbers ending 10 (accepted, then delivered); with `slow_batch`,
    that batch's first message ends 93: its request is answered SLOW_ANSWER late."""
    numbers = [f"+38591{i:05d}10" for i in range(TOTAL)]
    if slow_batch is not None:
        numbers[slow_batch * BATCH] = f"+38591{99_900 + slow_batch:05d}93"
    return {"messages": [{"customer_id": f"c{i}", "to": number, "text": "Spring sale",
                          "campaign_id": "spring", "message_id": f"m-{i}"}
                         for i, number in enumerate(numbers)]}


# --- a batch send killed -----------------------------------------------------------------------

@pytest.mark.parametrize("point, slow_batch", [
    ("right after the first batch reached Infobip", 0),
    ("in the middle", 1),
    ("with the last batch at Infobip, unanswered", BATCHES - 1),
])
def test_a_batch_send_killed_at_any_point_ends_sent_exactly_once(deploy, request, point,
                                                                 slow_batch):
    """Nothing requested for ever, nothing sent twice: killed `point`, the platform's
    retry and one maintenance round leave every message sent once, and delivered."""
    config = SimulatorConfig(api_key=API_KEY, report_delay=0.05,
                             slow_answer_seconds=SLOW_ANSWER)
    with InfobipSimulator(config) as simulator:
        deployment = deploy(simulator, "sqlite", request)
        batch = campaign(slow_batch)
        platform = threading.Thread(target=_post_ignoring_the_crash,
                                    args=(deployment, batch), daemon=True)
        platform.start()
        reached = (slow_batch + 1) * BATCH
        wait_for(lambda: len(simulator.sent_message_ids()) >= reached, timeout=60,
                 what=f"batch {slow_batch + 1} to reach Infobip")
        deployment.service.kill()
        platform.join(timeout=30)
        # The kill came while the held-back batch's request was open: no later batch
        # was sent.
        assert len(simulator.sent_message_ids()) == reached

        deployment.service.start()
        retried = deployment.post_batch(batch)
        assert retried.status_code == 202, retried.text
        deployment.maintenance_round()

        # Sent once: in one request to Infobip each (the simulator would refuse a second
        # request's copy as a duplicate id, so its acceptances alone would not tell).
        accepted = Counter(simulator.sent_message_ids())
        assert set(accepted) == {f"m-{i}" for i in range(TOTAL)}
        assert set(accepted.values()) == {1}
        carried = Counter(destination["messageId"] for sent in simulator.requests
                          if sent.path == "/sms/3/messages"
                          for message in sent.body["messages"]
                          for destination in message["destinations"])
        assert carried == accepted

        def settled():
            audit = deployment.audit()
            return audit if audit["delivered"] == TOTAL else None

        audit = wait_for(settled, timeout=60, what="every report to be stored")
        assert {k: audit[k] for k in ("requested", "enqueued", "unresolved", "enqueue_failed",
                                      "delivered", "rejected", "failed", "pending")} == {
            "requested": TOTAL, "enqueued": TOTAL, "unresolved": 0, "enqueue_failed": 0,
            "delivered": TOTAL, "rejected": 0, "failed": 0, "pending": 0}
        assert audit["drift"] == []


def _post_ignoring_the_crash(deployment, batch):
    try:
        deployment.post_batch(batch)
    except httpx.TransportError:
        pass  # the service died under the request: the platform will post it again


# --- a webhook burst killed --------------------------------------------------------------------

class InfobipSenders:
    """Concurrent webhook senders posting callbacks of CALLBACK_SIZE delivered reports,
    each posted again (after a short pause, Infobip's schedule compressed) until it is
    answered 2xx."""

    def __init__(self, url, auth, message_ids):
        now = datetime.now(UTC)
        self.url, self.auth = url, auth
        self.callbacks = [self._body(message_ids[i:i + CALLBACK_SIZE], now)
                          for i in range(0, len(message_ids), CALLBACK_SIZE)]
        self.answered = []  # message ids of every callback answered 2xx, in order
        self.refused = 0  # answers that were not 2xx, and requests without an answer
        self._next = 0
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._send, daemon=True)
                         for _ in range(SENDERS)]

    @staticmethod
    def _body(ids, now):
        reported = outcome("DELIVERED_TO_HANDSET", sent_at=now, done_at=now)
        results = [json.loads(report_body(m, reported))["results"][0] for m in ids]
        return ids, json.dumps({"results": results})

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def answered_count(self):
        with self._lock:
            return len(self.answered)

    def join(self, timeout):
        for thread in self._threads:
            thread.join(timeout)
            assert not thread.is_alive(), "a sender never got its callback answered 2xx"

    def _send(self):
        with httpx.Client(auth=self.auth, timeout=30,
                          headers={"Content-Type": "application/json"}) as client:
            while True:
                with self._lock:
                    if self._next == len(self.callbacks):
                        return
                    ids, body = self.callbacks[self._next]
                    self._next += 1
                while not self._posted(client, body):
                    time.sleep(0.1)
                with self._lock:
                    self.answered += ids

    def _posted(self, client, body):
        try:
            ok = client.post(self.url, content=body).is_success
        except httpx.TransportError:
            ok = False
        if not ok:
            with self._lock:
                self.refused += 1
        return ok


@pytest.mark.parametrize("point, answered_first", [("early", 1), ("in the middle", TOTAL // 2)])
def test_a_webhook_burst_killed_loses_no_report_answered_2xx(deploy, request, point,
                                                             answered_first):
    """Webhook 2xx only once stored: killed `point` of a burst from concurrent senders
    that retry until 2xx, every report answered 2xx is stored, and none counts twice."""
    # Reports held back by the simulator: the burst below is the only one posting them.
    config = SimulatorConfig(api_key=API_KEY, report_delay=86_400.0)
    with InfobipSimulator(config) as simulator:
        deployment = deploy(simulator, "postgres", request)
        sent = deployment.post_batch(campaign())
        assert sent.status_code == 202, sent.text
        ids = [m["message_id"] for m in sent.json()["messages"]]
        assert len(ids) == TOTAL

        url, auth = deployment.webhook
        senders = InfobipSenders(url, auth, ids).start()
        wait_for(lambda: senders.answered_count() >= answered_first, timeout=60,
                 what=f"{answered_first} reports answered 2xx")
        deployment.service.kill()
        answered_before_kill = set(senders.answered)
        assert len(answered_before_kill) < TOTAL  # the kill came during the burst
        deployment.service.start()
        senders.join(timeout=60)
        assert senders.refused > 0  # some callbacks met the dead service and were retried
        deployment.maintenance_round()

        audit = deployment.audit()
        assert (audit["requested"], audit["enqueued"], audit["delivered"], audit["pending"],
                audit["unresolved"]) == (TOTAL, TOTAL, TOTAL, 0, 0)
        assert audit["drift"] == []
        delivered = Counter(e["properties"]["message_id"] for e in deployment.feed()
                            if e["properties"]["status"] == "delivered")
        assert set(delivered) == set(senders.answered) == set(ids)
        assert answered_before_kill <= set(delivered)
        assert set(delivered.values()) == {1}
