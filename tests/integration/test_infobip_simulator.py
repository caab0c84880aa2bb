"""The Infobip simulator over real HTTP on loopback: its answers, and the reports it posts."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from contextlib import redirect_stdout
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import phonenumbers
import pytest

from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig, run_simulator

API_KEY = "test-key"
# Clients here speak plain HTTP, but httpx builds a TLS context per client (tens of ms): share one.
TLS = httpx.create_ssl_context()
FAST = SimulatorConfig(
    api_key=API_KEY,
    report_delay=0.05,
    batch_linger=0.02,
    webhook_retry_delays=(0.05, 0.05, 0.05),
    slow_answer_seconds=0.5,
    late_report_delay=0.6,
    late_report_days=5,
)


def number(suffix: str, region: str = "HR") -> str:
    """A valid mobile number of `region` (Infobip's form, no '+') ending in `suffix`."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    digits = f"{example.country_code}{example.national_number}"[:-2] + suffix
    assert phonenumbers.is_valid_number(phonenumbers.parse("+" + digits)), digits
    return digits


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


class WebhookReceiver:
    """A stand-in for our webhook: records every POST; can be told to fail the first N."""

    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[dict] = []  # {"path", "headers", "body", "at"} of the POSTs answered 200
        self.attempts = 0
        self._fail_left = fail_first
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver._lock:
                    receiver.attempts += 1
                    failing = receiver._fail_left > 0
                    if failing:
                        receiver._fail_left -= 1
                    else:
                        receiver.posts.append(
                            {
                                "path": self.path,
                                "headers": dict(self.headers),
                                "body": body,
                                "at": time.monotonic(),
                            }
                        )
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}
        )

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/infobip/reports"

    def reports(self, message_id: str | None = None) -> list[dict]:
        with self._lock:
            every = [report for post in self.posts for report in post["body"]["results"]]
        return [report for report in every if message_id in (None, report["messageId"])]

    def posts_with(self, message_id: str) -> list[dict]:
        with self._lock:
            return [
                p
                for p in self.posts
                if any(r["messageId"] == message_id for r in p["body"]["results"])
            ]


@pytest.fixture
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def sim():
    with InfobipSimulator(FAST) as sim:
        yield sim


@pytest.fixture
def client(sim):
    headers = {"Authorization": f"App {API_KEY}"}
    with httpx.Client(base_url=sim.base_url, headers=headers, timeout=5, verify=TLS) as client:
        yield client


def sms(
    *destinations: tuple[str, str], webhook: str | None = None, text: str = "Hello", **message
) -> dict:
    """A send request body: one message to (to, messageId) destinations."""
    body = {
        "destinations": [{"to": to, "messageId": message_id} for to, message_id in destinations],
        "content": {"text": text},
        **message,
    }
    if webhook:
        body["webhooks"] = {"delivery": {"url": webhook}, "callbackData": "cb-1"}
    return {"messages": [body]}


def send(client: httpx.Client, *destinations: tuple[str, str], **kwargs) -> httpx.Response:
    return client.post("/sms/3/messages", json=sms(*destinations, **kwargs))


# ---------------------------------------------------------------- authentication and validation


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "App wrong-key"}, {"Authorization": API_KEY}]
)
def test_a_request_without_the_right_api_key_is_refused_401(sim, headers):
    response = httpx.post(
        f"{sim.base_url}/sms/3/messages", json=sms((number("99"), "m1")), headers=headers
    )

    assert response.status_code == 401
    assert response.json()["errorCode"] == "E401"
    assert sim.sent_message_ids() == []


def test_an_invalid_body_is_refused_400_naming_each_violation(client, sim):
    body = {
        "messages": [
            {"destinations": [{"to": "+385912345699"}, {"to": "385"}], "content": {"text": ""}},
            {"destinations": [], "content": {"text": "hi"}},
            {
                "destinations": [{"to": number("99"), "messageId": "x" * 201}],
                "content": {"text": "hi"},
            },
        ]
    }
    response = client.post("/sms/3/messages", json=body)

    assert response.status_code == 400
    error = response.json()
    assert error["errorCode"] == "E400"
    assert error["description"] == "Request cannot be processed."
    assert {v["property"] for v in error["violations"]} == {
        "messages[0].content.text",
        "messages[0].destinations[0].to",
        "messages[0].destinations[1].to",
        "messages[1].destinations",
        "messages[2].destinations[0].messageId",
    }
    assert sim.sent_message_ids() == []


