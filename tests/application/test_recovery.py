"""Recovery: a message never handed to the provider is sent, one whose fate is unknown
is settled from the provider's logs, sent again under the same id when they do not
know it, and ends enqueue_failed when the attempts are used up. Never requested
for ever. (On each store: in memory, SQLite, PostgreSQL.)"""

import logging
from datetime import timedelta

import pytest

from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.errors import InvalidSendRequest, MessageIdReused
from smsledger.application.ports import Accepted, Unknown
from smsledger.domain.message import Message
from smsledger.domain.content import SmsContent
from smsledger.domain.phone import PhoneNumber
from support.fakes import KnownReports
from support.providers import ScriptedProvider, accept
from support.statuses import outcome

NUMBER = "+385921234567"


def request(i: int = 0, **kwargs) -> SendRequest:
    fields = dict(customer_id=f"c-{i}", to=NUMBER, text="Spring sale", campaign_id="spring",
                  message_id=f"m-{i}")
    fields.update(kwargs)
    return SendRequest(**fields)


def stored_but_never_handed_over(ledger, clock, message_id="m-0"):
    """What a crash between storing a batch and calling the provider leaves behind."""
    message = Message.request(
        project_id="acme", message_id=message_id, integration_id="default", customer_id="c-0",
        recipient=PhoneNumber.parse(NUMBER), content=SmsContent("Spring sale"), sender=None,
        campaign_id="spring", action_id=None, requested_at=clock.now())
    ledger.store.save(message)
    return message


def never_answered(message):
    return Unknown(message.message_id, "no definite answer")


def test_a_message_never_handed_over_is_sent_by_the_next_round(ledger, provider, clock):
    stored_but_never_handed_over(ledger, clock)
    young = ledger.run_maintenance(KnownReports())
    assert young["sent"] == 0 and provider.sent == []  # a send in progress may still hand it over

    clock.advance(timedelta(minutes=2))
    done = ledger.run_maintenance(KnownReports())
    assert done["sent"] == 1
    assert [m.message_id for m in provider.sent] == ["m-0"]
    assert ledger.message("acme", "m-0").status == "enqueued"
    assert ledger.run_maintenance(KnownReports(), older_than=timedelta(0))["sent"] == 0
    assert len(provider.sent) == 1  # sent once


def test_a_message_requested_before_hand_overs_were_recorded_is_sent_as_a_resend(
        ledger, provider, clock):
    """0.2.0 stored no hand-overs: a message it left requested may have reached Infobip
    (its answer lost), so it goes out as a resend, whose "already have it" answer means
    accepted, not rejected."""
    message = Message.request(
        project_id="acme", message_id="old-1", integration_id="default", customer_id="c-0",
        recipient=PhoneNumber.parse(NUMBER), content=SmsContent("Spring sale"), sender=None,
        campaign_id="spring", action_id=None, requested_at=clock.now())
    del message.pending_events[0].__dict__["handovers_recorded"]  # as 0.2.0 stored it
    ledger.store.save(message)
    clock.advance(timedelta(minutes=2))
    assert ledger.run_maintenance(KnownReports())["sent"] == 1
    assert [(m.message_id, m.resend) for m in provider.sent] == [("old-1", True)]
    stored_but_never_handed_over(ledger, clock, "new-1")
    clock.advance(timedelta(minutes=2))
    ledger.run_maintenance(KnownReports())
    assert [(m.message_id, m.resend) for m in provider.sent][1:] == [("new-1", False)]


def test_a_platform_retry_sends_a_message_never_handed_over(ledger, provider, clock):
    stored_but_never_handed_over(ledger, clock)
    (result,) = ledger.send("acme", [request()])
    assert result.status == "enqueued"
    assert [m.message_id for m in provider.sent] == ["m-0"]
    (again,) = ledger.send("acme", [request()])
    assert (again.status, again.detail) == ("enqueued", "repeat of an earlier send with this "
                                                        "message id")
    assert len(provider.sent) == 1


