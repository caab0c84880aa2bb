"""Many writers at once: concurrent posters of the same reports over real HTTP, and two
`smsledger serve` processes plus a `smsledger maintenance` process on one store
(PostgreSQL and SQLite). Counts are exact afterwards and no event id is repeated."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from reliability.faults_processes import MaintenanceProcess, ServeProcess, read_feed, run_cli
from reliability.faults_stack import CAMPAIGN, INTEGRATION, PROJECT, FaultStack, fault_stack
from support.statuses import outcome, report_body
from support.waiting import wait_for

POSTERS = 8
FINAL_EVENTS = {"Delivered", "Failed"}
FINAL_GROUPS = {"DELIVERED": "delivered", "UNDELIVERABLE": "failed"}


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/store.db"


def number(index: int, suffix: str) -> str:
    """A Croatian mobile number whose last two digits pick the simulator's rule."""
    return f"+38591{index:05d}{suffix}"


def report(message_id: str, status: str, done_at: datetime) -> dict:
    """One report in Infobip's shape (support.statuses), as an element of `results`."""
    error = "EC_UNIDENTIFIED_SUBSCRIBER" if status == "UNDELIVERABLE_NOT_DELIVERED" else None
    body = report_body(message_id, outcome(status, done_at=done_at, error=error))
    return json.loads(body)["results"][0]


def contested_reports(message_id: str, copies: int) -> list[dict]:
    """A pending, a delivered and an undeliverable report of one message, each `copies` times."""
    now = datetime.now(UTC)
    return [report(message_id, status, now + timedelta(seconds=offset))
            for status, offset in (("PENDING_ENROUTE", 1), ("DELIVERED_TO_HANDSET", 3),
                                   ("UNDELIVERABLE_NOT_DELIVERED", 4))] * copies


def first_final_wins(history: list[dict]) -> str:
    """The message's one final event; checks the first final report it stored is the one
    applied and every later final report was only noted. Returns the final status."""
    finals = [h for h in history if h["event"] in FINAL_EVENTS]
    assert len(finals) == 1, history
    first_final_report = next(h for h in history if h["event"] in FINAL_EVENTS or (
        h["event"] == "ReportNoted" and h["details"]["outcome"]["group"] in FINAL_GROUPS))
    assert first_final_report is finals[0], history
    return FINAL_GROUPS[finals[0]["details"]["outcome"]["group"]]


def post_concurrently(url: str, auth: tuple[str, str], bodies: list[list[dict]]) -> Counter:
    """POST the bodies from POSTERS threads at once (a barrier starts them together);
    the sum of the webhook's answers."""
    start = threading.Barrier(POSTERS)
    shares = [bodies[i::POSTERS] for i in range(POSTERS)]

    def poster(share: list[list[dict]]) -> Counter:
        answered: Counter = Counter()
        with httpx.Client(timeout=60, auth=auth) as client:
            start.wait()
            for body in share:
                answer = client.post(url, json={"results": body})
                assert answer.status_code == 200, answer.text
                answered.update(answer.json())
        return answered

    with ThreadPoolExecutor(POSTERS) as pool:
        return sum(pool.map(poster, shares), Counter())


def in_bodies(reports: list[dict], rng: random.Random) -> list[list[dict]]:
    bodies = []
    while reports:
        size = rng.randint(1, 4)
        bodies.append(reports[:size])
        reports = reports[size:]
    return bodies


def feed_statuses(stack: FaultStack) -> dict[str, list[str]]:
    events = stack.feed()
    assert len({e["event_id"] for e in events}) == len(events)
    statuses: dict[str, list[str]] = {}
    for event in events:
        statuses.setdefault(event["properties"]["message_id"], []).append(
            event["properties"]["status"])
    return statuses


