"""Reconciliation: messages whose answer or report was lost are settled from
Infobip's logs, never guessed."""

from datetime import timedelta

import pytest

from smsledger.adapters.infobip.accounts import InfobipAccount
from smsledger.adapters.infobip.lookup import InfobipLookup, _id_groups
from smsledger.application.commands import SendRequest
from integration.conftest import API_KEY, INTEGRATION, PROJECT


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

    lookup = InfobipLookup(stack.accounts)
    result = stack.ledger.reconcile(lookup, older_than=timedelta(0))
    assert result.applied == 1
    view = stack.ledger.message(PROJECT, lost_answer.message_id)
    assert view.status == "delivered"
    assert [h.event for h in view.history] == ["Requested", "Enqueued", "Delivered"]


def test_a_message_infobip_never_got_stays_requested(stack):
    never_sent = send(stack, "+385921234595")  # connection dropped every time
    result = stack.ledger.reconcile(InfobipLookup(stack.accounts), older_than=timedelta(0))
    assert (result.applied, result.noted) == (0, 0)
    assert stack.ledger.message(PROJECT, never_sent.message_id).status == "requested"


def test_young_messages_are_left_alone(stack):
    pending = send(stack, "+385921234570")  # accepted, no report ever
    result = stack.ledger.reconcile(InfobipLookup(stack.accounts), older_than=timedelta(hours=1))
    assert result.total == 0
    assert stack.ledger.message(PROJECT, pending.message_id).status == "enqueued"


def test_an_enqueued_message_whose_report_was_lost_gets_its_final_status(stack):
    stack.accounts.add(PROJECT, INTEGRATION, InfobipAccount(
        base_url=stack.simulator.base_url, api_key=API_KEY, delivery_webhook_url=None))
    failed = send(stack, "+385921234530")
    assert failed.status == "enqueued"
    stack.simulator.wait_until_idle(timeout=10)
    stack.ledger.reconcile(InfobipLookup(stack.accounts), older_than=timedelta(0))
    assert stack.ledger.message(PROJECT, failed.message_id).status == "failed"


def test_ids_are_grouped_under_infobips_parameter_limit():
    ids = [f"{i:032x}" for i in range(200)]
    groups = _id_groups(ids)
    assert sum(groups, []) == ids
    assert all(len(",".join(g)) <= 2048 for g in groups)


def test_reports_not_pushed_are_pulled_once_and_stored(stack):
    stack.accounts.add(PROJECT, INTEGRATION, InfobipAccount(
        base_url=stack.simulator.base_url, api_key=API_KEY, delivery_webhook_url=None))
    sent = send(stack, "+385921234531")  # fails temporarily, report kept for pulling
    stack.simulator.wait_until_idle(timeout=10)
    lookup = InfobipLookup(stack.accounts)
    assert [r.outcome.error_name for r in lookup.lookup(PROJECT, INTEGRATION, [sent.message_id])] == [
        "EC_ABSENT_SUBSCRIBER_SM"]
    # Pulled once only: the next lookup finds it through the logs instead.
    again = lookup.lookup(PROJECT, INTEGRATION, [sent.message_id])
    assert [r.raw.get("sentAt") is not None for r in again] == [True]
