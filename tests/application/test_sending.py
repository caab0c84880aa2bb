import pytest

from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.errors import InvalidSendRequest
from smsledger.application.ports import Accepted, SendRefused, StatusInAnswer, Unknown
from support.providers import ScriptedProvider
from support.statuses import outcome

CROATIA = "+385921234567"


def request(i: int = 0, **kwargs) -> SendRequest:
    fields = dict(customer_id=f"c-{i}", to=CROATIA, text="Spring sale: 20% off",
                  campaign_id="spring", action_id="a-1", sender="Acme")
    fields.update(kwargs)
    return SendRequest(**fields)


def test_a_sent_message_is_stored_requested_then_enqueued(ledger, provider):
    (result,) = ledger.send("acme", [request()])
    assert result.status == "enqueued"
    assert result.number_of_message_parts == 1
    view = ledger.message("acme", result.message_id)
    assert [h.event for h in view.history] == ["Requested", "HandedOver", "Enqueued"]
    assert provider.sent[0].message_id == result.message_id  # our id goes to the provider


def test_the_hand_over_is_stored_before_the_provider_is_called(ledger, provider):
    """A crash during the call leaves messages known to have been handed over (their
    fate is then asked of Infobip), never ones that look unsent and go out twice."""
    seen_during_the_call = []

    def answer(message):
        history = ledger.message("acme", message.message_id).history
        seen_during_the_call.append([h.event for h in history])
        return Accepted(message.message_id, parts=1)

    provider.answer = answer
    ledger.send("acme", [request(0), request(1)])
    assert seen_during_the_call == [["Requested", "HandedOver"]] * 2


def test_the_provider_is_called_in_batches(make_ledger, provider):
    ledger = make_ledger(send_batch_size=10)
    results = ledger.send("acme", [request(i) for i in range(25)])
    assert [len(b) for b in provider.batches] == [10, 10, 5]
    assert {r.status for r in results} == {"enqueued"}
    assert len({r.message_id for r in results}) == 25


def test_an_invalid_request_refuses_the_whole_batch_and_stores_nothing(ledger, provider):
    with pytest.raises(InvalidSendRequest) as refused:
        ledger.send("acme", [request(0), request(1, to="not-a-number"), request(2)])
    assert refused.value.index == 1
    assert "not-a-number" in str(refused.value)
    assert ledger.recorder.max_notification_id() in (None, 0)
    assert provider.batches == []


@pytest.mark.parametrize("bad", [dict(text=""), dict(customer_id=""), dict(title="x" * 70, text="hi")])
def test_bad_requests_name_what_is_wrong(ledger, bad):
    with pytest.raises(InvalidSendRequest, match="message 0"):
        ledger.send("acme", [request(**bad)])


def test_the_same_platform_message_id_is_never_sent_twice(ledger, provider):
    ledger.send("acme", [request(message_id="order-42")])
    ledger.send("acme", [request(message_id="order-42"), request(1, message_id="order-43")])
    assert [m.message_id for m in provider.sent] == ["order-42", "order-43"]


def test_a_refusal_is_enqueue_failed(ledger, provider):
    provider.answer = lambda m: SendRefused(m.message_id, 400, "BAD_REQUEST", "Invalid destination address")
    (result,) = ledger.send("acme", [request()])
    assert result.status == "enqueue_failed"
    assert result.detail == "400 BAD_REQUEST Invalid destination address"


def test_an_unknown_answer_leaves_the_message_requested(ledger, provider):
    provider.answer = lambda m: Unknown(m.message_id, "timed out after 3 attempts")
    (result,) = ledger.send("acme", [request()])
    assert (result.status, result.detail) == ("requested", "timed out after 3 attempts")


def test_a_missing_answer_counts_as_unknown(ledger, provider):
    provider.send = lambda messages: []
    (result,) = ledger.send("acme", [request()])
    assert result.status == "requested"


def test_a_rejection_in_the_answer_is_enqueued_then_rejected(ledger, provider):
    provider.answer = lambda m: StatusInAnswer(m.message_id, outcome("REJECTED_NETWORK"))
    (result,) = ledger.send("acme", [request()])
    assert result.status == "rejected"
    events = ledger.campaign_events("acme").events
    assert [e.status for e in events] == ["enqueued", "rejected"]


def test_an_mms_is_one_part(ledger, provider):
    (result,) = ledger.send("acme", [request(title="Flash sale", text="x" * 400,
                                             media_urls=("https://cdn.example/p.png",))])
    assert result.number_of_message_parts == 1
    assert provider.sent[0].content.kind == "mms"


def test_a_report_stored_while_the_answer_is_awaited_is_kept(make_ledger):
    """Infobip's webhook can store a report before the send answer comes back: the
    answer is then applied to the message as stored, not to the copy being sent."""
    ledger = None

    def deliver_first(message):
        ledger.record_reports("acme", [ProviderReport(message.message_id,
                                                      outcome("DELIVERED_TO_HANDSET"))])
        return Accepted(message.message_id, parts=1)

    ledger = make_ledger(provider_=ScriptedProvider(deliver_first))
    (result,) = ledger.send("acme", [request()])
    assert result.status == "delivered"
    view = ledger.message("acme", result.message_id)
    assert [h.event for h in view.history] == ["Requested", "HandedOver", "Enqueued", "Delivered"]


def test_every_stored_batch_is_sent_even_when_a_provider_call_fails(make_ledger):
    """Batches overlap (the next is stored while one is out): when a call fails, the
    calls already started still finish and are recorded, then the failure is raised."""
    calls = []

    class FailingOnce(ScriptedProvider):
        def send(self, messages):
            calls.append([m.message_id for m in messages])
            if len(calls) == 2:
                raise RuntimeError("provider broke")
            return super().send(messages)

    ledger = make_ledger(provider_=FailingOnce(), send_batch_size=10)
    with pytest.raises(RuntimeError, match="provider broke"):
        ledger.send("acme", [request(i, message_id=f"m-{i}") for i in range(40)])
    sent = [message_id for call in calls for message_id in call]
    statuses = {}
    for i in range(40):
        try:
            statuses[f"m-{i}"] = ledger.message("acme", f"m-{i}").status
        except LookupError:
            statuses[f"m-{i}"] = None  # never stored
    stored = {m for m, status in statuses.items() if status is not None}
    assert stored == set(sent)  # nothing stored was left unsent
    assert {statuses[m] for m in calls[1]} == {"requested"}  # the failed call: unknown
    assert {statuses[m] for c in (calls[0], *calls[2:]) for m in c} == {"enqueued"}
    assert len(calls) < 4  # no batch was stored after the failure was known


def test_calls_already_out_are_recorded_when_storing_a_later_batch_fails(make_ledger,
                                                                         monkeypatch):
    provider = ScriptedProvider()
    ledger = make_ledger(provider_=provider, send_batch_size=10)
    store_batch, stored_batches = ledger.sending._store_batch, []

    def failing_third(*args):
        if len(stored_batches) == 2:
            raise RuntimeError("store went away")
        stored_batches.append(args[1])
        return store_batch(*args)

    monkeypatch.setattr(ledger.sending, "_store_batch", failing_third)
    with pytest.raises(RuntimeError, match="store went away"):
        ledger.send("acme", [request(i, message_id=f"m-{i}") for i in range(40)])
    sent = [m.message_id for m in provider.sent]
    assert len(sent) == 20  # the two batches stored, each sent
    assert {ledger.message("acme", m).status for m in sent} == {"enqueued"}  # and recorded
    with pytest.raises(LookupError):
        ledger.message("acme", "m-20")  # the third batch was never stored