def test_concurrent_posters_of_the_same_reports(store_url):
    """Promise: a final status is final; nothing counted twice. Eight posters send the
    same pending, delivered and undeliverable reports of each message, each report
    three times, shuffled, over real HTTP at once: the first final report stored wins
    and every other is noted, the audit counts each message once, the feed holds one
    enqueued and one final event per message and no event id twice."""
    messages = {f"contested-{i}": number(i, "70") for i in range(40)}  # rule 70: Infobip is silent
    with fault_stack(store_url) as stack:
        stack.send([{"customer_id": f"c-{m}", "to": to, "text": "Spring sale",
                     "campaign_id": CAMPAIGN, "message_id": m} for m, to in messages.items()])
        reports = [r for m in messages for r in contested_reports(m, copies=3)]
        rng = random.Random(14)
        rng.shuffle(reports)
        answered = post_concurrently(stack.url + stack.report_path,
                                     (INTEGRATION, stack.webhook_secret),
                                     in_bodies(reports, rng))
        assert [answered[k] for k in ("applied", "noted", "parked", "quarantined")] == [
            40, 40 * 8, 0, 0]

        finals = {m: first_final_wins(stack.view(m)["history"]) for m in messages}
        for message_id, status in finals.items():
            assert stack.status(message_id) == status
        delivered = sum(status == "delivered" for status in finals.values())
        audit = stack.audit()
        assert (audit["requested"], audit["enqueued"], audit["delivered"], audit["failed"],
                audit["pending"], audit["unresolved"]) == (40, 40, delivered, 40 - delivered, 0, 0)
        assert wait_for(lambda: stack.audit()["drift"] == [], timeout=10, what="no drift")
        assert feed_statuses(stack) == {m: ["enqueued", status] for m, status in finals.items()}


# ---------------------------------------------------------------- several processes

RULES = {"00": "delivered", "10": "delivered", "20": "rejected", "30": "failed",
         "50": "delivered", "60": "delivered"}  # 50: reported twice, 60: an older pending after


