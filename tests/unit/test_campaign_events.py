from datetime import timedelta

from smsledger.domain.campaign_events import PROPERTY_NAMES, campaign_event_for, campaign_event_id
from smsledger.domain.message import Message
from support.statuses import outcome
from unit.test_message import T0, new_message


def campaign_events(message: Message):
    events = [campaign_event_for(e, message.identity) for e in message.collect_events()]
    return [e for e in events if e is not None]


def test_enqueued_event_carries_the_contract_properties():
    message = new_message()
    message.accept(at=T0, parts=2)
    (enqueued,) = campaign_events(message)
    assert enqueued.name == "campaign"
    assert enqueued.customer_id == "c-1"
    assert enqueued.timestamp == T0
    assert tuple(enqueued.properties) == PROPERTY_NAMES
    assert enqueued.properties == {
        "action_type": "sms", "status": "enqueued", "status_code": None, "error": None,
        "comment": None, "number_of_message_parts": 2, "campaign_id": "spring",
        "action_id": "a-1", "message_id": "m-1", "recipient": "+385921234567",
        "sender": "Acme", "integration_id": "infobip",
    }


def test_enqueued_falls_back_to_the_local_part_count():
    message = new_message()
    message.accept(at=T0, parts=None)
    assert campaign_events(message)[0].properties["number_of_message_parts"] == 1


def test_failed_event_has_error_id_name_and_description():
    message = new_message()
    message.accept(at=T0)
    message.record_report(outcome("UNDELIVERABLE_NOT_DELIVERED", error="EC_UNIDENTIFIED_SUBSCRIBER",
                                  done_at=T0 + timedelta(seconds=9), parts=3), received_at=T0)
    failed = campaign_events(message)[-1]
    assert failed.timestamp == T0 + timedelta(seconds=9)
    assert failed.properties["status"] == "failed"
    assert failed.properties["status_code"] == 5
    assert failed.properties["error"] == "EC_UNIDENTIFIED_SUBSCRIBER"
    assert failed.properties["comment"].startswith("The number does not exist")
    assert failed.properties["number_of_message_parts"] == 3


def test_rejected_without_error_id_names_the_status():
    message = new_message()
    message.accept(at=T0)
    message.record_report(outcome("REJECTED_NETWORK", done_at=T0), received_at=T0)
    rejected = campaign_events(message)[-1]
    assert (rejected.properties["status"], rejected.properties["error"]) == ("rejected", "REJECTED_NETWORK")


def test_enqueue_failed_carries_the_http_status():
    message = new_message()
    message.refuse(at=T0, status_code=400, error="BAD_REQUEST", comment="Invalid destination address")
    (failed,) = campaign_events(message)
    assert failed.properties["status"] == "enqueue_failed"
    assert failed.properties["status_code"] == 400
    assert failed.properties["error"] == "BAD_REQUEST"
    assert failed.properties["comment"] == "Invalid destination address"


def test_reports_that_change_nothing_make_no_campaign_event():
    message = new_message()
    message.accept(at=T0)
    message.record_report(outcome("PENDING_ENROUTE", done_at=T0), received_at=T0)
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0), received_at=T0)
    message.record_report(outcome("DELIVERED_TO_HANDSET", done_at=T0), received_at=T0)
    assert [e.status for e in campaign_events(message)] == ["enqueued", "delivered"]


def test_event_ids_are_deterministic_and_distinct_per_status_message_and_project():
    assert campaign_event_id("p", "m", "delivered") == campaign_event_id("p", "m", "delivered")
    ids = {campaign_event_id(p, m, s) for p in ("p", "q") for m in ("m", "n")
           for s in ("enqueued", "delivered")}
    assert len(ids) == 8


def test_renaming_keeps_the_id():
    message = new_message()
    message.accept(at=T0)
    event = campaign_events(message)[0]
    renamed = event.named("sms_status")
    assert renamed.name == "sms_status" and renamed.event_id == event.event_id
    assert renamed.to_dict()["event"] == "sms_status"
