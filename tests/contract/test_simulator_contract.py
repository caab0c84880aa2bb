"""Everything the Infobip simulator says, held to Infobip's official SDK models.

The models of infobip-api-python-client are generated from Infobip's OpenAPI spec. Their
`from_dict` validates types strictly (StrictStr, StrictInt, enums, datetimes) but silently
drops keys it does not know, so `conforms` also refuses any key the model lacks: a typo in a
field name must fail here, not in production.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import httpx
import phonenumbers
import pytest
from infobip_api_client.models import (
    ApiError,
    SmsDeliveryResult,
    SmsInboundMessageResult,
    SmsLogsResponse,
    SmsRequest,
    SmsResponse,
)
from pydantic import BaseModel

from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig

API_KEY = "contract-key"
CONFIG = SimulatorConfig(
    api_key=API_KEY, report_delay=0.05, batch_linger=0.02, late_report_delay=0.1
)
RULE_SUFFIXES = ["10", "20", "21", "30", "31", "40", "50", "60", "70", "80", "99"]


def conforms(model: type[BaseModel], payload: dict) -> BaseModel:
    parsed = model.from_dict(payload)
    _refuse_unknown_keys(parsed, payload, model.__name__)
    return parsed


def _refuse_unknown_keys(parsed: BaseModel, payload: dict, path: str) -> None:
    parsed = (
        getattr(parsed, "actual_instance", None) or parsed
    )  # oneOf wrappers, e.g. SmsMessageContent
    fields = {(info.alias or name): name for name, info in type(parsed).model_fields.items()}
    unknown = set(payload) - set(fields)
    assert not unknown, f"{path}: {sorted(unknown)} are not fields of {type(parsed).__name__}"
    for key, value in payload.items():
        child = getattr(parsed, fields[key])
        pairs = (
            zip(value, child, strict=True)
            if isinstance(value, list) and isinstance(child, list)
            else [(value, child)]
        )
        for index, (item, parsed_item) in enumerate(pairs):
            if isinstance(item, dict) and isinstance(parsed_item, BaseModel):
                _refuse_unknown_keys(
                    parsed_item,
                    item,
                    f"{path}.{key}" + (f"[{index}]" if isinstance(value, list) else ""),
                )


def number(suffix: str, region: str = "HR") -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return f"{example.country_code}{example.national_number}"[:-2] + suffix


def sample_request(webhook: str | None, prefix: str) -> dict:
    """A request as full as reference/infobip-api.md shows, to every non-fault rule."""
    message = {
        "sender": "InfoSMS",
        "destinations": [
            {"to": number(suffix), "messageId": f"{prefix}-{suffix}"} for suffix in RULE_SUFFIXES
        ],
        "content": {"text": "Your cart misses you €"},
        "options": {
            "validityPeriod": {"amount": 48, "timeUnit": "HOURS"},
            "campaignReferenceId": "summer-sale",
        },
        "webhooks": {"contentType": "application/json", "callbackData": '{"campaign": 7}'},
    }
    if webhook:
        message["webhooks"]["delivery"] = {"url": webhook, "intermediateReport": True}
    return {"messages": [message], "options": {"includeSmsCountInResponse": True}}


MMS_REQUEST = {
    "messages": [
        {
            "destinations": [{"to": number("10"), "messageId": "mms-1"}],
            "content": {"title": "Sale", "messageSegments": [{"type": "TEXT", "text": "hi"}]},
        }
    ]
}


def one_message(to: str) -> dict:
    return {"messages": [{"destinations": [{"to": to}], "content": {"text": "Hi"}}]}


class Receiver:
    """Records the JSON of every webhook POST."""

    def __init__(self) -> None:
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/reports"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}
        )


@pytest.fixture(scope="module")
def traffic():
    """Drive the simulator through every kind of answer once; tests then inspect what it said."""
    receiver = Receiver()
    receiver.thread.start()
    try:
        with (
            InfobipSimulator(CONFIG) as sim,
            httpx.Client(
                base_url=sim.base_url, headers={"Authorization": f"App {API_KEY}"}, timeout=5
            ) as client,
        ):
            pushed_request = sample_request(receiver.url, "push")
            send_answers = [
                client.post("/sms/3/messages", json=pushed_request),
                # The same again: every message is now a duplicate.
                client.post("/sms/3/messages", json=pushed_request),
                client.post("/sms/3/messages", json=sample_request(None, "pull")),
                client.post("/mms/2/messages", json=MMS_REQUEST),
            ]
            assert sim.wait_until_idle(10)
            pulled = client.get("/sms/3/reports", params={"limit": 1000})
            logs = client.get("/sms/3/logs", params={"limit": 1000})
            errors = {
                "invalid body": client.post(
                    "/sms/3/messages", json={"messages": [{"destinations": []}]}
                ),
                "not JSON": client.post("/sms/3/messages", content=b"{"),
                "no API key": httpx.post(f"{sim.base_url}/sms/3/messages", json=pushed_request),
                "unknown path": client.get("/sms/9/nothing"),
                "bad limit": client.get("/sms/3/logs", params={"limit": 0}),
                "throttled": client.post("/sms/3/messages", json=one_message(number("92"))),
                "server fault": client.post("/sms/3/messages", json=one_message(number("91"))),
            }
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join()
    return SimpleNamespace(
        pushed_request=pushed_request,
        send_answers=send_answers,
        webhook_bodies=receiver.bodies,
        pulled=pulled,
        logs=logs,
        errors=errors,
    )


def test_the_request_the_simulator_accepts_is_a_valid_sms_request(traffic):
    request = conforms(SmsRequest, traffic.pushed_request)

    assert (
        request.messages[0].webhooks.delivery.url
        == traffic.pushed_request["messages"][0]["webhooks"]["delivery"]["url"]
    )
    assert traffic.send_answers[0].status_code == 200


def test_every_send_answer_is_an_sms_response(traffic):
    for response in traffic.send_answers:
        assert response.status_code == 200
        parsed = conforms(SmsResponse, response.json())
        assert parsed.bulk_id and parsed.messages
        assert all(message.details.message_count == 1 for message in parsed.messages)

    statuses = {
        m.status.name
        for r in traffic.send_answers
        for m in SmsResponse.from_dict(r.json()).messages
    }
    assert statuses == {"PENDING_ACCEPTED", "REJECTED_DESTINATION", "REJECTED_DUPLICATE_MESSAGE_ID"}


def test_every_webhook_post_is_an_sms_delivery_result(traffic):
    assert traffic.webhook_bodies
    names = set()
    for body in traffic.webhook_bodies:
        for report in conforms(SmsDeliveryResult, body).results:
            assert report.sent_at.tzinfo is not None and report.done_at > report.sent_at
            assert report.price.currency == "EUR" and report.campaign_reference_id == "summer-sale"
            names.add(report.status.name)
    assert names == {
        "PENDING_ENROUTE",
        "DELIVERED_TO_HANDSET",
        "REJECTED_NETWORK",
        "UNDELIVERABLE_NOT_DELIVERED",
        "EXPIRED_EXPIRED",
    }


def test_pulled_reports_are_an_sms_delivery_result(traffic):
    parsed = conforms(SmsDeliveryResult, traffic.pulled.json())

    pulled = {report.message_id for report in parsed.results}
    # The SMS sent without a webhook URL, but for those that never get a report (and not the MMS).
    assert pulled == {f"pull-{suffix}" for suffix in RULE_SUFFIXES} - {"pull-21", "pull-70"}


def test_logs_are_an_sms_logs_response(traffic):
    parsed = conforms(SmsLogsResponse, traffic.logs.json())

    by_id = {log.message_id: log for log in parsed.results}
    assert by_id["push-99"].status.name == "DELIVERED_TO_HANDSET"
    assert by_id["push-70"].status.name == "PENDING_ACCEPTED" and by_id["push-70"].done_at is None
    assert by_id["push-99"].content.actual_instance.text == "Your cart misses you €"
    assert "mms-1" not in by_id  # SMS logs only


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("invalid body", 400),
        ("not JSON", 400),
        ("no API key", 401),
        ("unknown path", 404),
        ("bad limit", 400),
        ("throttled", 429),
        ("server fault", 500),
    ],
)
def test_every_error_body_is_an_api_error(traffic, case, status):
    response = traffic.errors[case]

    assert response.status_code == status
    error = conforms(ApiError, response.json())
    assert error.error_code == f"E{status}"
    assert error.description and error.action


# ---------------------------------------------------------------- inbound SMS

REPLY_SUFFIXES = ["85", "86", "87", "88"]


@pytest.fixture(scope="module")
def inbound_bodies():
    """Every inbound POST: the automatic replies of rules 85-88 and a few send_inbound calls."""
    receiver = Receiver()
    receiver.thread.start()
    config = replace(CONFIG, inbound_webhook_url=receiver.url, reply_delay=0.05)
    try:
        with (
            InfobipSimulator(config) as sim,
            httpx.Client(
                base_url=sim.base_url, headers={"Authorization": f"App {API_KEY}"}, timeout=5
            ) as client,
        ):
            request = {
                "messages": [
                    {
                        "sender": "385921004026",
                        "destinations": [{"to": number(suffix)} for suffix in REPLY_SUFFIXES],
                        "content": {"text": "Did we do well?"},
                    }
                ]
            }
            assert client.post("/sms/3/messages", json=request).status_code == 200
            sim.send_inbound(number("99"), "385921004026", "Hvala, dobro je 😀 " * 5)
            sim.send_inbound(number("99"), "385921004026", "YES", message_id="again")
            sim.send_inbound(number("99"), "385921004026", "YES", message_id="again")
            assert sim.wait_until_idle(10)
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join()
    return receiver.bodies


def _keys(payload: dict) -> dict:
    """The keys of a payload, nested objects and lists of objects included."""
    nested = {}
    for key, value in payload.items():
        if isinstance(value, dict):
            nested[key] = _keys(value)
        elif isinstance(value, list):
            nested[key] = [_keys(item) for item in value if isinstance(item, dict)]
        else:
            nested[key] = None
    return nested


def test_every_inbound_post_is_an_sms_inbound_message_result(inbound_bodies):
    assert len(inbound_bodies) == len(REPLY_SUFFIXES) + 3
    texts, counts = set(), set()
    for body in inbound_bodies:
        parsed = conforms(SmsInboundMessageResult, body)
        # The SDK's round trip keeps every key the simulator sent.
        assert _keys(parsed.to_dict()) == _keys(body)
        assert parsed.message_count == len(parsed.results) == 1
        assert parsed.pending_message_count == 0
        [message] = parsed.results
        assert message.received_at.tzinfo is not None
        assert message.price.currency == "EUR" and message.price.price_per_message == 0
        counts.add(message.sms_count)
        texts.add(message.text)
    assert {"STOP", "YES", "9 great service", "I will not stop buying"} <= texts
    assert counts == {1, 2}  # the long UCS-2 text takes two parts


def test_inbound_replies_come_from_the_customer_to_the_numeric_sender(inbound_bodies):
    replies = [
        SmsInboundMessageResult.from_dict(body).results[0]
        for body in inbound_bodies
        if body["results"][0]["from"][-2:] in REPLY_SUFFIXES
    ]

    assert sorted(reply.var_from for reply in replies) == [number(s) for s in REPLY_SUFFIXES]
    assert {reply.to for reply in replies} == {"385921004026"}
    assert {(reply.keyword, reply.clean_text) for reply in replies} == {
        ("STOP", ""),
        ("YES", ""),
        ("9", "great service"),
        ("I", "will not stop buying"),
    }
