"""Infobip misbehaving, through the simulator and the real InfobipProvider: throttling,
server errors, slow answers, dropped connections, reports repeated, shuffled, early,
for unknown ids, and a webhook receiver that is down for a while.

After each campaign (and the maintenance rounds where recovery is part of the rule)
the audit's counts are exact, every message has its status, and Infobip received each
message id exactly as often as the rules of issue 13 allow: once, or once per attempt
of the provider's retries with the same id, or once per attempt of each resend after
recovery (max_send_attempts hand-overs).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest

from smsledger import SendRequest
from reliability.faults_stack import ATTEMPTS, CAMPAIGN, PROJECT, FaultStack, fault_stack
from support.statuses import outcome, report_body
from support.waiting import wait_for

MAX_SEND_ATTEMPTS = 3  # the settings' default hand-overs per message


def number(index: int, suffix: str) -> str:
    """A Croatian mobile number whose last two digits pick the simulator's rule."""
    return f"+38591{index:05d}{suffix}"


def campaign(suffixes: dict[str, str]) -> list[dict[str, str]]:
    """One message per (message id -> rule suffix)."""
    return [{"customer_id": f"c-{message_id}", "to": number(i, suffix), "text": "Spring sale",
             "campaign_id": CAMPAIGN, "message_id": message_id}
            for i, (message_id, suffix) in enumerate(suffixes.items())]


def funnel(audit: dict) -> dict[str, int]:
    keys = ("requested", "enqueued", "unresolved", "enqueue_failed", "delivered", "rejected",
            "failed", "pending")
    return {key: audit[key] for key in keys}


def assert_feed_once_each(stack: FaultStack, expected: dict[str, list[str]]) -> None:
    """The feed holds, per message, exactly the events named (in any order), each once,
    and no event id twice."""
    events = stack.feed()
    assert len({e["event_id"] for e in events}) == len(events)
    by_message: dict[str, list[str]] = {}
    for event in events:
        properties = event["properties"]
        by_message.setdefault(properties["message_id"], []).append(properties["status"])
    assert {m: sorted(s) for m, s in by_message.items()} == {
        m: sorted(s) for m, s in expected.items()}


def wait_for_reports(stack: FaultStack, delivered: int) -> dict:
    assert stack.simulator.wait_until_idle(timeout=20)
    return wait_for(lambda: (audit := stack.audit())["delivered"] == delivered and audit,
                    timeout=20, what=f"{delivered} delivered")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/store.db"


# ---------------------------------------------------------------- send faults

SEND_FAULTS = {  # message id -> rule: what Infobip does to the request carrying it
    "ok-1": "00", "ok-2": "00", "ok-3": "00",
    "http500-once": "90", "http500-always": "91", "throttled-once": "92",
    "slow-past-timeout": "93", "dropped-unread": "94", "dropped-always": "95",
    "dropped-after-accepting": "96",
}
# Send requests Infobip receives per message id, by the rules: one per attempt of the
# provider (same body, same id) until a definite answer, and for a message Infobip never
# took in, the same again for each resend of the maintenance rounds.
REQUESTS_PER_ID = {
    "ok-1": 1, "ok-2": 1, "ok-3": 1,
    "http500-once": 2,  # 500, then accepted
    "http500-always": ATTEMPTS * MAX_SEND_ATTEMPTS,  # never a definite answer: gave up
    "throttled-once": 2,  # 429 (Retry-After waited for), then accepted
    "slow-past-timeout": 2,  # timed out, then "duplicate id": the first one got through
    "dropped-unread": 2,  # dropped before anything was taken in, then accepted
    "dropped-always": ATTEMPTS * MAX_SEND_ATTEMPTS,
    "dropped-after-accepting": 2,  # taken in, dropped; then "duplicate id"
}
NEVER_ACCEPTED = {"http500-always", "dropped-always"}


