"""PostgreSQL fails while Infobip is posting delivery reports: nothing is lost,
nothing is counted twice, and every answer is a quick, honest one.

Promises checked (README, "Reliability"):
- *webhook 2xx only once stored*: every 200 during the outage carried reports that
  the store kept (they are all in the audit and the feed afterwards);
- *when the database is down, smsledger never hangs on its store*: every answer
  came within the store budget (`store_timeout_seconds`) and a margin, and every
  answer that was not 200 was 503 `store_unavailable`, so Infobip retried;
- *the running service reconnects by itself*: the same `smsledger serve` process,
  never restarted, stores the rest once PostgreSQL is back, whether it was
  restarted, down for seconds, or down so long that the connection pool gave up;
- *nothing lost or counted twice*: the campaign audit counts exactly N delivered
  (no drift from the statistics), and the feed holds exactly one `delivered` event
  per message, with no event id twice.

Set-up: a PostgreSQL cluster of the test's own, `smsledger serve` in its own process
with a store budget of 2 s, N messages sent through the API to the Infobip simulator
to numbers it never reports on (ending 70), so that the only reports are the ones
this test's senders post, as Infobip would: a non-2xx answer or a connection error
and the same body is posted again a moment later, until it is answered 2xx.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from support.own_postgres import OwnPostgres, own_postgres  # noqa: F401  (the fixture)
from support.statuses import outcome, report_body
from support.waiting import wait_for
from reliability.outage_harness import Attempt, InfobipSenders, ServeProcess, feed

N = 600                   # messages, each delivered by exactly one report
REPORTS_PER_BODY = 3      # Infobip batches reports; small bodies make many requests
BUDGET = 2.0              # the service's store_timeout_seconds
MARGIN = 1.5              # HTTP, process hand-offs and a loaded 2-core machine
SIMULATOR_KEY = "outage-infobip-key"
PROJECT, CAMPAIGN = "acme", "outage"


@dataclass
class Scenario:
    name: str
    outage: Callable[[OwnPostgres], None]  # from PostgreSQL failing to its being back
    # Whether senders see 503s. If they do, only from requests begun while the
    # database was down or up to one budget after (the pool's next connection
    # attempt is at most that far off); if not, the fault cost no request at all.
    refusals: bool


def _restart(cluster: OwnPostgres) -> None:
    cluster.stop()
    cluster.start()


def _down_for(seconds: float) -> Callable[[OwnPostgres], None]:
    def outage(cluster: OwnPostgres) -> None:
        cluster.stop()
        time.sleep(seconds)  # the fault's length itself: there is nothing to wait for
        cluster.start()
    return outage


SCENARIOS = [
    # A restart mid-ingest: every pooled connection is cut at once.
    # README: "connections cut by a database restart are replaced without failing
    # requests", so not one 503.
    Scenario("restart", _restart, refusals=False),
    # An immediate stop for several seconds, longer than the budget.
    Scenario("down-5s", _down_for(5.0), refusals=True),
    # Down four budgets over: the pool's reconnection attempts give up meanwhile.
    Scenario("down-past-the-pool", _down_for(4 * BUDGET + 1), refusals=True),
]


@dataclass
class Setup:
    service: ServeProcess
    client: httpx.Client
    webhook_url: str
    credentials: tuple[str, str]
    message_ids: list[str]


@pytest.fixture
def setup(own_postgres: OwnPostgres, tmp_path: Path) -> Iterator[Setup]:  # noqa: F811
    """The service on the test's own cluster, with N messages of campaign `outage`
    enqueued at the simulator, which will never report on them."""
    service = ServeProcess(tmp_path, own_postgres.url, BUDGET)
    admin_token = service.create_project(PROJECT)
    config = SimulatorConfig(api_key=SIMULATOR_KEY, report_delay=0.05)
    with InfobipSimulator(config) as simulator, service, httpx.Client(
            base_url=service.url, timeout=60,
            headers={"Authorization": f"Bearer {admin_token}"}) as client:
        integration = client.put(f"/v1/projects/{PROJECT}/integrations/infobip", json={
            "base_url": simulator.base_url, "api_key": SIMULATOR_KEY,
            "senders": ["AcmeShop"], "default_sender": "AcmeShop"})
        assert integration.status_code == 200, integration.text
        assert client.put(f"/v1/projects/{PROJECT}/channels/sms",
                          json={"default_provider": "infobip"}).status_code == 200
        message_ids = [f"m-{i}" for i in range(N)]
        sent = client.post(f"/v1/projects/{PROJECT}/messages/batch", json={"messages": [
            {"customer_id": f"c{i}", "to": f"+38591{i:05d}70", "text": "Spring sale",
             "campaign_id": CAMPAIGN, "message_id": message_id}
            for i, message_id in enumerate(message_ids)]})
        assert sent.status_code == 202, sent.text
        assert Counter(m["status"] for m in sent.json()["messages"]) == {"enqueued": N}
        webhooks = integration.json()["webhooks"]
        yield Setup(service, client, webhooks["delivery_reports"],
                    (webhooks["username"], webhooks["secret"]), message_ids)


def delivered_bodies(message_ids: list[str]) -> list[str]:
    """Infobip's report bodies: each message DELIVERED_TO_HANDSET, a few per body."""
    now = datetime.now(UTC)
    delivered = outcome("DELIVERED_TO_HANDSET", done_at=now, sent_at=now)
    results = [json.loads(report_body(message_id, delivered))["results"][0]
               for message_id in message_ids]
    return [json.dumps({"results": results[start:start + REPORTS_PER_BODY]})
            for start in range(0, len(results), REPORTS_PER_BODY)]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_an_outage_mid_ingest_loses_no_report_and_counts_none_twice(
        scenario: Scenario, setup: Setup, own_postgres: OwnPostgres) -> None:  # noqa: F811
    """Webhook 2xx only once stored, 503 within the store budget while the database
    is down, recovery without a restart, nothing lost or counted twice."""
    bodies = delivered_bodies(setup.message_ids)
    with InfobipSenders(setup.webhook_url, setup.credentials, bodies) as senders:
        # Mid-ingest: a quarter of the bodies stored, the rest still to come.
        wait_for(lambda: senders.acknowledged() >= len(bodies) // 4, timeout=30,
                 what="a quarter of the reports to be stored")
        failed_at = time.monotonic()
        scenario.outage(own_postgres)
        back_at = time.monotonic()
        senders.join(timeout=60)
    attempts = senders.recorded()

    check_answers(attempts, bodies, failed_at)
    refused = [a for a in attempts if a.status == 503]
    if scenario.refusals:
        assert refused, "no sender ever saw the outage"
        late = [a for a in refused if a.started > back_at + BUDGET]
        assert late == [], (f"503 {late[0].started - back_at:.2f} s after the database was "
                            f"back: {late[0]}")
    elif back_at - failed_at < BUDGET:
        assert refused == [], (f"{len(refused)} requests refused by a restart that took "
                               f"{back_at - failed_at:.2f} s: {refused[:3]}")
    else:
        # A restart slower than the budget (a loaded machine) is an outage: 503s are
        # then right, under the same rule as the stops.
        late = [a for a in refused if a.started > back_at + BUDGET]
        assert late == [], (f"503 {late[0].started - back_at:.2f} s after a restart of "
                            f"{back_at - failed_at:.2f} s: {late[0]}")
    acknowledged_before = sum(1 for a in attempts if a.status == 200 and a.ended < failed_at)
    sent_after = sum(1 for a in attempts if a.started > back_at)
    assert 0 < acknowledged_before < len(bodies) and sent_after > 0, (
        "the outage did not fall in the middle of the ingest")

    # The same service process, never restarted, tells the whole story exactly.
    assert setup.service.healthy()
    audit = setup.client.get(f"/v1/projects/{PROJECT}/campaigns/{CAMPAIGN}/audit")
    assert audit.status_code == 200, audit.text
    counts = audit.json()
    assert (counts["requested"], counts["enqueued"], counts["delivered"]) == (N, N, N)
    assert (counts["unresolved"], counts["pending"], counts["failed"]) == (0, 0, 0)
    assert counts["drift"] == []

    events = list(feed(setup.client, PROJECT))
    ids = Counter(e["event_id"] for e in events)
    assert [i for i, n in ids.items() if n > 1] == []
    delivered = Counter(e["properties"]["message_id"] for e in events
                        if e["properties"]["status"] == "delivered")
    assert delivered == Counter(setup.message_ids), "not exactly one delivered per message"
    assert Counter(e["properties"]["status"] for e in events) == {"enqueued": N,
                                                                    "delivered": N}


