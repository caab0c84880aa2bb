"""Recovery against the simulator over HTTP: messages whose answer or report was lost
are settled from Infobip's reports and logs (SMS and MMS), never guessed; one that
Infobip never accepted is sent again under its id, then ends enqueue_failed."""

from datetime import timedelta

import httpx
import pytest

from smsledger.adapters.infobip.accounts import InfobipAccount
from smsledger.adapters.infobip.addresses import AddressRefused
from smsledger.adapters.infobip.lookup import InfobipLookup, _id_groups
from smsledger.application.commands import SendRequest
from smsledger.domain.content import SmsContent
from smsledger.domain.message import Message
from smsledger.domain.phone import PhoneNumber
from integration.conftest import API_KEY, INTEGRATION, LOOPBACK_ALLOWED, PROJECT
from support.times import T0


def lookup_on_loopback(stack):
    """The lookup, allowed to reach the simulator on loopback (a private address)."""
    return InfobipLookup(stack.accounts, addresses=LOOPBACK_ALLOWED)


def send(stack, number, **kwargs):
    (result,) = stack.ledger.send(PROJECT, [SendRequest(
        customer_id="c", to=number, text="Hi", integration_id=INTEGRATION, **kwargs)])
    return result


@pytest.mark.parametrize("stack", [{"timeout": 0.3}], indirect=True)
def test_a_lost_answer_and_a_lost_report_are_settled_from_the_logs(stack):
    # No webhook: Infobip accepts and delivers, but nothing comes back to us, and
    # the send answer is lost to a timeout ("93": the answer is slow).
    stack.accounts.add(PROJECT, INTEGRATION, InfobipAccount(
        base_url=stack.simulator.base_url, api_key=API_KEY, delivery_webhook_url=None))
    lost_answer = send(stack, "+385921234593")
    assert lost_answer.status == "requested"
    stack.simulator.wait_until_idle(timeout=10)

    lookup = lookup_on_loopback(stack)
    result = stack.ledger.reconcile(lookup, older_than=timedelta(0))
    assert result.settled == 1
    view = stack.ledger.message(PROJECT, lost_answer.message_id)
    assert view.status == "delivered"
    assert [h.event for h in view.history] == ["Requested", "HandedOver", "Enqueued", "Delivered"]


def test_a_message_infobip_never_got_is_sent_again_then_given_up(stack):
    never_sent = send(stack, "+385921234595")  # connection dropped every time
    result = stack.ledger.reconcile(lookup_on_loopback(stack), older_than=timedelta(0))
    assert (result.settled, result.noted, result.resent) == (0, 0, 0)  # within the grace
    assert stack.ledger.message(PROJECT, never_sent.message_id).status == "requested"

    rounds = [stack.ledger.run_maintenance(lookup_on_loopback(stack), older_than=timedelta(0))
              for _ in range(3)]
    assert [(r["resent"], r["gave_up"]) for r in rounds] == [(1, 0), (1, 0), (0, 1)]
    view = stack.ledger.message(PROJECT, never_sent.message_id)
    assert view.status == "enqueue_failed"
    assert view.history[-1].details["error"] == "not_accepted_by_provider"


def test_young_messages_are_left_alone(stack):
    pending = send(stack, "+385921234570")  # accepted, no report ever
    result = stack.ledger.reconcile(lookup_on_loopback(stack), older_than=timedelta(hours=1))
    assert (result.settled, result.noted, result.sent, result.resent) == (0, 0, 0, 0)
    assert stack.ledger.message(PROJECT, pending.message_id).status == "enqueued"


def test_an_enqueued_message_whose_report_was_lost_gets_its_final_status(stack):
    stack.accounts.add(PROJECT, INTEGRATION, InfobipAccount(
        base_url=stack.simulator.base_url, api_key=API_KEY, delivery_webhook_url=None))
    failed = send(stack, "+385921234530")
    assert failed.status == "enqueued"
    stack.simulator.wait_until_idle(timeout=10)
    stack.ledger.reconcile(lookup_on_loopback(stack), older_than=timedelta(0))
    assert stack.ledger.message(PROJECT, failed.message_id).status == "failed"