def test_send_faults_end_delivered_or_given_up_with_exact_requests(store_url):
    """Promise: nothing requested for ever, nothing sent twice under another id. 429
    (its Retry-After waited for), 5xx once or always, an answer slower than the
    provider's timeout, connections dropped before and after Infobip took the message
    in: each message ends delivered or, never accepted, enqueue_failed after
    max_send_attempts hand-overs, and Infobip saw each id exactly as often as the
    retry and resend rules allow."""
    with fault_stack(store_url, provider_timeout=0.5, batch_size=1,
                     slow_answer_seconds=1.5, retry_after_seconds=1) as stack:
        answers = {a["message_id"]: a for a in stack.send(campaign(SEND_FAULTS))}
        assert {m for m, a in answers.items() if a["status"] == "requested"} >= NEVER_ACCEPTED
        # The provider's pauses: one per retry, the 429's the one of Retry-After (1 s).
        assert len(stack.sleeps) == sum(n - 1 for m, n in REQUESTS_PER_ID.items()
                                        if m not in NEVER_ACCEPTED) + 2 * (ATTEMPTS - 1)
        assert [s for s in stack.sleeps if s >= 0.5] == [1.0]

        accepted = len(SEND_FAULTS) - len(NEVER_ACCEPTED)
        wait_for_reports(stack, delivered=accepted)
        rounds = [stack.maintenance() for _ in range(MAX_SEND_ATTEMPTS + 1)]
        assert [(r["resent"], r["gave_up"], r["settled"], r["sent"]) for r in rounds] == [
            (2, 0, 0, 0), (2, 0, 0, 0), (0, 2, 0, 0), (0, 0, 0, 0)]

        assert funnel(stack.audit()) == {
            "requested": 10, "enqueued": accepted, "unresolved": 0, "enqueue_failed": 2,
            "delivered": accepted, "rejected": 0, "failed": 0, "pending": 0}
        assert stack.audit()["drift"] == []
        for message_id in SEND_FAULTS:
            expected = "enqueue_failed" if message_id in NEVER_ACCEPTED else "delivered"
            assert stack.status(message_id) == expected, message_id
        assert dict(stack.requests_per_id()) == REQUESTS_PER_ID
        taken_in = Counter(stack.simulator.sent_message_ids())
        assert taken_in == Counter({m: 1 for m in SEND_FAULTS if m not in NEVER_ACCEPTED})
        assert_feed_once_each(stack, {
            m: ["enqueue_failed"] if m in NEVER_ACCEPTED else ["enqueued", "delivered"]
            for m in SEND_FAULTS})


def test_reports_arriving_before_the_send_answer(store_url):
    """Promise: a final status is final, and a final report for a message still
    requested implies enqueued. Infobip takes the batch in and answers it slowly (within
    the provider's timeout); the reports come first. Each message ends delivered, its
    enqueued implied by the report, the late answer changes nothing, one request each."""
    suffixes = {f"early-{i}": "93" if i % 2 else "00" for i in range(8)}
    with fault_stack(store_url, provider_timeout=10.0, slow_answer_seconds=2.5) as stack:
        answers = stack.send(campaign(suffixes))
        assert {a["status"] for a in answers} == {"delivered"}
        wait_for_reports(stack, delivered=8)
        for message_id in suffixes:
            history = stack.view(message_id)["history"]
            assert [h["event"] for h in history] == [
                "Requested", "HandedOver", "Enqueued", "Delivered"], message_id
            assert history[2]["details"]["implied_by_report"] is True
        assert funnel(stack.audit()) == {
            "requested": 8, "enqueued": 8, "unresolved": 0, "enqueue_failed": 0,
            "delivered": 8, "rejected": 0, "failed": 0, "pending": 0}
        assert dict(stack.requests_per_id()) == dict.fromkeys(suffixes, 1)
        assert_feed_once_each(stack, {m: ["enqueued", "delivered"] for m in suffixes})


# ---------------------------------------------------------------- reports

REPORT_RULES = {  # rule -> (its reports, the final status)
    "10": (2, "delivered"),  # pending, then delivered
    "20": (1, "rejected"),
    "30": (1, "failed"),
    "60": (2, "delivered"),  # delivered, then an older pending
    "00": (1, "delivered"),
}


def pull_reports(stack: FaultStack, expected: int) -> list[dict]:
    """The reports Infobip kept for pulling (each handed out once), all `expected` of them."""
    reports: list[dict] = []
    url = f"{stack.simulator.base_url}/sms/3/reports"
    headers = {"Authorization": f"App {stack.simulator.config.api_key}"}

    def pulled_all() -> bool:
        reports.extend(httpx.get(url, params={"limit": 1000}, headers=headers).json()["results"])
        return len(reports) >= expected

    wait_for(pulled_all, timeout=20, what=f"{expected} reports to pull")
    assert len(reports) == expected
    return reports