@pytest.mark.parametrize("body", [{}, {"messages": []}, []])
def test_a_request_without_messages_is_refused_400(client, body):
    response = client.post("/sms/3/messages", json=body)

    assert response.status_code == 400
    assert response.json()["violations"]


def test_a_body_that_is_not_json_is_refused_400(client, sim):
    response = client.post(
        "/sms/3/messages", content=b"to=385912345699", headers={"Content-Type": "text/plain"}
    )

    assert response.status_code == 400
    assert response.json()["errorCode"] == "E400"
    assert sim.requests[-1].body is None and sim.requests[-1].status == 400


# ---------------------------------------------------------------- the magic numbers

# suffix: (send status, [(report status, error name, error permanent), ...] in posting order)
DELIVERED = ("DELIVERED_TO_HANDSET", "NO_ERROR", False)
PENDING = ("PENDING_ENROUTE", "NO_ERROR", False)
MAGIC = {
    "10": ("PENDING_ACCEPTED", [PENDING, DELIVERED]),
    "20": ("PENDING_ACCEPTED", [("REJECTED_NETWORK", "NO_ERROR", False)]),
    "21": ("REJECTED_DESTINATION", []),
    "30": (
        "PENDING_ACCEPTED",
        [("UNDELIVERABLE_NOT_DELIVERED", "EC_UNIDENTIFIED_SUBSCRIBER", True)],
    ),
    "31": ("PENDING_ACCEPTED", [("UNDELIVERABLE_NOT_DELIVERED", "EC_ABSENT_SUBSCRIBER_SM", False)]),
    "40": ("PENDING_ACCEPTED", [("EXPIRED_EXPIRED", "EC_ValidityExpired", False)]),
    "50": ("PENDING_ACCEPTED", [DELIVERED, DELIVERED]),
    "60": ("PENDING_ACCEPTED", [DELIVERED, PENDING]),
    "70": ("PENDING_ACCEPTED", []),
    "99": ("PENDING_ACCEPTED", [DELIVERED]),
}


@pytest.mark.parametrize("suffix", MAGIC)
def test_each_magic_number_gets_its_documented_answer_and_reports(client, sim, receiver, suffix):
    send_status, expected_reports = MAGIC[suffix]
    to = number(suffix)

    response = send(client, (to, f"msg-{suffix}"), webhook=receiver.url, sender="Shop")

    assert response.status_code == 200
    [answer] = response.json()["messages"]
    assert (answer["messageId"], answer["destination"], answer["status"]["name"]) == (
        f"msg-{suffix}",
        to,
        send_status,
    )
    assert sim.wait_until_idle(5)
    reports = receiver.reports(f"msg-{suffix}")
    assert [
        (r["status"]["name"], r["error"]["name"], r["error"]["permanent"]) for r in reports
    ] == expected_reports
    for report in reports:
        assert (report["to"], report["sender"], report["callbackData"]) == (to, "Shop", "cb-1")
        assert report["bulkId"] == response.json()["bulkId"]
    # Reports of one message never share a POST: duplicates and out-of-order ones come separately.
    assert len(receiver.posts_with(f"msg-{suffix}")) == len(expected_reports)


def test_a_failed_report_carries_infobips_error_details(client, sim, receiver):
    send(client, (number("30"), "m30"), webhook=receiver.url)
    assert sim.wait_until_idle(5)

    [report] = receiver.reports("m30")
    assert report["status"] == {
        "groupId": 2,
        "groupName": "UNDELIVERABLE",
        "id": 9,
        "name": "UNDELIVERABLE_NOT_DELIVERED",
        "description": "Message sent not delivered",
    }
    assert report["error"] == {
        "groupId": 1,
        "groupName": "HANDSET_ERRORS",
        "id": 5,
        "name": "EC_UNIDENTIFIED_SUBSCRIBER",
        "description": "The number does not exist or it has not been assigned to any active "
        "subscriber in the operator's user database.",
        "permanent": True,
    }


