"""The real Infobip adapter against the simulator over loopback HTTP, reports
coming back through the real webhook: every outcome and fault the simulator has."""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from smsledger.adapters.infobip.accounts import InfobipAccount, StaticAccounts
from smsledger.application.commands import SendRequest
from smsledger.application.errors import InvalidSendRequest
from smsledger.application.ports import Accepted, OutgoingMessage, SendRefused, StatusInAnswer
from smsledger.domain.content import SmsContent
from integration.conftest import INTEGRATION, PROJECT

CROATIA = "+3859212300"  # + two magic digits
GERMANY, BRAZIL = "+4915123456700", "+5511961234500"


def send(stack, *numbers, text="Spring sale: 20% off"):
    return stack.ledger.send(PROJECT, [
        SendRequest(customer_id=f"c-{i}", to=n, text=text, campaign_id="spring",
                    sender="Acme", integration_id=INTEGRATION) for i, n in enumerate(numbers)])


def settle(stack):
    assert stack.simulator.wait_until_idle(timeout=15)


def statuses(stack, message_id):
    return [e.status for e in stack.ledger.campaign_events(PROJECT, limit=1000).events
            if e.properties["message_id"] == message_id]


@pytest.mark.parametrize(("suffix", "final", "events"), [
    ("00", "delivered", ["enqueued", "delivered"]),
    ("10", "delivered", ["enqueued", "delivered"]),  # pending, then delivered
    ("20", "rejected", ["enqueued", "rejected"]),  # rejected at once, by report
    ("21", "rejected", ["enqueued", "rejected"]),  # rejected in the send answer
    ("30", "failed", ["enqueued", "failed"]),
    ("31", "failed", ["enqueued", "failed"]),
    ("40", "failed", ["enqueued", "failed"]),  # expired
    ("50", "delivered", ["enqueued", "delivered"]),  # report posted twice
    ("60", "delivered", ["enqueued", "delivered"]),  # reports out of order
    ("70", "enqueued", ["enqueued"]),  # no report at all
    ("80", "delivered", ["enqueued", "delivered"]),  # late report
])
def test_each_outcome_ends_in_the_right_status_and_events(stack, suffix, final, events):
    (result,) = send(stack, CROATIA + suffix)
    settle(stack)
    assert stack.ledger.message(PROJECT, result.message_id).status == final
    assert statuses(stack, result.message_id) == events


def test_failure_events_carry_infobips_error(stack):
    (result,) = send(stack, CROATIA + "30")
    settle(stack)
    failed = [e for e in stack.ledger.campaign_events(PROJECT).events if e.status == "failed"][0]
    assert failed.properties["status_code"] == 5
    assert failed.properties["error"] == "EC_UNIDENTIFIED_SUBSCRIBER"
    assert failed.properties["comment"].startswith("The number does not exist")


def test_duplicates_and_out_of_order_reports_are_noted_not_counted(stack):
    twice, disordered = send(stack, CROATIA + "50", "+3859212301" + "60")
    settle(stack)
    for result, effect in ((twice, "duplicate"), (disordered, "superseded")):
        history = stack.ledger.message(PROJECT, result.message_id).history
        assert [h.details["effect"] for h in history if h.event == "ReportNoted"] == [effect]


def test_countries_without_reports_stay_enqueued(stack):
    results = send(stack, GERMANY, BRAZIL)
    settle(stack)
    assert {stack.ledger.message(PROJECT, r.message_id).status for r in results} == {"enqueued"}


def test_part_counts_come_from_infobips_answer(stack):
    (result,) = send(stack, CROATIA + "00", text="x" * 161)
    assert result.number_of_message_parts == 2


@pytest.mark.parametrize(("suffix", "requests"), [("90", 2), ("92", 2), ("94", 2)])
def test_transient_faults_are_retried_with_the_same_message_id(stack, suffix, requests):
    (result,) = send(stack, CROATIA + suffix)
    assert result.status == "enqueued"
    carried = [r for r in stack.simulator.requests if result.message_id in str(r.body)]
    assert len(carried) == requests
    assert stack.simulator.sent_message_ids().count(result.message_id) == 1


@pytest.mark.parametrize("suffix", ["91", "95"])
def test_persistent_ambiguity_leaves_the_message_requested(stack, suffix):
    (result,) = send(stack, CROATIA + suffix)
    assert result.status == "requested"
    assert "no definite answer after 3 attempts" in result.detail
    assert stack.simulator.sent_message_ids().count(result.message_id) == 0


@pytest.mark.parametrize("stack", [{"timeout": 0.3}], indirect=True)
def test_a_slow_answer_is_not_sent_twice_and_its_report_settles_it(stack):
    (result,) = send(stack, CROATIA + "93")
    # The first attempt timed out but was accepted; the retry learns the id is taken
    # and does not guess. (The report of the first attempt may already be in.)
    assert result.status in ("requested", "delivered")
    assert "earlier attempt was accepted" in result.detail
    assert stack.simulator.sent_message_ids().count(result.message_id) == 1
    settle(stack)
    assert stack.ledger.message(PROJECT, result.message_id).status == "delivered"
    assert statuses(stack, result.message_id) == ["enqueued", "delivered"]


def test_a_wrong_api_key_is_a_refusal_with_its_status(stack):
    stack.accounts.add(PROJECT, INTEGRATION, InfobipAccount(
        base_url=stack.simulator.base_url, api_key="wrong", delivery_webhook_url=stack.webhook_url))
    (result,) = send(stack, CROATIA + "00")
    assert result.status == "enqueue_failed"
    event = stack.ledger.campaign_events(PROJECT).events[0]
    assert (event.status, event.properties["status_code"]) == ("enqueue_failed", 401)
    assert event.properties["error"] == "E401"