def test_a_lost_answer_is_settled_from_the_logs_not_sent_again(make_ledger, clock):
    provider = ScriptedProvider(never_answered)
    ledger = make_ledger(provider_=provider)
    (result,) = ledger.send("acme", [request()])
    assert result.status == "requested"
    logs = KnownReports()
    logs.known["m-0"] = ProviderReport("m-0", outcome("DELIVERED_TO_HANDSET", done_at=clock.now()))
    done = ledger.run_maintenance(logs, older_than=timedelta(0))
    assert (done["settled"], done["resent"]) == (1, 0)
    assert ledger.message("acme", "m-0").status == "delivered"
    assert len(provider.sent) == 1


def test_a_message_the_provider_never_accepted_ends_enqueue_failed(make_ledger, clock):
    provider = ScriptedProvider(never_answered)  # unreachable, or 5xx every time
    ledger = make_ledger(provider_=provider, max_send_attempts=3)
    ledger.send("acme", [request()])
    logs = KnownReports()  # the provider's logs never know it
    young = ledger.run_maintenance(logs)
    assert (young["resent"], young["gave_up"]) == (0, 0)  # within the grace period

    rounds = []
    for _ in range(3):
        clock.advance(timedelta(minutes=31))
        rounds.append(ledger.run_maintenance(logs))
    assert [(r["resent"], r["gave_up"]) for r in rounds] == [(1, 0), (1, 0), (0, 1)]
    assert [m.message_id for m in provider.sent] == ["m-0"] * 3  # the same id each time
    assert [m.resend for m in provider.sent] == [False, True, True]
    view = ledger.message("acme", "m-0")
    assert view.status == "enqueue_failed"
    assert [h.event for h in view.history] == [
        "Requested", "HandedOver", "HandedOver", "HandedOver", "EnqueueFailed"]
    assert view.history[-1].details["error"] == "not_accepted_by_provider"
    (event,) = [e for e in ledger.campaign_events("acme").events if e.status == "enqueue_failed"]
    assert event.properties["error"] == "not_accepted_by_provider"


def test_a_resend_the_provider_accepts_enqueues_it(make_ledger, clock):
    answers = iter([never_answered, accept])
    provider = ScriptedProvider(lambda m: next(answers)(m))
    ledger = make_ledger(provider_=provider)
    ledger.send("acme", [request()])
    clock.advance(timedelta(minutes=31))
    assert ledger.run_maintenance(KnownReports())["resent"] == 1
    assert ledger.message("acme", "m-0").status == "enqueued"


def test_one_failing_integration_does_not_stop_the_others(make_ledger, clock, caplog):
    provider = ScriptedProvider(never_answered)
    ledger = make_ledger(provider_=provider)
    ledger.send("acme", [request(1, integration_id="broken"), request(2, integration_id="ok")])

    class OneBroken(KnownReports):
        def pulled_reports(self, project_id, integration_id, message_ids, *, kind):
            if integration_id == "broken":
                raise ConnectionError("connection refused")
            return iter(())

    logs = OneBroken()
    logs.known["m-2"] = ProviderReport("m-2", outcome("DELIVERED_TO_HANDSET"))
    with caplog.at_level(logging.WARNING):
        done = ledger.run_maintenance(logs, older_than=timedelta(0))
    [logged] = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert "acme/broken" in logged and "connection refused" in logged
    assert done["failed_integrations"] == ["acme/broken"]
    assert done["settled"] == 1
    assert ledger.message("acme", "m-2").status == "delivered"


def test_pulled_reports_are_stored_even_when_the_logs_then_fail(make_ledger, clock):
    provider = ScriptedProvider(never_answered)
    ledger = make_ledger(provider_=provider)
    ledger.send("acme", [request(1), request(2)])

    class PullThenFail(KnownReports):
        def pulled_reports(self, project_id, integration_id, message_ids, *, kind):
            yield [ProviderReport("m-1", outcome("DELIVERED_TO_HANDSET"))]

        def logs(self, project_id, integration_id, message_ids, *, kind):
            raise TimeoutError("the logs did not answer")

    done = ledger.run_maintenance(PullThenFail(), older_than=timedelta(0))
    assert done["settled"] == 1 and done["failed_integrations"] == ["acme/default"]
    assert ledger.message("acme", "m-1").status == "delivered"
    assert ledger.message("acme", "m-2").status == "requested"  # sent again below, not lost