def test_the_delivered_report_is_timed_and_priced(client, sim, receiver):
    text = "x" * 161  # two GSM-7 parts
    before = datetime.now().astimezone()
    send(client, (number("99"), "m1"), webhook=receiver.url, text=text)
    assert sim.wait_until_idle(5)

    [report] = receiver.reports("m1")
    sent_at, done_at = parse_time(report["sentAt"]), parse_time(report["doneAt"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", report["doneAt"])
    assert before - timedelta(seconds=1) <= sent_at < done_at <= sent_at + timedelta(minutes=1)
    assert report["messageCount"] == 2
    assert report["price"] == {
        "pricePerMessage": pytest.approx(FAST.price_per_part),
        "currency": "EUR",
    }
    assert report["status"]["groupId"] == 3 and report["error"]["groupName"] == "OK"


def test_out_of_order_reports_come_final_first_then_an_older_pending(client, sim, receiver):
    send(client, (number("60"), "m60"), webhook=receiver.url)
    assert sim.wait_until_idle(5)

    first, second = receiver.reports("m60")
    assert (first["status"]["groupName"], second["status"]["groupName"]) == ("DELIVERED", "PENDING")
    assert parse_time(second["doneAt"]) < parse_time(first["doneAt"])


def test_a_duplicated_report_is_the_same_report_posted_twice(client, sim, receiver):
    send(client, (number("50"), "m50"), webhook=receiver.url)
    assert sim.wait_until_idle(5)

    first, second = receiver.reports("m50")
    assert first == second


def test_a_rejection_is_posted_at_once_not_after_the_report_delay(receiver):
    with InfobipSimulator(SimulatorConfig(api_key=API_KEY, report_delay=30)) as sim:
        headers = {"Authorization": f"App {API_KEY}"}
        body = sms(
            (number("20"), "rejected"), (number("99"), "delivered-later"), webhook=receiver.url
        )
        httpx.post(f"{sim.base_url}/sms/3/messages", json=body, headers=headers)

        deadline = time.monotonic() + 3
        while not receiver.reports() and time.monotonic() < deadline:
            time.sleep(0.02)

        assert [r["messageId"] for r in receiver.reports()] == ["rejected"]
        assert not sim.wait_until_idle(0)  # the delivered report is still 30 s away


def test_a_late_report_comes_after_the_late_delay_and_days_after_sending(client, sim, receiver):
    started = time.monotonic()
    send(client, (number("80"), "m80"), webhook=receiver.url)
    assert sim.wait_until_idle(5)

    [report] = receiver.reports("m80")
    [post] = receiver.posts
    assert post["at"] - started >= FAST.late_report_delay
    assert parse_time(report["doneAt"]) - parse_time(report["sentAt"]) == timedelta(days=5)
    assert report["status"]["name"] == "DELIVERED_TO_HANDSET"


@pytest.mark.parametrize("region", ["DE", "BR"])
def test_countries_without_delivery_reports_get_none(client, sim, receiver, region):
    to_pending_then_delivered, to_delivered = number("10", region), number("99", region)

    response = send(
        client, (to_pending_then_delivered, "a"), (to_delivered, "b"), webhook=receiver.url
    )

    assert [m["status"]["name"] for m in response.json()["messages"]] == ["PENDING_ACCEPTED"] * 2
    assert sim.wait_until_idle(5)
    assert receiver.reports() == []
    assert sim.sent_message_ids() == ["a", "b"]


def test_send_faults_still_apply_in_countries_without_reports(client, sim):
    assert send(client, (number("90", "DE"), "m")).status_code == 500
    assert send(client, (number("90", "DE"), "m")).status_code == 200


# ---------------------------------------------------------------- send faults


def test_a_500_once_then_accepted_on_retry(client, sim, receiver):
    first = send(client, (number("90"), "m90"), webhook=receiver.url)
    assert first.status_code == 500
    assert first.json()["errorCode"] == "E500"
    assert sim.sent_message_ids() == []

    retry = send(client, (number("90"), "m90"), webhook=receiver.url)
    assert retry.status_code == 200
    assert retry.json()["messages"][0]["status"]["name"] == "PENDING_ACCEPTED"
    assert sim.wait_until_idle(5)
    assert [r["status"]["name"] for r in receiver.reports("m90")] == ["DELIVERED_TO_HANDSET"]
    assert sim.sent_message_ids() == ["m90"]


def test_a_500_always(client, sim):
    for _ in range(3):
        assert send(client, (number("91"), "m91")).status_code == 500
    assert sim.sent_message_ids() == []


def test_a_429_once_then_accepted(client, sim):
    first = send(client, (number("92"), "m92"))
    assert first.status_code == 429
    assert first.json()["errorCode"] == "E429"

    assert send(client, (number("92"), "m92")).status_code == 200
    assert sim.sent_message_ids() == ["m92"]


def test_a_fault_takes_down_the_whole_request(client, sim):
    response = send(client, (number("99"), "innocent"), (number("90"), "faulty"))

    assert response.status_code == 500
    assert sim.sent_message_ids() == []


def test_a_slow_answer_is_still_accepted_and_the_retry_is_a_duplicate(client, sim, receiver):
    with pytest.raises(httpx.TimeoutException):
        client.post(
            "/sms/3/messages", json=sms((number("93"), "m93"), webhook=receiver.url), timeout=0.1
        )

    started = time.monotonic()
    retry = send(client, (number("93"), "m93"), webhook=receiver.url)
    assert time.monotonic() - started < FAST.slow_answer_seconds
    assert retry.json()["messages"][0]["status"]["name"] == "REJECTED_DUPLICATE_MESSAGE_ID"
    assert sim.sent_message_ids() == ["m93"]
    assert sim.wait_until_idle(5)
    assert len(receiver.reports("m93")) == 1


def test_a_slow_answer_answers_normally_when_the_client_waits(client, sim):
    started = time.monotonic()
    response = send(client, (number("93"), "m93"))

    assert time.monotonic() - started >= FAST.slow_answer_seconds
    assert response.json()["messages"][0]["status"]["name"] == "PENDING_ACCEPTED"


def test_a_dropped_connection_once_really_drops_and_accepts_nothing(client, sim):
    with pytest.raises(httpx.RemoteProtocolError):
        send(client, (number("94"), "m94"))
    assert sim.sent_message_ids() == []
    assert sim.requests[-1].status is None

    assert send(client, (number("94"), "m94")).status_code == 200
    assert sim.sent_message_ids() == ["m94"]


def test_a_dropped_connection_always(client, sim):
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            send(client, (number("95"), "m95"))
    assert sim.sent_message_ids() == []


# ---------------------------------------------------------------- idempotency


def test_a_message_id_already_accepted_is_rejected_as_a_duplicate_and_not_sent_again(
    client, sim, receiver
):
    send(client, (number("99"), "once"), webhook=receiver.url)
    again = send(client, (number("99"), "once"), webhook=receiver.url)

    assert again.json()["messages"][0]["status"] == {
        "groupId": 5,
        "groupName": "REJECTED",
        "id": 23,
        "name": "REJECTED_DUPLICATE_MESSAGE_ID",
        "description": "Duplicate message ID rejected",
    }
    assert sim.wait_until_idle(5)
    assert sim.sent_message_ids() == ["once"]
    assert len(receiver.reports("once")) == 1


def test_a_destination_without_message_id_gets_a_generated_one(client, sim):
    response = client.post(
        "/sms/3/messages",
        json={"messages": [{"destinations": [{"to": number("99")}], "content": {"text": "hi"}}]},
    )

    [answer] = response.json()["messages"]
    assert answer["messageId"]
    assert sim.sent_message_ids() == [answer["messageId"]]


# ---------------------------------------------------------------- webhook delivery


def test_reports_are_batched_at_most_100_per_post(client, sim, receiver):
    destinations = [(number("99"), f"bulk-{i}") for i in range(250)]

    send(client, *destinations, webhook=receiver.url)

    assert sim.wait_until_idle(10)
    sizes = [len(post["body"]["results"]) for post in receiver.posts]
    assert sum(sizes) == 250 and max(sizes) <= 100 and len(sizes) >= 3
    assert sorted(r["messageId"] for r in receiver.reports()) == sorted(m for _, m in destinations)
    assert all(post["headers"]["Content-Type"] == "application/json" for post in receiver.posts)


def test_a_failed_webhook_post_is_retried(client, sim):
    with WebhookReceiver(fail_first=2) as receiver:
        send(client, (number("99"), "m1"), webhook=receiver.url)

        assert sim.wait_until_idle(5)
        assert [r["messageId"] for r in receiver.reports()] == ["m1"]
        assert receiver.attempts == 3
        assert (sim.webhook_failures, sim.reports_given_up) == (2, 0)


def test_a_webhook_that_keeps_failing_is_given_up_after_the_last_retry(client, sim):
    with WebhookReceiver(fail_first=100) as receiver:
        send(client, (number("99"), "m1"), webhook=receiver.url)

        assert sim.wait_until_idle(5)
        assert receiver.attempts == 1 + len(FAST.webhook_retry_delays)
        assert (sim.webhook_failures, sim.reports_given_up) == (4, 1)


def test_an_unreachable_webhook_counts_as_failed(client, sim):
    with WebhookReceiver() as receiver:
        gone = receiver.url
    send(client, (number("99"), "m1"), webhook=gone)

    assert sim.wait_until_idle(5)
    assert sim.reports_given_up == 1


def test_credentials_in_the_webhook_url_are_sent_as_basic_auth(client, sim, receiver):
    webhook = receiver.url.replace("http://", "http://infobip:s%40cret@")

    send(client, (number("99"), "m1"), webhook=webhook)

    assert sim.wait_until_idle(5)
    [post] = receiver.posts
    assert (
        post["headers"]["Authorization"] == "Basic " + base64.b64encode(b"infobip:s@cret").decode()
    )
    assert post["path"] == "/infobip/reports"


def test_notify_false_posts_nothing(client, sim, receiver):
    body = sms((number("99"), "quiet"))
    body["messages"][0]["webhooks"] = {"delivery": {"url": receiver.url, "notify": False}}

    client.post("/sms/3/messages", json=body)

    assert sim.wait_until_idle(5)
    assert receiver.posts == []


# ---------------------------------------------------------------- pulling reports, logs


def test_reports_without_a_webhook_are_pulled_once_only(client, sim):
    send(client, (number("99"), "p1"), (number("10"), "p2"), (number("70"), "p3"))
    assert sim.wait_until_idle(5)

    only_p2 = client.get("/sms/3/reports", params={"messageId": "p2", "limit": 1}).json()["results"]
    rest = client.get("/sms/3/reports").json()["results"]
    again = client.get("/sms/3/reports").json()["results"]

    assert [(r["messageId"], r["status"]["name"]) for r in only_p2] == [("p2", "PENDING_ENROUTE")]
    assert sorted((r["messageId"], r["status"]["name"]) for r in rest) == [
        ("p1", "DELIVERED_TO_HANDSET"),
        ("p2", "DELIVERED_TO_HANDSET"),
    ]
    assert again == []


def test_a_limit_over_1000_is_refused(client):
    assert client.get("/sms/3/reports", params={"limit": 1001}).status_code == 400
    assert client.get("/sms/3/logs", params={"limit": "many"}).status_code == 400


def test_logs_show_each_message_with_its_latest_status(client, sim, receiver):
    bulk_id = send(
        client,
        (number("60"), "l1"),
        (number("70"), "l2"),
        (number("21"), "l3"),
        webhook=receiver.url,
    ).json()["bulkId"]
    assert sim.wait_until_idle(5)

    logs = client.get("/sms/3/logs", params={"bulkId": bulk_id}).json()["results"]

    by_id = {log["messageId"]: log for log in logs}
    assert (
        by_id["l1"]["status"]["name"] == "DELIVERED_TO_HANDSET"
    )  # the older pending does not hide it
    assert by_id["l2"]["status"]["name"] == "PENDING_ACCEPTED" and "doneAt" not in by_id["l2"]
    assert by_id["l3"]["status"]["name"] == "REJECTED_DESTINATION"
    assert by_id["l1"]["content"] == {"text": "Hello"}
    assert client.get("/sms/3/logs", params={"messageId": "l2"}).json()["results"] == [by_id["l2"]]
    assert len(client.get("/sms/3/logs", params={"limit": 2}).json()["results"]) == 2


# ---------------------------------------------------------------- MMS


def mms(
    to: str, message_id: str, webhook: str, title: str = "Flash sale", segment_type: str = "TEXT"
) -> dict:
    return {
        "messages": [
            {
                "sender": "InfoMMS",
                "destinations": [{"to": to, "messageId": message_id}],
                "content": {
                    "title": title,
                    "messageSegments": [
                        {"type": segment_type, "text": "50% off today"},
                        {
                            "type": "LINK",
                            "contentUrl": "https://cdn.example/p.png",
                            "contentType": "image/png",
                        },
                    ],
                },
                "webhooks": {"delivery": {"url": webhook}},
            }
        ]
    }


def test_an_mms_is_accepted_and_reported_like_an_sms(client, sim, receiver):
    response = client.post("/mms/2/messages", json=mms(number("10"), "mms-1", receiver.url))

    assert response.status_code == 200
    [answer] = response.json()["messages"]
    assert (answer["status"]["name"], answer["details"]["messageCount"]) == ("PENDING_ACCEPTED", 1)
    assert sim.wait_until_idle(5)
    assert [r["status"]["name"] for r in receiver.reports("mms-1")] == [
        "PENDING_ENROUTE",
        "DELIVERED_TO_HANDSET",
    ]


def test_mms_reports_without_a_webhook_are_pulled_from_the_mms_endpoint(client, sim):
    body = mms(number("99"), "mms-pull", webhook="")
    del body["messages"][0]["webhooks"]
    client.post("/mms/2/messages", json=body)
    assert sim.wait_until_idle(5)

    assert client.get("/sms/3/reports").json()["results"] == []
    assert [r["messageId"] for r in client.get("/mms/2/reports").json()["results"]] == ["mms-pull"]


@pytest.mark.parametrize(
    ("title", "segment_type", "property"),
    [
        ("t" * 67, "TEXT", "messages[0].content.title"),
        ("ok", "VIDEO", "messages[0].content.messageSegments[0].type"),
    ],
)
def test_an_invalid_mms_is_refused_400(client, receiver, title, segment_type, property):
    response = client.post(
        "/mms/2/messages", json=mms(number("99"), "m", receiver.url, title, segment_type)
    )

    assert response.status_code == 400
    assert [v["property"] for v in response.json()["violations"]] == [property]


# ---------------------------------------------------------------- inbound SMS (replies)

SHOP_NUMBER = "385921004026"  # a numeric sender: customers can answer it


@pytest.fixture
def inbound():
    """A second receiver, standing for the inbound (MO) webhook."""
    with WebhookReceiver() as inbound:
        yield inbound


@pytest.fixture
def two_way(inbound):
    """A simulator that forwards inbound SMS to the `inbound` receiver."""
    config = replace(FAST, inbound_webhook_url=inbound.url, reply_delay=0.1)
    with InfobipSimulator(config) as sim:
        yield sim


def test_send_inbound_posts_infobips_shape_with_basic_auth_from_the_url(sim, inbound):
    url = inbound.url.replace("http://", "http://infobip:s%40cret@")
    before = datetime.now().astimezone()

    message_id = sim.send_inbound("+385 91 623 4693", SHOP_NUMBER, "stop  Sending me ads", url=url)

    assert sim.wait_until_idle(5)
    [post] = inbound.posts
    assert (
        post["headers"]["Authorization"] == "Basic " + base64.b64encode(b"infobip:s@cret").decode()
    )
    assert post["headers"]["Content-Type"] == "application/json"
    assert post["path"] == "/infobip/reports"
    body = post["body"]
    received_at = body["results"][0].pop("receivedAt")
    assert body == {
        "results": [
            {
                "messageId": message_id,
                "from": "385916234693",
                "to": SHOP_NUMBER,
                "text": "stop  Sending me ads",
                "cleanText": "Sending me ads",
                "keyword": "STOP",
                "smsCount": 1,
                "price": {"pricePerMessage": 0, "currency": "EUR"},
            }
        ],
        "messageCount": 1,
        "pendingMessageCount": 0,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", received_at)
    assert before - timedelta(seconds=1) <= parse_time(received_at) <= before + timedelta(seconds=5)


def test_send_inbound_uses_the_configured_inbound_webhook(two_way, inbound):
    first = two_way.send_inbound(number("99"), SHOP_NUMBER, "Hello")
    second = two_way.send_inbound(number("99"), SHOP_NUMBER, "Hello")

    assert two_way.wait_until_idle(5)
    assert first != second
    # One message per POST, each in its own envelope.
    assert [post["body"]["results"][0]["messageId"] for post in inbound.posts] == [first, second]
    assert all(post["body"]["messageCount"] == 1 for post in inbound.posts)


def test_send_inbound_needs_a_url_and_numbers(sim, inbound):
    with pytest.raises(ValueError, match="inbound webhook"):
        sim.send_inbound(number("99"), SHOP_NUMBER, "Hello")
    with pytest.raises(ValueError, match="from_number"):
        sim.send_inbound("Shop", SHOP_NUMBER, "Hello", url=inbound.url)
    with pytest.raises(RuntimeError):
        InfobipSimulator(FAST).send_inbound(number("99"), SHOP_NUMBER, "Hi", url=inbound.url)


def test_a_failed_inbound_post_is_retried_then_given_up(sim):
    with WebhookReceiver(fail_first=2) as flaky, WebhookReceiver(fail_first=100) as broken:
        retried = sim.send_inbound(number("99"), SHOP_NUMBER, "YES", url=flaky.url)
        sim.send_inbound(number("99"), SHOP_NUMBER, "YES", url=broken.url)

        assert sim.wait_until_idle(5)
        assert [m["messageId"] for m in flaky.reports()] == [retried]
        assert flaky.attempts == 3
        assert broken.attempts == 1 + len(FAST.webhook_retry_delays)
        assert (sim.webhook_failures, sim.reports_given_up) == (2 + 4, 1)


def test_the_same_inbound_message_can_be_posted_twice(two_way, inbound):
    for _ in range(2):
        assert two_way.send_inbound(number("99"), SHOP_NUMBER, "STOP", message_id="same") == "same"

    assert two_way.wait_until_idle(5)
    first, second = inbound.posts
    assert first["body"] == second["body"]  # the very same message, delivered again
    assert [m["messageId"] for m in inbound.reports()] == ["same", "same"]


# suffix: (reply text, keyword, cleanText)
REPLIES = {
    "85": ("STOP", "STOP", ""),
    "86": ("YES", "YES", ""),
    "87": ("9 great service", "9", "great service"),
    "88": ("I will not stop buying", "I", "will not stop buying"),
}


@pytest.mark.parametrize("suffix", REPLIES)
def test_reply_numbers_are_delivered_then_the_customer_replies(two_way, receiver, inbound, suffix):
    text, keyword, clean_text = REPLIES[suffix]
    to = number(suffix)
    headers = {"Authorization": f"App {API_KEY}"}
    with httpx.Client(base_url=two_way.base_url, headers=headers, verify=TLS) as client:
        send(client, (to, f"ask-{suffix}"), webhook=receiver.url, sender="+" + SHOP_NUMBER)

    assert two_way.wait_until_idle(5)  # waits for the reply too
    [report] = receiver.reports(f"ask-{suffix}")
    assert report["status"]["name"] == "DELIVERED_TO_HANDSET"
    [reply] = inbound.reports()
    assert (reply["from"], reply["to"]) == (to, SHOP_NUMBER)  # the customer answers the sender
    assert (reply["text"], reply["keyword"], reply["cleanText"]) == (text, keyword, clean_text)
    assert reply["messageId"] != report["messageId"]
    assert parse_time(reply["receivedAt"]) > parse_time(report["doneAt"])
    [report_post], [reply_post] = receiver.posts, inbound.posts
    assert reply_post["at"] - report_post["at"] >= two_way.config.reply_delay


def test_a_reply_comes_even_when_the_report_is_left_to_pull(two_way, inbound):
    headers = {"Authorization": f"App {API_KEY}"}
    with httpx.Client(base_url=two_way.base_url, headers=headers, verify=TLS) as client:
        send(client, (number("85"), "pulled"), sender=SHOP_NUMBER)

    assert two_way.wait_until_idle(5)
    assert [m["text"] for m in inbound.reports()] == ["STOP"]


@pytest.mark.parametrize(
    ("sender", "region"),
    [("Shop", "HR"), (None, "HR"), ("InfoSMS1", "HR"), (SHOP_NUMBER, "DE")],
    ids=["alphanumeric", "no sender", "letters and digits", "country without reports"],
)
def test_no_reply_to_a_sender_that_cannot_be_answered(two_way, inbound, receiver, sender, region):
    headers = {"Authorization": f"App {API_KEY}"}
    extra = {"sender": sender} if sender else {}
    with httpx.Client(base_url=two_way.base_url, headers=headers, verify=TLS) as client:
        send(client, (number("85", region), "m"), webhook=receiver.url, **extra)

    assert two_way.wait_until_idle(5)
    assert inbound.posts == []
    if region == "HR":
        assert [r["status"]["name"] for r in receiver.reports()] == ["DELIVERED_TO_HANDSET"]


def test_no_reply_without_an_inbound_webhook_until_one_is_set(client, sim, receiver, inbound):
    send(client, (number("86"), "before"), webhook=receiver.url, sender=SHOP_NUMBER)
    assert sim.wait_until_idle(5)
    assert [r["status"]["name"] for r in receiver.reports()] == ["DELIVERED_TO_HANDSET"]

    sim.config = replace(sim.config, inbound_webhook_url=inbound.url)
    send(client, (number("86"), "after"), webhook=receiver.url, sender=SHOP_NUMBER)

    assert sim.wait_until_idle(5)
    assert [m["text"] for m in inbound.reports()] == ["YES"]


# ---------------------------------------------------------------- lifecycle


def test_stopping_ends_every_thread_even_with_a_keep_alive_connection_open(receiver):
    before = set(threading.enumerate())
    sim = InfobipSimulator(FAST).start()
    client = httpx.Client(base_url=sim.base_url, headers={"Authorization": f"App {API_KEY}"})
    send(client, (number("80"), "pending-when-stopped"), webhook=receiver.url)

    started = time.monotonic()
    sim.stop()

    assert time.monotonic() - started < 2
    # The test's own webhook receiver may still be finishing a handler thread of its
    # own; give it a moment, then nothing may be left.
    deadline = time.monotonic() + 2
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()
    client.close()


def test_stopping_cuts_a_slow_answer_short():
    sim = InfobipSimulator(SimulatorConfig(api_key=API_KEY, slow_answer_seconds=30)).start()
    result: list = []

    def slow_send() -> None:
        with httpx.Client(
            base_url=sim.base_url, headers={"Authorization": f"App {API_KEY}"}
        ) as client:
            try:
                result.append(send(client, (number("93"), "slow")).status_code)
            except httpx.HTTPError as error:
                result.append(error)

    sender = threading.Thread(target=slow_send)
    sender.start()
    while not sim.sent_message_ids():
        time.sleep(0.01)
    started = time.monotonic()
    sim.stop()
    sender.join(5)

    assert time.monotonic() - started < 2
    assert result  # answered or cut, but not left hanging


def test_run_simulator_serves_until_told_to_stop():
    stop, output = threading.Event(), io.StringIO()

    def serve() -> None:
        with redirect_stdout(output):
            run_simulator("127.0.0.1", 0, "cli-key", stop=stop)

    server = threading.Thread(target=serve)
    server.start()
    try:
        deadline = time.monotonic() + 5
        while "http://" not in output.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        base_url = re.search(r"http://\S+", output.getvalue()).group(0)
        headers = {"Authorization": "App cli-key"}
        response = httpx.post(
            f"{base_url}/sms/3/messages", json=sms((number("99"), "m")), headers=headers
        )
        assert response.status_code == 200
    finally:
        stop.set()
        server.join(5)
    assert not server.is_alive()