def test_an_unknown_integration_is_refused_without_a_request(stack):
    with pytest.raises(InvalidSendRequest, match="no integration 'nope'"):
        stack.ledger.send(PROJECT, [SendRequest(customer_id="c", to=CROATIA + "00", text="Hi",
                                                integration_id="nope")])
    assert stack.simulator.requests == []


def test_an_integration_missing_from_the_account_table_is_refused_before_storing(stack):
    stack.accounts = None  # the directory no longer has the account
    stack.provider.accounts = StaticAccounts({})
    position = stack.ledger.recorder.max_notification_id()
    with pytest.raises(InvalidSendRequest, match="no provider account"):
        send(stack, CROATIA + "00")
    assert stack.simulator.requests == []
    assert stack.ledger.recorder.max_notification_id() == position  # nothing stored


def test_a_resend_of_a_message_infobip_already_has_counts_as_accepted(stack):
    first = OutgoingMessage(project_id=PROJECT, integration_id=INTEGRATION, message_id="r-1",
                            to=CROATIA + "70", sender="Acme", content=SmsContent("Hi"))
    assert isinstance(stack.provider.send([first])[0], Accepted)
    again = stack.provider.send([replace(first, resend=True)])[0]
    assert isinstance(again, Accepted)  # Infobip answered "duplicate message id"
    not_a_resend = stack.provider.send([first])[0]
    assert isinstance(not_a_resend, StatusInAnswer)
    assert not_a_resend.outcome.status_name == "REJECTED_DUPLICATE_MESSAGE_ID"


def test_violations_naming_one_message_refuse_only_that_one(stack):
    def outgoing(message_id, to):
        return OutgoingMessage(project_id=PROJECT, integration_id=INTEGRATION,
                               message_id=message_id, to=to, sender="Acme",
                               content=SmsContent("Hi"))
    outcomes = stack.provider.send([outgoing("a", CROATIA + "00"), outgoing("b", "+12"),
                                    outgoing("c", CROATIA + "01")])
    assert isinstance(outcomes[0], Accepted) and isinstance(outcomes[2], Accepted)
    assert isinstance(outcomes[1], SendRefused) and outcomes[1].status_code == 400
    assert "messages[1]" in outcomes[1].comment


def test_many_messages_go_in_batches_of_the_configured_size(stack):
    stack.provider.batch_size = 40
    results = send(stack, *[f"+385921{i:04d}00" for i in range(100)])
    # Reports for the first request may arrive while the next ones are in flight.
    assert {r.status for r in results} <= {"enqueued", "delivered"}
    sizes = [len(r.body["messages"]) for r in stack.simulator.requests]
    assert sizes == [40, 40, 20]


def test_the_webhook_refuses_wrong_credentials_and_bad_bodies(stack):
    url = stack.webhook.url + stack.webhook_path
    body = {"results": []}
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, auth=(INTEGRATION, "wrong")).status_code == 401
    assert httpx.post(url, json=body, auth=("other", stack.secret)).status_code == 401
    bad = httpx.post(url, content=b"not json", auth=(INTEGRATION, stack.secret))
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]["message"]
    no_results = httpx.post(url, json={"x": 1}, auth=(INTEGRATION, stack.secret))
    assert no_results.status_code == 400 and "results" in no_results.json()["error"]["message"]


def test_malformed_items_are_quarantined_and_the_good_ones_applied(stack):
    (result,) = send(stack, "+385921234570")  # "70": Infobip itself will never report
    url = stack.webhook.url + stack.webhook_path
    good = {"messageId": result.message_id, "doneAt": "2026-11-09T16:00:03.000+0000",
            "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
            "error": {"groupId": 0, "groupName": "Ok", "id": 0, "name": "NO_ERROR"}}
    unknown_group = {**good, "status": {"groupId": 9, "groupName": "TELEPORTED"}}
    answer = httpx.post(url, json={"results": [good, unknown_group, {"no": "id"}]},
                        auth=(INTEGRATION, stack.secret))
    assert answer.status_code == 200
    assert answer.json() == {"applied": 1, "noted": 0, "parked": 0, "quarantined": 2}
    kept = stack.ledger.quarantined_inputs(PROJECT)
    assert [k["reason"] for k in kept] == [
        "results[1]: unknown status group name 'TELEPORTED'", "results[2]: 'messageId' is missing"]
    assert stack.ledger.message(PROJECT, result.message_id).status == "delivered"


def test_the_webhook_answers_503_when_the_store_fails_and_the_retry_lands(stack, monkeypatch):
    from eventsourcing.persistence import OperationalError

    (result,) = send(stack, CROATIA + "00")
    original = stack.ledger.recorder.insert_events
    failures = []

    def failing_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("database is down")
        return original(*args, **kwargs)

    monkeypatch.setattr(stack.ledger.recorder, "insert_events", failing_once)
    settle(stack)
    assert failures and stack.simulator.webhook_failures >= 1
    assert stack.ledger.message(PROJECT, result.message_id).status == "delivered"


def test_an_mms_goes_to_the_mms_endpoint_and_is_tracked(stack):
    (result,) = stack.ledger.send(PROJECT, [SendRequest(
        customer_id="c", to=CROATIA + "00", title="Flash sale", text="50% off today",
        media_urls=("https://cdn.example/p.png",), campaign_id="spring", integration_id=INTEGRATION)])
    assert result.status == "enqueued" and result.number_of_message_parts == 1
    assert [r.path for r in stack.simulator.requests] == ["/mms/2/messages"]
    settle(stack)
    assert stack.ledger.message(PROJECT, result.message_id).status == "delivered"