def test_ids_are_grouped_under_infobips_parameter_limit():
    ids = [f"{i:032x}" for i in range(200)]
    groups = _id_groups(ids)
    assert sum(groups, []) == ids
    assert all(len(",".join(g)) <= 2048 for g in groups)


def test_by_default_the_lookup_does_not_reach_a_server_on_loopback(stack):
    """Reconciliation asks Infobip under the same address rule as sends: the
    simulator on loopback is not connected to unless private networks are allowed."""
    stack.accounts.add(PROJECT, INTEGRATION, InfobipAccount(
        base_url=stack.simulator.base_url, api_key=API_KEY, delivery_webhook_url=None))
    before = len(stack.simulator.requests)
    with pytest.raises((AddressRefused, httpx.ConnectError)):
        list(InfobipLookup(stack.accounts).pulled_reports(PROJECT, INTEGRATION, ["m-1"],
                                                          kind="sms"))
    with pytest.raises((AddressRefused, httpx.ConnectError)):
        InfobipLookup(stack.accounts).logs(PROJECT, INTEGRATION, ["m-1"], kind="sms")
    assert len(stack.simulator.requests) == before


def test_reports_not_pushed_are_pulled_once_and_stored(stack):
    stack.accounts.add(PROJECT, INTEGRATION, InfobipAccount(
        base_url=stack.simulator.base_url, api_key=API_KEY, delivery_webhook_url=None))
    sent = send(stack, "+385921234531")  # fails temporarily, report kept for pulling
    stack.simulator.wait_until_idle(timeout=10)
    lookup = lookup_on_loopback(stack)
    [pulled] = lookup.pulled_reports(PROJECT, INTEGRATION, [sent.message_id], kind="sms")
    assert [r.outcome.error_name for r in pulled] == ["EC_ABSENT_SUBSCRIBER_SM"]
    # Pulled once only: afterwards only the logs know it.
    assert list(lookup.pulled_reports(PROJECT, INTEGRATION, [sent.message_id],
                                      kind="sms")) == [[]]
    again = lookup.logs(PROJECT, INTEGRATION, [sent.message_id], kind="sms")
    assert [r.raw.get("sentAt") is not None for r in again] == [True]


def test_an_mms_whose_report_was_lost_is_settled_from_infobips_mms_reports(stack):
    stack.accounts.add(PROJECT, INTEGRATION, InfobipAccount(
        base_url=stack.simulator.base_url, api_key=API_KEY, delivery_webhook_url=None))
    mms = send(stack, "+385921234530", title="Flash sale", media_urls=(
        "https://cdn.example/p.png",))
    assert mms.status == "enqueued"
    stack.simulator.wait_until_idle(timeout=10)
    result = stack.ledger.reconcile(lookup_on_loopback(stack), older_than=timedelta(0))
    assert result.settled == 1
    view = stack.ledger.message(PROJECT, mms.message_id)
    assert view.status == "failed" and view.window_closed is None


def test_an_unreachable_integration_does_not_stop_the_others(stack):
    stack.accounts.add(PROJECT, "closed", InfobipAccount(
        base_url="http://127.0.0.1:9", api_key=API_KEY, delivery_webhook_url=None))
    stack.accounts.add(PROJECT, INTEGRATION, InfobipAccount(
        base_url=stack.simulator.base_url, api_key=API_KEY, delivery_webhook_url=None))
    settleable = [send(stack, f"+3859212345{n}") for n in ("10", "30", "20")]
    stack.simulator.wait_until_idle(timeout=10)  # reports kept for pulling: no webhook
    stranded = Message.request(  # enqueued through the closed integration, earlier
        project_id=PROJECT, message_id="through-closed", integration_id="closed",
        customer_id="c", recipient=PhoneNumber.parse("+385921234510"),
        content=SmsContent("Hi"), sender=None, campaign_id=None, action_id=None,
        requested_at=T0)
    stranded.accept(at=T0)
    stack.ledger.store.save(stranded)

    result = stack.ledger.reconcile(lookup_on_loopback(stack), older_than=timedelta(0))
    assert result.failed_integrations == [f"{PROJECT}/closed"]
    assert {stack.ledger.message(PROJECT, m.message_id).status for m in settleable} == {
        "delivered", "failed", "rejected"}