def test_two_services_and_maintenance_on_one_store(store_url, tmp_path):
    """Promise: nothing lost or counted twice with several processes on one store. Two
    `smsledger serve` processes send (each batch through either) and take Infobip's
    reports (each service gets those of the messages it sent); reports for messages
    not sent yet are posted to both, parked, and released by a `smsledger maintenance`
    process running a round a second. Afterwards: every message has its status, Infobip
    got each id once, the audit is exact and the feed has no event id twice."""
    api_key = "two-services-key"
    services = [ServeProcess(tmp_path, store_url, "serve-a"), ServeProcess(tmp_path, store_url,
                                                                            "serve-b")]
    admin = run_cli(tmp_path, services[0].env, "projects", "create", PROJECT)["admin_token"]
    headers = {"Authorization": f"Bearer {admin}"}
    sent = {f"m-{rule}-{i}": number(i, rule) for rule in RULES for i in range(12)}
    early = {f"early-{i}": number(i, "70") for i in range(10)}  # Infobip never reports these
    maintenance = None
    with InfobipSimulator(SimulatorConfig(api_key=api_key, report_delay=0.05)) as simulator:
        try:
            for service in services:
                service.start()
            for service in services:
                service.wait_healthy()
            configured = httpx.put(f"{services[0].url}/v1/projects/{PROJECT}/integrations/infobip",
                                   headers=headers, json={
                                       "base_url": simulator.base_url, "api_key": api_key,
                                       "senders": ["Acme"], "default_sender": "Acme"})
            assert configured.status_code == 200, configured.text
            secret = configured.json()["webhooks"]["secret"]
            assert httpx.put(f"{services[1].url}/v1/projects/{PROJECT}/channels/sms",
                             headers=headers,
                             json={"default_provider": "infobip"}).status_code == 200
            maintenance = MaintenanceProcess(tmp_path, services[0].env)

            failed = outcome("UNDELIVERABLE_NOT_DELIVERED", error="EC_UNIDENTIFIED_SUBSCRIBER",
                             done_at=datetime.now(UTC))
            for message_id in early:  # the same report to both services: parked twice
                for service in services:
                    answer = httpx.post(
                        f"{service.url}/v1/webhooks/infobip/{PROJECT}/infobip/delivery-reports",
                        auth=("infobip", secret), content=report_body(message_id, failed),
                        headers={"Content-Type": "application/json"})
                    assert answer.json() == {"applied": 0, "noted": 0, "parked": 1,
                                             "quarantined": 0}

            everything = {**sent, **early}
            batches = [dict(list(everything.items())[i::6]) for i in range(6)]

            def send(index: int) -> list[dict]:
                batch = batches[index]
                answer = httpx.post(
                    f"{services[index % 2].url}/v1/projects/{PROJECT}/messages/batch",
                    headers=headers, timeout=60, json={"messages": [
                        {"customer_id": f"c-{m}", "to": to, "text": "Spring sale",
                         "campaign_id": CAMPAIGN, "message_id": m} for m, to in batch.items()]})
                assert answer.status_code == 202, answer.text
                return answer.json()["messages"]

            with ThreadPoolExecutor(len(batches)) as pool:
                answers = [a for batch in pool.map(send, range(len(batches))) for a in batch]
            assert Counter(a["status"] for a in answers)["invalid"] == 0

            assert simulator.wait_until_idle(timeout=30)
            assert simulator.reports_given_up == 0
            audit_url = f"{services[1].url}/v1/projects/{PROJECT}/campaigns/{CAMPAIGN}/audit"

            def settled() -> dict | None:
                audit = httpx.get(audit_url, headers=headers, timeout=30).json()
                return audit if audit["failed"] == 12 + len(early) and not audit["drift"] else None

            audit = wait_for(settled, timeout=30, what="the parked reports to be released")
            # A round prints what it did once it is over, after its writes are visible.
            wait_for(lambda: sum(r["parked_reports_released"] for r in maintenance.rounds())
                     >= len(early), timeout=10, what="the releasing rounds to end")
            assert maintenance.process.poll() is None, "maintenance exited early"
            maintenance.stop()
            released = sum(r["parked_reports_released"] for r in maintenance.rounds())
            assert released == len(early), maintenance.rounds()
            last = run_cli(tmp_path, services[0].env, "maintenance", "--once", "--older-than", "0")
            assert (last["parked_reports_released"], last["sent"], last["resent"],
                    last["settled"], last["gave_up"]) == (0, 0, 0, 0, 0)

            total = len(sent) + len(early)
            assert {k: audit[k] for k in ("requested", "enqueued", "unresolved", "delivered",
                                          "rejected", "failed", "pending")} == {
                "requested": total, "enqueued": total, "unresolved": 0, "delivered": 48,
                "rejected": 12, "failed": 12 + len(early), "pending": 0}
            for message_id in list(sent)[::7] + list(early)[::3]:
                view = httpx.get(f"{services[0].url}/v1/projects/{PROJECT}/messages/{message_id}",
                                 headers=headers).json()
                expected = RULES[message_id.split("-")[1]] if message_id in sent else "failed"
                assert view["status"] == expected, view
            # Infobip got each message once, as its one recorded hand-over, except an early
            # message whose parked report was released (a final report: Infobip has it)
            # between its storing and its hand-over: that one is not sent at all.
            handovers = Counter({m: sum(h["event"] == "HandedOver" for h in httpx.get(
                f"{services[1].url}/v1/projects/{PROJECT}/messages/{m}",
                headers=headers).json()["history"]) for m in everything})
            assert {m: n for m, n in handovers.items() if n != 1 and m not in early} == {}
            requests = Counter(d["messageId"] for r in simulator.requests
                               for m in r.body["messages"] for d in m["destinations"])
            assert requests == +handovers
            assert Counter(simulator.sent_message_ids()) == +handovers
            # Each service sent its share, and gave Infobip its own webhook for the reports.
            webhook_hosts = {httpx.URL(m["webhooks"]["delivery"]["url"]).port
                             for r in simulator.requests for m in r.body["messages"]}
            assert webhook_hosts == {service.port for service in services}

            events = read_feed(services[0].url, admin, PROJECT)
            assert len({e["event_id"] for e in events}) == len(events)
            statuses: dict[str, list[str]] = {}
            for event in events:
                statuses.setdefault(event["properties"]["message_id"], []).append(
                    event["properties"]["status"])
            assert statuses == {m: ["enqueued", RULES[m.split("-")[1]] if m in sent else "failed"]
                                for m in everything}
        finally:
            if maintenance is not None:
                maintenance.stop()
            for service in services:
                service.stop()
