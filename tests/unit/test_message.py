from datetime import datetime, timedelta, timezone

import pytest

from smsledger.domain.content import SmsContent
from smsledger.domain.errors import InvalidWaitingWindow
from smsledger.domain.message import Message, message_aggregate_id
from smsledger.domain.phone import PhoneNumber
from smsledger.domain.status import MessageStatus, ReportEffect, WindowOutcome
from support.statuses import outcome

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
CROATIA = "+385921234567"
GERMANY = "+4915123456789"


def new_message(to: str = CROATIA, **kwargs) -> Message:
    fields = dict(project_id="acme", message_id="m-1", integration_id="infobip",
                  customer_id="c-1", recipient=PhoneNumber.parse(to), content=SmsContent("Hi"),
                  sender="Acme", campaign_id="spring", action_id="a-1", requested_at=T0)
    fields.update(kwargs)
    return Message.request(**fields)


def event_names(message: Message) -> list[str]:
    return [type(e).__name__ for e in message.collect_events()]


def test_a_message_starts_requested_with_a_deterministic_id():
    message = new_message()
    assert message.status is MessageStatus.REQUESTED
    assert message.id == message_aggregate_id("acme", "m-1")
    assert message.id != message_aggregate_id("other-project", "m-1")


def test_accepted_then_delivered():
    message = new_message()
    message.accept(at=T0, parts=1)
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0 + timedelta(seconds=3)),
                          received_at=T0 + timedelta(seconds=4))
    assert message.status is MessageStatus.DELIVERED
    assert event_names(message) == ["Requested", "Enqueued", "Delivered"]


def test_event_time_is_the_providers_done_at_and_arrival_is_kept():
    message = new_message()
    message.accept(at=T0)
    done, arrived = T0 + timedelta(seconds=3), T0 + timedelta(minutes=2)
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=done), received_at=arrived)
    delivered = message.collect_events()[-1]
    assert (delivered.timestamp, delivered.received_at) == (done, arrived)


@pytest.mark.parametrize(("status", "error", "final"), [
    ("REJECTED_NETWORK", None, MessageStatus.REJECTED),
    ("UNDELIVERABLE_NOT_DELIVERED", "EC_UNIDENTIFIED_SUBSCRIBER", MessageStatus.FAILED),
    ("EXPIRED_EXPIRED", None, MessageStatus.FAILED),
])
def test_final_statuses(status, error, final):
    message = new_message()
    message.accept(at=T0)
    message.record_report(outcome(status, error=error, done_at=T0), received_at=T0)
    assert message.status is final


def test_a_refused_send_is_enqueue_failed():
    message = new_message()
    message.refuse(at=T0, status_code=400, error="BAD_REQUEST", comment="Invalid destination")
    assert message.status is MessageStatus.ENQUEUE_FAILED
    assert event_names(message)[-1] == "EnqueueFailed"


def test_pending_reports_are_recorded_without_a_status_change():
    message = new_message()
    message.accept(at=T0)
    message.record_report(outcome("PENDING_ENROUTE", done_at=T0), received_at=T0)
    assert message.status is MessageStatus.ENQUEUED
    noted = message.collect_events()[-1]
    assert isinstance(noted, Message.ReportNoted) and noted.effect == ReportEffect.PENDING.value


def test_a_duplicate_report_changes_nothing_and_is_noted():
    message = new_message()
    message.accept(at=T0)
    report = outcome("DELIVERED_TO_HANDSET", done_at=T0)
    message.record_report(report, received_at=T0)
    message.record_report(report, received_at=T0 + timedelta(minutes=1))
    events = message.collect_events()
    assert [type(e).__name__ for e in events][-2:] == ["Delivered", "ReportNoted"]
    assert events[-1].effect == ReportEffect.DUPLICATE.value


def test_a_final_status_is_final():
    message = new_message()
    message.accept(at=T0)
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0), received_at=T0)
    message.record_report(outcome("UNDELIVERABLE_NOT_DELIVERED", error="EC_ABSENT_SUBSCRIBER_SM",
                                  done_at=T0 + timedelta(seconds=5)), received_at=T0)
    message.record_report(outcome("PENDING_ENROUTE", done_at=T0 - timedelta(seconds=1)),
                          received_at=T0)
    assert message.status is MessageStatus.DELIVERED
    effects = [e.effect for e in message.collect_events() if isinstance(e, Message.ReportNoted)]
    assert effects == [ReportEffect.CONFLICTING.value, ReportEffect.SUPERSEDED.value]


def test_a_final_report_on_a_requested_message_implies_enqueued_first():
    message = new_message()
    sent = T0 + timedelta(seconds=1)
    message.record_report(outcome("DELIVERED_TO_HANDSET", sent_at=sent, done_at=T0 + timedelta(seconds=3), parts=2),
                          received_at=T0 + timedelta(seconds=4))
    events = message.collect_events()
    assert [type(e).__name__ for e in events] == ["Requested", "Enqueued", "Delivered"]
    assert events[1].implied_by_report and events[1].timestamp == sent and events[1].parts == 2
    # The send answer arriving afterwards adds nothing.
    message.accept(at=T0 + timedelta(seconds=5), parts=2)
    assert message.collect_events() == []


