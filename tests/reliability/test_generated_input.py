"""Bad input, generated: Schemathesis writes requests from the service's own
/openapi.json, valid and invalid, and sends them over real HTTP to a served instance
(SQLite, an Infobip integration against the in-test simulator).

Promises checked ("Hostile input at the webhooks" and "A typo gets an error" in the
README's Reliability section; the one error shape of "The HTTP service"):
- no input answers 5xx (`not_a_server_error`): a client's mistake is a clear 4xx;
- every answer is one the document declares for that operation
  (`status_code_conformance`), with the declared content type (`content_type_conformance`)
  and a body of the declared shape (`response_schema_conformance`), so a client generated
  from the document can read every answer, errors included.

Client endpoints are called with acme's admin token, the webhooks with the integration's
Basic credentials. `project_id` is acme's (another project's id is 404 before anything
else, which would leave the rest of each path untried), and numbers are often ones the
simulator knows (a generated string is rarely a valid phone number). The document gives
the webhooks no body (Infobip's, read raw), so their bodies come from a strategy here:
report- and inbound-shaped JSON with hostile values, some items naming stored messages.
The run is bounded (CLIENT_EXAMPLES, WEBHOOK_EXAMPLES per operation, no shrinking) and
random: each run tries other inputs, and a failure prints the request to reproduce it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import checks

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.adapters.runtime.config import load_settings
from service.conftest import SIMULATOR_KEY, configure_infobip

# Examples per operation; webhook calls are cheap and their bodies the most varied.
CLIENT_EXAMPLES, WEBHOOK_EXAMPLES = 25, 100

# The checks of the brief, by the names the installed Schemathesis gives them.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]

# Numbers the simulator knows by their last two digits: no report, delivered after
# pending, failed, a STOP reply, a slow first answer, a 500 always, a dropped connection
# always; and Germany, which never reports.
NUMBERS = ["+385921230070", "+385921234510", "+385921234530", "+385921234585",
           "+385921234593", "+385921234591", "+385921234595", "+4915112345678"]
# Messages the `served` fixture sends under these ids, for reports to name.
STORED_MESSAGES = [f"generated-{n}" for n in range(5)]


@dataclass(frozen=True)
class Served:
    url: str
    admin_token: str
    webhook_secret: str


def _document() -> dict[str, Any]:
    """The document the service serves at /openapi.json, built as it builds it (the
    parametrization needs it before any fixture runs; `served` checks it is the same)."""
    settings = load_settings(database_url="memory://", secret_key="generated-0123456789abcdef")
    channel = bootstrap(settings=settings, public_url="http://127.0.0.1:9")
    try:
        return create_app(ServiceContext.serving(channel, "http://127.0.0.1:9", settings)).openapi()
    finally:
        channel.close()


DOCUMENT = _document()


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    """One service for the module, on SQLite, its Infobip integration on the simulator."""
    url = f"sqlite:///{tmp_path_factory.mktemp('generated')}/store.db"
    settings = load_settings(database_url=url, secret_key="generated-tests-0123456789abcdef",
                             allow_private_networks=True)
    # A generated send may go to a number ending in 93 (a slow first answer): keep it short.
    config = SimulatorConfig(api_key=SIMULATOR_KEY, report_delay=0.05, slow_answer_seconds=0.2)
    with InfobipSimulator(config) as simulator, BackgroundServer() as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        try:
            server.start(create_app(ServiceContext.serving(channel, server.url, settings)))
            token = channel.projects.create_project("acme")
            with httpx.Client(base_url=server.url, timeout=30,
                              headers={"Authorization": f"Bearer {token}"}) as admin:
                assert admin.get("/openapi.json").json() == DOCUMENT
                secret = configure_infobip(admin, simulator)["webhooks"]["secret"]
                for message_id in STORED_MESSAGES:
                    sent = admin.post("/v1/projects/acme/messages", json={
                        "customer_id": "c1", "to": NUMBERS[0], "text": "Spring sale",
                        "campaign_id": "spring", "message_id": message_id})
                    assert sent.status_code == 202, sent.text
            yield Served(server.url, token, secret)
        finally:
            server.stop()
            channel.close()


def _schema(fixed: dict[str, Any], examples: int) -> Any:
    often = {"dictionary": "numbers", "probability": 0.5}
    config = schemathesis.Config.from_dict({
        "generation": {"max-examples": examples, "mode": "all",
                       "no-shrink": True},
        "phases": {"stateful": {"enabled": False}},
        "dictionaries": {"numbers": {"values": NUMBERS + [n[1:] for n in NUMBERS]}},
        "parameters": {"path.number": often, "body.to": often,
                       "body.messages[*].to": often, **fixed},
    })
    return schemathesis.openapi.from_dict(DOCUMENT, config=config)


# The webhooks of acme's integration `infobip`, with its own credentials.
webhooks = _schema({"project_id": "acme", "integration_id": "infobip"}, WEBHOOK_EXAMPLES).include(
    path_regex="^/v1/webhooks/")
# The client API and operations; integration ids are generated (new integrations), so
# the `infobip` integration and its webhook secret stay as they are.
client_api = _schema({"project_id": "acme"}, CLIENT_EXAMPLES).exclude(
    path_regex="^/v1/webhooks/")


# --- webhook bodies -----------------------------------------------------------------------

# Any JSON value, with what JSON can say but PostgreSQL, UTF-8 or a 64-bit integer cannot
# hold: lone surrogates and NULs in text (keys too), integers of any size, non-finite floats.
_text = st.text(st.characters(codec=None, categories=None), max_size=12) | st.sampled_from(
    ["", "\x00", "\ud800", "a\udfffb", "9" * 300])
_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 2)
            | st.floats() | _text)
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_text, inner, max_size=3), max_leaves=8)
_message_id = st.sampled_from(STORED_MESSAGES) | _text | _json
_status = st.fixed_dictionaries({
    "groupId": st.sampled_from([1, 2, 3, 4, 5]) | _json,
    "groupName": st.sampled_from(["PENDING", "UNDELIVERABLE", "DELIVERED", "EXPIRED",
                                  "REJECTED"]) | _json},
    optional={"id": st.integers(0, 30) | _json, "name": _text, "description": _json}) | _json
_report = st.fixed_dictionaries({"messageId": _message_id, "status": _status}, optional={
    "doneAt": st.sampled_from(["2026-11-09T16:00:03.000+0000"]) | _json,
    "sentAt": _json, "messageCount": st.integers(0, 3) | _json, "to": _json,
    "error": _json, "price": _json, "callbackData": _json, "smsCount": _json}) | _json
_inbound = st.fixed_dictionaries({
    "messageId": _message_id, "from": st.sampled_from(NUMBERS) | _json,
    "to": st.sampled_from(["385991234567"]) | _json, "text": _text | _json}, optional={
    "cleanText": _json, "keyword": _json, "receivedAt": _json, "smsCount": _json}) | _json


def _body(item: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """A callback of such items (or any JSON at all), as Infobip would send it: escaped
    ASCII, or UTF-8 with lone surrogates passed through as the invalid bytes they are."""
    payload = st.fixed_dictionaries({"results": st.lists(item, max_size=4)}) | _json
    return st.builds(
        lambda value, ascii_only: json.dumps(value, ensure_ascii=ascii_only).encode(
            "utf-8", "surrogatepass"), payload, st.booleans())


BODIES = {"delivery-reports": _body(_report), "inbound": _body(_inbound)}


@webhooks.parametrize()
@webhooks.given(data=st.data())
def test_generated_webhook_calls_get_declared_answers_and_never_5xx(case, data, served):
    """No body at a webhook answers 5xx; every answer is as the document declares."""
    body = data.draw(BODIES[case.operation.path.rsplit("/", 1)[-1]])
    case.call_and_validate(base_url=served.url, checks=CHECKS, data=body,
                           headers={"Content-Type": "application/json"},
                           auth=("infobip", served.webhook_secret))


@client_api.parametrize()
def test_generated_client_calls_get_declared_answers_and_never_5xx(case, served):
    """No input at the client API answers 5xx; every answer is as the document declares."""
    case.call_and_validate(base_url=served.url, checks=CHECKS,
                           headers={"Authorization": f"Bearer {served.admin_token}"})