def check_answers(attempts: list[Attempt], bodies: list[str], failed_at: float) -> None:
    """Each answer on its own: in time; 200 with every report of its body taken
    (applied, or noted as already stored when an earlier 503 came after the commit);
    otherwise 503 store_unavailable, and only from a request still open when the
    database failed. The service itself never went away: no request went unanswered."""
    unanswered = [a for a in attempts if a.status is None]
    assert unanswered == [], f"{len(unanswered)} requests got no answer: {unanswered[:3]}"
    slow = [a for a in attempts if a.seconds >= BUDGET + MARGIN]
    assert slow == [], (f"{len(slow)} answers over {BUDGET + MARGIN} s, the slowest "
                        f"{max(a.seconds for a in slow):.2f} s: {slow[:3]}")
    for attempt in attempts:
        if attempt.status == 200:
            assert attempt.answer is not None
            taken = attempt.answer["applied"] + attempt.answer["noted"]
            reports = bodies[attempt.body].count('"messageId"')
            assert (taken, attempt.answer["parked"], attempt.answer["quarantined"]) == (
                reports, 0, 0), attempt
        else:
            assert attempt.status == 503, attempt
            assert attempt.answer is not None
            assert attempt.answer["error"]["code"] == "store_unavailable", attempt
            assert attempt.ended > failed_at, f"503 before the database failed: {attempt}"
    acknowledged = Counter(a.body for a in attempts if a.status == 200)
    assert acknowledged == Counter(range(len(bodies))), "a body acknowledged twice or never"