def test_a_report_after_a_refusal_is_noted_as_conflicting():
    message = new_message()
    message.refuse(at=T0, status_code=400, error=None, comment=None)
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0), received_at=T0)
    assert message.status is MessageStatus.ENQUEUE_FAILED


def test_window_closes_as_no_report_received_after_four_days():
    message = new_message(CROATIA)
    message.accept(at=T0)
    assert not message.close_window_if_due(T0 + timedelta(days=4) - timedelta(seconds=1))
    assert message.close_window_if_due(T0 + timedelta(days=4))
    assert message.window_closed is WindowOutcome.NO_REPORT_RECEIVED
    assert message.status is MessageStatus.ENQUEUED
    assert not message.close_window_if_due(T0 + timedelta(days=9))  # closes once


def test_window_closes_as_no_report_expected_for_germany():
    message = new_message(GERMANY)
    message.accept(at=T0)
    assert message.close_window_if_due(T0 + timedelta(days=4))
    assert message.window_closed is WindowOutcome.NO_REPORT_EXPECTED


def test_the_window_is_configurable():
    message = new_message(waiting_window=timedelta(hours=1))
    message.accept(at=T0)
    assert message.close_window_if_due(T0 + timedelta(hours=1))


def test_a_non_positive_window_is_refused():
    with pytest.raises(InvalidWaitingWindow):
        new_message(waiting_window=timedelta(0))


def test_a_window_does_not_run_before_the_message_is_enqueued_or_after_it_is_final():
    requested = new_message()
    assert not requested.close_window_if_due(T0 + timedelta(days=30))
    delivered = new_message()
    delivered.accept(at=T0)
    delivered.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0), received_at=T0)
    assert not delivered.close_window_if_due(T0 + timedelta(days=30))


def test_a_report_after_the_window_is_applied_and_marked_late():
    message = new_message()
    message.accept(at=T0)
    message.close_window_if_due(T0 + timedelta(days=4))
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0 + timedelta(days=5)),
                          received_at=T0 + timedelta(days=5))
    assert message.status is MessageStatus.DELIVERED
    assert message.late
    assert message.collect_events()[-1].late


def test_a_report_inside_the_window_is_not_late():
    message = new_message()
    message.accept(at=T0)
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0), received_at=T0 + timedelta(days=3))
    assert not message.late


def test_state_rebuilt_from_events_equals_the_live_state():
    message = new_message()
    message.accept(at=T0, parts=1)
    message.record_report(outcome("PENDING_ENROUTE", done_at=T0), received_at=T0)
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0), received_at=T0)
    events = message.collect_events()
    rebuilt = None
    for event in events:
        rebuilt = event.mutate(rebuilt)
    assert rebuilt.status is message.status
    assert rebuilt.seen_reports == message.seen_reports
    assert rebuilt.version == message.version


def test_a_message_is_built_from_its_request_as_the_library_would_build_it():
    from eventsourcing.domain import Aggregate

    (requested,) = new_message().collect_events()
    ours = requested.mutate(None)
    libraries = Aggregate.Created.mutate(requested, None)  # the library's reflective way
    assert type(ours) is type(libraries) is Message
    assert vars(ours) == vars(libraries)
    assert (ours.id, ours.version, ours.created_on, ours.modified_on) == (
        requested.originator_id, 1, T0, T0)


def test_late_is_a_fact_of_the_times_not_of_the_window_job():
    """A report done after the window closed is late whether or not the job that
    closes windows has run (here it has not), and whenever it arrives."""
    message = new_message(waiting_window=timedelta(days=4))
    message.accept(at=T0)
    after_the_window = T0 + timedelta(days=5)
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=after_the_window),
                          received_at=T0 + timedelta(hours=1))
    assert message.window_closed is None and message.late is True

    in_time = new_message()
    in_time.accept(at=T0)
    in_time.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0 + timedelta(days=1)),
                          received_at=T0 + timedelta(days=1))
    assert in_time.late is False


def test_hand_overs_are_counted_until_the_provider_answers():
    message = new_message()
    assert (message.handovers, message.handed_over_at) == (0, None)
    assert message.hand_over(at=T0) and message.hand_over(at=T0 + timedelta(minutes=30))
    assert (message.handovers, message.handed_over_at) == (2, T0 + timedelta(minutes=30))
    message.accept(at=T0 + timedelta(minutes=31))
    assert message.hand_over(at=T0 + timedelta(hours=1)) is False  # settled: never again
    assert event_names(message) == ["Requested", "HandedOver", "HandedOver", "Enqueued"]


def test_giving_up_ends_a_requested_message_enqueue_failed_only():
    message = new_message()
    message.give_up(at=T0, reason="not_accepted_by_provider", comment="3 attempts")
    assert message.status is MessageStatus.ENQUEUE_FAILED
    delivered = new_message()
    delivered.accept(at=T0)
    delivered.give_up(at=T0, reason="not_accepted_by_provider", comment="3 attempts")
    assert delivered.status is MessageStatus.ENQUEUED


def test_a_repeat_is_the_same_request_and_a_reuse_is_not():
    assert new_message().same_request(new_message(requested_at=T0 + timedelta(hours=1)))
    assert not new_message().same_request(new_message(customer_id="c-2"))
    assert not new_message().same_request(new_message(content=SmsContent("Other")))