def test_reports_posted_three_times_and_shuffled(store_url):
    """Promise: nothing lost or counted twice; a final status is final. Infobip's
    reports (pending, delivered, rejected, failed, an older pending after a delivered),
    each posted three times in shuffled order and in bodies of one to five: every
    report is answered applied or noted, every message has its one final status, the
    audit and the feed count each message once."""
    suffixes = {f"r-{rule}-{i}": rule for rule in REPORT_RULES for i in range(6)}
    with fault_stack(store_url, push_reports=False) as stack:
        stack.send(campaign(suffixes))
        expected = sum(REPORT_RULES[rule][0] for rule in suffixes.values())
        reports = pull_reports(stack, expected) * 3
        shuffled = random.Random(14)
        shuffled.shuffle(reports)
        answered: Counter[str] = Counter()
        while reports:
            size = shuffled.randint(1, 5)
            body, reports = reports[:size], reports[size:]
            answered.update(stack.post_reports(json.dumps({"results": body})))
        assert answered["applied"] + answered["noted"] == 3 * expected
        assert (answered["parked"], answered["quarantined"]) == (0, 0)

        for message_id, rule in suffixes.items():
            assert stack.status(message_id) == REPORT_RULES[rule][1], message_id
        assert funnel(stack.audit()) == {
            "requested": 30, "enqueued": 30, "unresolved": 0, "enqueue_failed": 0,
            "delivered": 18, "rejected": 6, "failed": 6, "pending": 0}
        assert dict(stack.requests_per_id()) == dict.fromkeys(suffixes, 1)
        assert_feed_once_each(stack, {m: ["enqueued", REPORT_RULES[rule][1]]
                                      for m, rule in suffixes.items()})


def test_reports_for_unknown_ids_are_parked_then_released(store_url):
    """Promise: reports for unknown ids are parked, not dropped. Reports arrive for
    message ids nobody has sent yet; the messages are then sent (Infobip will never
    report them again, rule 70), and the maintenance round applies the parked reports:
    each message ends failed, counted once."""
    suffixes = {f"parked-{i}": "70" for i in range(5)}
    failed = outcome("UNDELIVERABLE_NOT_DELIVERED", error="EC_UNIDENTIFIED_SUBSCRIBER",
                     done_at=datetime.now(UTC))
    with fault_stack(store_url) as stack:
        for message_id in suffixes:
            answer = stack.post_reports(report_body(message_id, failed))
            assert answer == {"applied": 0, "noted": 0, "parked": 1, "quarantined": 0}
        answers = stack.send(campaign(suffixes))
        assert {a["status"] for a in answers} == {"enqueued"}
        assert [stack.maintenance()["parked_reports_released"] for _ in range(2)] == [5, 0]

        assert funnel(stack.audit()) == {
            "requested": 5, "enqueued": 5, "unresolved": 0, "enqueue_failed": 0,
            "delivered": 0, "rejected": 0, "failed": 5, "pending": 0}
        assert dict(stack.requests_per_id()) == dict.fromkeys(suffixes, 1)
        assert_feed_once_each(stack, {m: ["enqueued", "failed"] for m in suffixes})


def test_a_webhook_receiver_down_for_a_while_loses_no_report(store_url):
    """Promise: nothing lost. The service's HTTP side is down when Infobip posts the
    reports; Infobip retries (webhook_retry_delays) and, once the receiver is back on
    its port, every report is stored: none given up, every message final, once each."""
    suffixes = {f"down-{i}": ("00", "10", "30")[i % 3] for i in range(12)}
    finals = {"00": "delivered", "10": "delivered", "30": "failed"}
    with fault_stack(store_url, webhook_retry_delays=(0.3, 0.6, 1.2, 2.4, 4.8)) as stack:
        with stack.webhook_down():
            # The platform's own API is down too; it sends in-process (embedded).
            results = stack.channel.send(PROJECT, [SendRequest(**m) for m in campaign(suffixes)])
            assert {r.status for r in results} == {"enqueued"}
            wait_for(lambda: stack.simulator.webhook_failures >= 2, timeout=10,
                     what="Infobip's posts to fail")
        assert stack.simulator.wait_until_idle(timeout=30)
        assert stack.simulator.reports_given_up == 0

        for message_id, rule in suffixes.items():
            assert stack.status(message_id) == finals[rule], message_id
        assert funnel(stack.audit()) == {
            "requested": 12, "enqueued": 12, "unresolved": 0, "enqueue_failed": 0,
            "delivered": 8, "rejected": 0, "failed": 4, "pending": 0}
        assert dict(stack.requests_per_id()) == dict.fromkeys(suffixes, 1)
        assert_feed_once_each(stack, {m: ["enqueued", finals[rule]]
                                      for m, rule in suffixes.items()})
