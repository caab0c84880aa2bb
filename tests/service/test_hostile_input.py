"""Hostile input at Infobip's webhooks, over real HTTP on loopback, on SQLite and on
PostgreSQL: one unreadable item never costs its neighbours. Each bad item sits beside
a good one; the good one is stored (the message's status changes, the inbound SMS is
kept), the bad one is quarantined with its reason, and the answer is 200. A body that
cannot be read at all is 400; a value the database refuses is never "store
unavailable" (503, which Infobip would retry for ever); nothing answers 500.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import httpx
import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.adapters.runtime.config import load_settings
from service.conftest import SIMULATOR_KEY, Service, configure_infobip
from support.postgres import POSTGRES_URL, connect
from support.wiring import ledger_of

NO_REPORT = "+385921230070"  # the simulator never reports on numbers ending in 70
DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"}
_numbers = count(1)


@dataclass
class Hostile:
    service: Service
    store: str  # "sqlite" or "postgres"
    secret: str  # acme's webhook secret
    admin: httpx.Client  # acme's admin


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hostile(request, tmp_path_factory) -> Iterator[Hostile]:
    """One service per store for the module (each case uses ids of its own)."""
    if request.param == "postgres":
        url = request.getfixturevalue("module_postgres_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('hostile')}/store.db"
    settings = load_settings(database_url=url, secret_key="hostile-tests-0123456789abcdef",
                             max_body_bytes=256 * 1024, allow_private_networks=True)
    config = SimulatorConfig(api_key=SIMULATOR_KEY, report_delay=0.05)
    with InfobipSimulator(config) as simulator, BackgroundServer() as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        try:
            server.start(create_app(ServiceContext.serving(channel, server.url, settings)))
            service = Service(server.url, ledger_of(channel), simulator,
                              channel.projects.create_project("acme"))
            with service.client(service.admin_token) as admin:
                secret = configure_infobip(admin, simulator)["webhooks"]["secret"]
                yield Hostile(service, request.param, secret, admin)
        finally:
            server.stop()
            channel.close()


@pytest.fixture(scope="module")
def module_postgres_url(postgres_available) -> Iterator[str]:
    schema = "t_" + uuid.uuid4().hex[:16]
    with connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{POSTGRES_URL}?schema={schema}"
    with connect() as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def post(hostile: Hostile, kind: str, body: str) -> httpx.Response:
    """A body written by hand: JSON escapes such as \\udc00 go over the wire as sent."""
    return httpx.post(f"{hostile.service.url}/v1/webhooks/infobip/acme/infobip/{kind}",
                      content=body.encode(), auth=("infobip", hostile.secret),
                      headers={"content-type": "application/json"}, timeout=30)


def kept(hostile: Hostile, source: str, marker: str) -> list[dict]:
    """The quarantined items of this source whose kept text holds `marker`."""
    kept = [entry for entry in hostile.service.ledger.quarantined_inputs("acme")
            if entry["source"] == source and marker in json.dumps(entry["raw"])]
    for entry in kept:  # what is kept can go out in any answer: valid UTF-8 JSON
        json.dumps(entry, ensure_ascii=False).encode("utf-8")
    return kept


# --- delivery reports -------------------------------------------------------------------

# The bad item of each case, as raw JSON text ({marker} makes it unique to the case).
BAD_REPORTS = {
    "lone surrogate in messageId": ('{"messageId": "\\udc00{marker}", "status": %s}',
                                    "messageId holds a lone surrogate"),
    "NUL in messageId": ('{"messageId": "a\\u0000{marker}", "status": %s}',
                         "messageId holds a NUL character"),
    "lone surrogate in a status text": (
        '{"messageId": "{marker}", "status": {"groupId": 3, "groupName": "DELIVERED", '
        '"description": "\\ud800"}}', "status.description holds a lone surrogate"),
    "NUL in an error name": ('{"messageId": "{marker}", "status": %s, '
                             '"error": {"id": 0, "name": "NO\\u0000ERROR"}}',
                             "error.name holds a NUL character"),
    "lone surrogate in a key": ('{"messageId": "{marker}", "status": %s, "\\udfff": 1}',
                                "a key with a lone surrogate"),
    "5,000-digit integer": ('{"messageId": "{marker}", "status": %s, "messageCount": '
                            + "9" * 5000 + "}", "messageCount holds an integer of 5000 digits"),
    "messageCount 10^400": ('{"messageId": "{marker}", "status": %s, "messageCount": 1'
                            + "0" * 400 + "}", "messageCount holds an integer of 401 digits"),
    "messageCount 2^63": ('{"messageId": "{marker}", "status": %s, '
                          '"messageCount": 9223372036854775808}',  # no PostgreSQL bigint
                          "messageCount holds an integer beyond 64 bits"),
    "messageCount of 100 digits in a string": (
        '{"messageId": "{marker}", "status": %s, "messageCount": "' + "9" * 100 + '"}',
        "parts holds an integer beyond 64 bits"),
    "messageCount 1e400": ('{"messageId": "{marker}", "status": %s, "messageCount": 1e400}',
                           "messageCount holds a number that is not finite"),
    "nesting 300 deep": ('{"messageId": "{marker}", "status": %s, "extra": '
                         + "[" * 300 + "]" * 300 + "}", "nesting deeper than 16 levels"),
    "a 20,000-character messageId": ('{"messageId": "{marker}' + "x" * 20_000
                                     + '", "status": %s}', "a string of 20"),
    "a 1,000-character messageId": ('{"messageId": "{marker}' + "x" * 1_000
                                    + '", "status": %s}', "longer than 256 characters"),
}


@pytest.mark.parametrize("case", BAD_REPORTS)
def test_a_bad_report_is_quarantined_and_the_good_one_beside_it_applied(hostile, case):
    admin = hostile.admin
    sent = admin.post("/v1/projects/acme/messages", json={
        "customer_id": "c1", "to": NO_REPORT, "text": "Spring sale", "campaign_id": "spring"})
    assert sent.status_code == 202, sent.text
    message_id = sent.json()["message_id"]
    template, reason = BAD_REPORTS[case]
    marker = f"bad-report-{next(_numbers)}"
    good = json.dumps({"messageId": message_id, "status": DELIVERED})
    bad = template.replace("{marker}", marker).replace("%s", json.dumps(DELIVERED))

    answer = post(hostile, "delivery-reports", f'{{"results": [{bad}, {good}]}}')

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"applied": 1, "noted": 0, "parked": 0, "quarantined": 1}
    status = admin.get(f"/v1/projects/acme/messages/{message_id}").json()["status"]
    assert status == "delivered"
    (entry,) = kept(hostile, "infobip.delivery-report", marker)
    assert entry["reason"].startswith("results[0]: ") and reason in entry["reason"], entry

    # Infobip sends the same callback again: kept once, applied once.
    again = post(hostile, "delivery-reports", f'{{"results": [{bad}, {good}]}}')
    assert again.status_code == 200, again.text
    assert again.json()["applied"] == 0 and again.json()["noted"] == 1
    assert len(kept(hostile, "infobip.delivery-report", marker)) == 1


# --- inbound SMS ------------------------------------------------------------------------

# The bad item's field of each case, as raw JSON text.
BAD_INBOUND = {
    "lone surrogate in the text": ("text", '"hi \\udc00"', "text holds a lone surrogate"),
    "NUL in from": ("from", '"38592\\u00001230071"', "from holds a NUL character"),
    "smsCount 10^400": ("smsCount", "1" + "0" * 400, "smsCount holds an integer of 401 digits"),
    "smsCount of 100 digits in a string": ("smsCount", '"' + "9" * 100 + '"',
                                           "parts holds an integer beyond 64 bits"),
    "a 1,000-character from": ("from", '"' + "1" * 1_000 + '"',
                               "'from' is longer than 256 characters"),
    "a keyword that is no text": ("keyword", '["STOP"]', "'keyword' must be a string"),
}


def inbound_sms(message_id: str, field: str | None = None, raw: str = "") -> str:
    fields = {"messageId": message_id, "from": "385921230071", "to": "385991234567",
              "text": "hello there", "smsCount": 1}
    text = json.dumps({key: value for key, value in fields.items() if key != field})
    return text[:-1] + f', "{field}": {raw}}}' if field else text


@pytest.mark.parametrize("case", BAD_INBOUND)
def test_a_bad_inbound_sms_is_quarantined_and_the_good_one_beside_it_kept(hostile, case):
    number = next(_numbers)
    marker = f"bad-inbound-{number}"
    field, raw, reason = BAD_INBOUND[case]
    good = inbound_sms(f"good-inbound-{number}")
    bad = inbound_sms(marker, field, raw)

    answer = post(hostile, "inbound", f'{{"results": [{good}, {bad}]}}')

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 1, "duplicates": 0, "quarantined": 1}
    (entry,) = kept(hostile, "infobip.inbound", marker)
    assert entry["reason"].startswith("results[1]: ") and reason in entry["reason"], entry
    # The good one was stored: sent again, it is a duplicate.
    again = post(hostile, "inbound", f'{{"results": [{good}]}}')
    assert again.json() == {"received": 0, "duplicates": 1, "quarantined": 0}


# --- bodies that cannot be read at all ----------------------------------------------------

@pytest.mark.parametrize("kind", ["delivery-reports", "inbound"])
@pytest.mark.parametrize("body", [
    '{"results": [' + "[" * 100_000 + "]" * 100_000 + "]}",
    "[" * 100_000,
    '{"results": [1, 2,',
], ids=["nested 100,000 deep", "100,000 open brackets", "cut short"])
def test_a_body_that_cannot_be_read_is_400_with_the_reason(hostile, kind, body):
    answer = post(hostile, kind, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid_callback"
    assert answer.json()["error"]["message"].startswith("body is not JSON")


# --- a value the database refuses is not "store unavailable" ----------------------------

def test_a_value_the_database_refuses_is_422_not_503(hostile):
    """PostgreSQL text cannot hold NUL: a lookup with one was answered 503 ("retry
    later"), as if the store were down. SQLite holds NUL: there is no such campaign."""
    answer = hostile.admin.get("/v1/projects/acme/campaigns/spr%00ing/audit")
    if hostile.store == "postgres":
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] == "unstorable_input"
        assert "NUL" not in answer.text  # the database's message is not passed on
    else:
        assert answer.status_code == 404, answer.text
