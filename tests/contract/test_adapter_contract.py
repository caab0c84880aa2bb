"""Our Infobip payloads held against Infobip's own published models.

The official SDK (`infobip-api-python-client`, test-only) is generated from
Infobip's OpenAPI spec. A body it reads back identically uses only keys and
types Infobip knows; a report it serialises is one our parser must read.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from infobip_api_client.api_client import ApiClient
from infobip_api_client.models.message_price import MessagePrice
from infobip_api_client.models.sms_delivery_report import SmsDeliveryReport
from infobip_api_client.models.sms_message_error import SmsMessageError
from infobip_api_client.models.sms_message_status import SmsMessageStatus
from infobip_api_client.models.sms_delivery_result import SmsDeliveryResult
from infobip_api_client.models.sms_request import SmsRequest

from smsledger.adapters.infobip.callbacks import parse_delivery_reports, parse_inbound
from smsledger.adapters.infobip.requests import mms_body, parse_error, sms_body
from smsledger.application.ports import OutgoingMessage
from smsledger.domain.content import MmsContent, SmsContent
from smsledger.domain.outcome import StatusGroup


def outgoing(content, **kwargs):
    fields = dict(project_id="acme", integration_id="infobip", message_id="m-1",
                  to="+41793026727", sender="InfoSMS", content=content, campaign_id="summer")
    fields.update(kwargs)
    return OutgoingMessage(**fields)


@pytest.mark.parametrize("message", [
    outgoing(SmsContent("Your cart misses you")),
    outgoing(SmsContent("Ünïcödé ⚡"), sender=None, campaign_id=None),
])
def test_sms_bodies_are_infobip_sms_requests(message):
    body = sms_body([message, outgoing(SmsContent("2nd"), message_id="m-2")],
                    "https://u:p@platform.example/v1/webhooks/infobip/acme/infobip/delivery-reports")
    wire = json.loads(json.dumps(body))
    assert SmsRequest.from_dict(wire).to_dict() == wire
    destination = wire["messages"][0]["destinations"][0]
    assert destination == {"to": "41793026727", "messageId": "m-1"}
    assert len(wire["messages"][0]["webhooks"]["callbackData"]) <= 4000


def test_sms_body_without_webhook_has_no_delivery_url():
    wire = sms_body([outgoing(SmsContent("hi"))], None)
    assert "delivery" not in wire["messages"][0]["webhooks"]
    assert SmsRequest.from_dict(wire).to_dict() == wire


def test_mms_bodies_follow_the_documented_shape():
    # The SDK has no MMS models; reference/infobip-api.md documents the shape.
    content = MmsContent("Flash sale", "50% off today", ("https://cdn.example/p.png",
                                                        "https://cdn.example/a.gif"))
    wire = mms_body([outgoing(content)], "https://u:p@platform.example/hook")
    (message,) = wire["messages"]
    assert set(message) == {"sender", "destinations", "content", "webhooks"}
    assert message["destinations"] == [{"to": "41793026727", "messageId": "m-1"}]
    assert len(message["content"]["title"]) <= 66
    assert message["content"]["messageSegments"] == [
        {"type": "TEXT", "text": "50% off today"},
        {"type": "LINK", "contentUrl": "https://cdn.example/p.png", "contentType": "image/png"},
        {"type": "LINK", "contentUrl": "https://cdn.example/a.gif", "contentType": "image/gif"},
    ]
    assert message["webhooks"]["delivery"] == {"url": "https://u:p@platform.example/hook",
                                               "intermediateReport": False}


def sdk_report(**overrides):
    fields = dict(
        bulk_id="2034072219640523072", message_id="our-own-id-1", to="41793026727",
        sender="InfoSMS", sent_at=datetime(2026, 11, 9, 16, 0, tzinfo=timezone.utc),
        done_at=datetime(2026, 11, 9, 16, 0, 3, tzinfo=timezone.utc), message_count=2,
        mcc_mnc="22801", callback_data='{"project":"acme","message":"our-own-id-1"}',
        price=MessagePrice(price_per_message=0.01, currency="EUR"),
        status=SmsMessageStatus(group_id=2, group_name="UNDELIVERABLE", id=9,
                         name="UNDELIVERABLE_NOT_DELIVERED", description="Message sent not delivered"),
        error=SmsMessageError(group_id=1, group_name="HANDSET_ERRORS", id=5,
                           name="EC_UNIDENTIFIED_SUBSCRIBER", description="No such subscriber",
                           permanent=True),
    )
    fields.update(overrides)
    return SmsDeliveryReport(**fields)


def test_reports_serialised_by_the_sdk_parse_completely():
    # The SDK's own client serialiser, as Infobip-generated code would send it.
    body = json.dumps(ApiClient().sanitize_for_serialization(
        SmsDeliveryResult(results=[sdk_report()])))
    parsed = parse_delivery_reports(body)
    assert parsed.malformed == []
    (report,) = parsed.reports
    outcome = report.outcome
    assert report.message_id == "our-own-id-1"
    assert outcome.group is StatusGroup.UNDELIVERABLE and outcome.status_id == 9
    assert (outcome.error_id, outcome.error_name, outcome.error_permanent) == (
        5, "EC_UNIDENTIFIED_SUBSCRIBER", True)
    assert outcome.parts == 2 and str(outcome.price.amount) == "0.01"
    assert outcome.done_at == datetime(2026, 11, 9, 16, 0, 3, tzinfo=timezone.utc)


def test_the_v2_shape_and_infobips_own_doc_spelling_parse():
    v2 = {"results": [{"bulkId": "b", "messageId": "m", "to": "41793026727", "from": "InfoSMS",
                       "sentAt": "2026-11-09T16:00:00.000+0000", "doneAt": "2026-11-09T16:00:03.000+0000",
                       "smsCount": 3, "entityId": "e", "applicationId": "a",
                       "price": {"pricePerMessage": 0.01, "currency": "EUR"},
                       "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5,
                                  "name": "DELIVERED_TO_HANDSET"},
                       "error": {"groupId": 0, "groupName": "Ok", "id": 0, "name": "NO_ERROR",
                                 "permanent": False},
                       "someFutureField": {"kept": True}}]}
    parsed = parse_delivery_reports(json.dumps(v2))
    assert parsed.malformed == []
    assert parsed.reports[0].outcome.parts == 3
    assert parsed.reports[0].raw["someFutureField"] == {"kept": True}


def test_what_only_the_json_module_reads_is_quarantined_per_item_not_refused_whole():
    """NaN is not JSON, but the json module reads it (as it did before orjson): the
    one item with it is kept in quarantine, its neighbour applied."""
    good = {"messageId": "m-1", "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5,
                                           "name": "DELIVERED_TO_HANDSET"}}
    bad = {**good, "messageId": "m-2", "price": {"pricePerMessage": float("nan"),
                                                  "currency": "EUR"}}
    parsed = parse_delivery_reports(json.dumps({"results": [good, bad]}).encode())
    assert [r.message_id for r in parsed.reports] == ["m-1"]
    assert len(parsed.malformed) == 1 and "results[1]" in parsed.malformed[0].reason


def test_inbound_messages_parse():
    body = {"results": [{"messageId": "817790313235066447", "from": "385916242493",
                         "to": "385921004026", "text": "STOP", "cleanText": "", "keyword": "STOP",
                         "receivedAt": "2026-10-06T09:28:39.220+0000", "smsCount": 1,
                         "price": {"pricePerMessage": 0, "currency": "EUR"}}],
            "messageCount": 1, "pendingMessageCount": 0}
    (sms,) = parse_inbound(json.dumps(body)).messages
    assert (sms.sender, sms.to, sms.text, sms.keyword) == ("385916242493", "385921004026", "STOP", "STOP")
    assert sms.received_at.tzinfo is not None


@pytest.mark.parametrize(("body", "code", "comment"), [
    ({"errorCode": "E400", "description": "Request cannot be processed.", "action": "Fix it",
      "violations": [{"property": "messages[0].destinations[0].to", "violation": "invalid"}],
      "resources": []}, "E400", "Request cannot be processed.; messages[0].destinations[0].to: invalid"),
    ({"requestError": {"serviceException": {"messageId": "BAD_REQUEST", "text": "Bad request"}}},
     "BAD_REQUEST", "Bad request"),
    ({"requestError": {"serviceException": {"messageId": "BAD_REQUEST", "text": "Invalid",
                                            "validationErrors": {"to": ["must not be blank"]}}}},
     "BAD_REQUEST", "Invalid; to: must not be blank"),
])
def test_both_error_shapes_parse(body, code, comment):
    error = parse_error(json.dumps(body).encode())
    assert (error.code, error.comment) == (code, comment)


def test_a_non_json_error_body_keeps_its_text():
    assert parse_error(b"<html>Bad Gateway</html>").comment == "<html>Bad Gateway</html>"