def test_pulled_reports_are_stored_even_when_the_next_pull_fails(make_ledger, clock):
    """The provider is asked in groups of ids (as many as its URL takes): a group's
    reports are stored before the next group is asked for, which may fail."""
    provider = ScriptedProvider(never_answered)
    ledger = make_ledger(provider_=provider)
    ledger.send("acme", [request(1), request(2)])

    class SecondPullFails(KnownReports):
        def pulled_reports(self, project_id, integration_id, message_ids, *, kind):
            yield [ProviderReport("m-1", outcome("DELIVERED_TO_HANDSET"))]
            raise ConnectionError("the second request was cut")

    done = ledger.run_maintenance(SecondPullFails(), older_than=timedelta(0))
    assert done["settled"] == 1 and done["failed_integrations"] == ["acme/default"]
    assert ledger.message("acme", "m-1").status == "delivered"



def test_the_same_id_for_another_request_is_refused_not_dropped(ledger, provider):
    ledger.send("acme", [request(message_id="idem-1", customer_id="cust-1")])
    with pytest.raises(MessageIdReused) as refused:
        ledger.send("acme", [request(message_id="idem-1", customer_id="cust-2",
                                     to="+385921234568")])
    assert refused.value.code == "message_id_reused"
    (repeat,) = ledger.send("acme", [request(message_id="idem-1", customer_id="cust-1")])
    assert repeat.status == "enqueued" and len(provider.sent) == 1
    results = ledger.send("acme", [request(message_id="idem-1", customer_id="cust-2"),
                                   request(message_id="new-1")], report_invalid=True)
    assert [(r.status, r.error) for r in results] == [("invalid", "message_id_reused"),
                                                     ("enqueued", None)]


def test_an_id_repeated_within_one_call(ledger, provider):
    results = ledger.send("acme", [request(message_id="x"), request(message_id="x"),
                                   request(message_id="x", text="other")], report_invalid=True)
    assert [(r.status, r.error) for r in results] == [
        ("enqueued", None), ("enqueued", None), ("invalid", "message_id_reused")]
    assert len(provider.sent) == 1


def test_one_invalid_message_does_not_stop_a_batch(ledger, provider):
    results = ledger.send("acme", [request(1), request(2, to="not a number"), request(3)],
                          report_invalid=True)
    assert [r.status for r in results] == ["enqueued", "invalid", "enqueued"]
    assert results[1].error == "invalid_message" and "message 1" not in (results[1].detail or "")
    assert [m.message_id for m in provider.sent] == ["m-1", "m-3"]
    with pytest.raises(InvalidSendRequest):  # without report_invalid, the whole call
        ledger.send("acme", [request(4), request(5, to="not a number")])
    assert ledger.message("acme", "m-3").status == "enqueued"


def test_a_report_for_a_message_handed_over_settles_it_before_recovery(make_ledger, clock):
    provider = ScriptedProvider(never_answered)
    ledger = make_ledger(provider_=provider)
    ledger.send("acme", [request()])
    ledger.record_reports("acme", [ProviderReport("m-0", outcome("DELIVERED_TO_HANDSET"))])
    clock.advance(timedelta(hours=2))
    done = ledger.run_maintenance(KnownReports())
    assert (done["resent"], done["gave_up"]) == (0, 0)
    assert len(provider.sent) == 1


def test_accepted_is_answered_for_an_accepted_resend(make_ledger, clock):
    # Sanity of the fake: the first answer Accepted leaves nothing to recover.
    provider = ScriptedProvider(lambda m: Accepted(m.message_id, parts=1))
    ledger = make_ledger(provider_=provider)
    ledger.send("acme", [request()])
    clock.advance(timedelta(hours=2))
    assert ledger.run_maintenance(KnownReports())["sent"] == 0
