"""The service's rules, each proven over real HTTP on loopback: 401 without valid
credentials, 403 for a member's admin change, 404 for anything of another project,
413 above the body limit, 422 naming the invalid field, 400 for unreadable webhook
bodies, secrets never returned or logged, tokens random and stored hashed, a request
id on every answer, and 503 while the store is down (so Infobip retries).

The matrices over every endpoint run against one service per store (`world`, set up
once per module); tests that count what was stored get a service of their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import statistics
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from support.postgres import POSTGRES_URL, connect
from service.conftest import SIMULATOR_KEY, Service, configure_infobip
from support.wiring import ledger_of

MAX_BODY = 64 * 1024
NO_REPORT = "+385921230070"  # the simulator never reports on numbers ending in 70
DELIVERED = "+385921230000"  # ... and reports these delivered

# --- every client endpoint, as the OpenAPI document names it ---------------------------

CLIENT_ENDPOINTS = [
    ("PUT", "/v1/projects/{project_id}/integrations/{integration_id}"),
    ("GET", "/v1/projects/{project_id}/integrations"),
    ("PUT", "/v1/projects/{project_id}/channels/sms"),
    ("PUT", "/v1/projects/{project_id}/campaign-event-mapping"),
    ("GET", "/v1/projects/{project_id}/settings/history"),
    ("GET", "/v1/projects/{project_id}/tokens"),
    ("DELETE", "/v1/projects/{project_id}/tokens/{token_id}"),
    ("POST", "/v1/projects/{project_id}/messages"),
    ("POST", "/v1/projects/{project_id}/messages/batch"),
    ("GET", "/v1/projects/{project_id}/messages/{message_id}"),
    ("GET", "/v1/projects/{project_id}/events"),
    ("GET", "/v1/projects/{project_id}/campaigns/{campaign_id}/audit"),
    ("GET", "/v1/projects/{project_id}/campaigns/{campaign_id}/report"),
    ("GET", "/v1/projects/{project_id}/consents/{number}"),
    ("GET", "/v1/projects/{project_id}/consents/{number}/{category}"),
    ("PUT", "/v1/projects/{project_id}/consents/{number}/{category}"),
    ("POST", "/v1/projects/{project_id}/consents/{number}/{category}/double-opt-in"),
    ("GET", "/v1/projects/{project_id}/keywords"),
    ("PUT", "/v1/projects/{project_id}/keywords/{keyword}"),
    ("DELETE", "/v1/projects/{project_id}/keywords/{keyword}"),
    ("GET", "/v1/projects/{project_id}/numbers/{number}"),
    ("POST", "/v1/projects/{project_id}/numbers/{number}/revalidate"),
    ("PUT", "/v1/projects/{project_id}/campaigns/{campaign_id}/nps"),
    ("GET", "/v1/projects/{project_id}/subscriptions"),
    ("PUT", "/v1/projects/{project_id}/subscriptions/{name}"),
    ("GET", "/v1/projects/{project_id}/subscriptions/{name}"),
    ("DELETE", "/v1/projects/{project_id}/subscriptions/{name}"),
    ("POST", "/v1/projects/{project_id}/subscriptions/{name}/rotate-secret"),
    ("POST", "/v1/projects/{project_id}/subscriptions/{name}/replay"),
]
ENDPOINT_IDS = [f"{method} {path.removeprefix('/v1/projects/{project_id}')}"
                for method, path in CLIENT_ENDPOINTS]
WEBHOOK_KINDS = ["delivery-reports", "inbound"]


def message(**changes) -> dict:
    return {"customer_id": "c1", "to": NO_REPORT, "text": "Spring sale", "campaign_id": "spring",
            **changes}


def integration_body(base_url: str, **changes) -> dict:
    return {"base_url": base_url, "api_key": SIMULATOR_KEY, "senders": ["AcmeShop"],
            "default_sender": "AcmeShop", **changes}


def valid_body(method: str, path: str, simulator_url: str) -> dict | None:
    """A body the endpoint would accept: only the credentials can be what is wrong."""
    if method in ("GET", "DELETE") or path.endswith("/revalidate"):
        return None
    return {
        "/integrations/{integration_id}": integration_body(simulator_url),
        "/channels/sms": {"default_provider": "infobip"},
        "/campaign-event-mapping": {"campaign": "sms_status"},
        "/messages": message(),
        "/messages/batch": {"messages": [message()]},
        "/consents/{number}/{category}": {"granted": True},
        "/consents/{number}/{category}/double-opt-in": {"customer_id": "c1"},
        "/keywords/{keyword}": {"action": "none", "answer": "Hi"},
        "/campaigns/{campaign_id}/nps": {"survey": True},
        "/subscriptions/{name}": {"url": "https://crm.example.com/hooks/sms"},
        "/subscriptions/{name}/rotate-secret": {},
        "/subscriptions/{name}/replay": {"after": "0"},
    }[path.removeprefix("/v1/projects/{project_id}")]


def concrete(path: str, project: str, message_id: str = "m-1") -> str:
    return path.format(project_id=project, integration_id="infobip", message_id=message_id,
                       campaign_id="spring", number="%2B385921230070", category="sms_marketing",
                       keyword="INFO", token_id="000000000000", name="crm")


def error_of(answer: httpx.Response) -> dict:
    """The error, after checking the one error shape every failure has."""
    body = answer.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)
    return body["error"]


def problems(answer: httpx.Response) -> list[tuple[str, str]]:
    """The error's invalid fields, (field, problem) each."""
    return [(p["field"], p["problem"]) for p in error_of(answer)["details"]["fields"]]


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def infobip_time(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def delivered_report(message_id: str, to: str = NO_REPORT) -> dict:
    now = infobip_time()
    return {"bulkId": "b-1", "messageId": message_id, "to": to.lstrip("+"), "sender": "AcmeShop",
            "sentAt": now, "doneAt": now, "messageCount": 1,
            "price": {"pricePerMessage": 0.0085, "currency": "EUR"},
            "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5,
                       "name": "DELIVERED_TO_HANDSET", "description": "Message delivered"},
            "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR",
                      "description": "No Error", "permanent": False}}


def inbound_sms(message_id: str, text: str = "hello there") -> dict:
    return {"messageId": message_id, "from": NO_REPORT.lstrip("+"), "to": "385991234567",
            "text": text, "cleanText": text.split(None, 1)[-1], "keyword": text.split()[0].upper(),
            "receivedAt": infobip_time(), "smsCount": 1,
            "price": {"pricePerMessage": 0, "currency": "EUR"}}


def stored(service: Service) -> tuple:
    """Where the stores stand: anything stored moves one of these."""
    return (service.ledger.recorder.max_notification_id(),
            service.ledger.projects.recorder.max_notification_id(),
            len(service.simulator.requests))


# --- the services ------------------------------------------------------------------------

@contextmanager
def running_service(database_url: str, config: SimulatorConfig | None = None,
                    secret_key: str = "http-tests-0123456789") -> Iterator[Service]:
    """The service as tests/service/conftest.py builds it, on the given store."""
    settings = load_settings(database_url=database_url, secret_key=secret_key,
                             max_body_bytes=MAX_BODY, allow_private_networks=True)
    config = config or SimulatorConfig(api_key=SIMULATOR_KEY, report_delay=0.05,
                                       late_report_delay=0.3)
    with InfobipSimulator(config) as simulator, BackgroundServer() as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        try:
            server.start(create_app(ServiceContext.serving(channel, server.url, settings)))
            admin_token = channel.projects.create_project("acme")
            yield Service(server.url, ledger_of(channel), simulator, admin_token)
        finally:
            server.stop()
            channel.close()


@dataclass
class World:
    """acme and globex, each with an Infobip integration; acme with a second one."""

    service: Service
    acme_member: str
    globex_admin: str
    globex_member: str
    acme_secret: str  # webhook secret of acme/infobip
    acme_second_secret: str  # ... of acme/second
    globex_secret: str  # ... of globex/infobip
    acme_message_id: str

    @property
    def url(self) -> str:
        return self.service.url

    def client(self, token: str | None = None) -> httpx.Client:
        return self.service.client(token)


@pytest.fixture
def anonymous(world) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=world.url) as client:
        yield client


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request, tmp_path_factory) -> Iterator[World]:
    schema = None
    if request.param == "postgres":
        request.getfixturevalue("postgres_available")
        schema = "t_" + uuid.uuid4().hex[:16]
        with connect() as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = f"{POSTGRES_URL}?schema={schema}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('rules')}/service.db"
    try:
        with running_service(url) as service:
            projects = service.ledger.projects
            with service.client(service.admin_token) as acme:
                acme_secret = configure_infobip(acme, service.simulator)["webhooks"]["secret"]
                second = acme.put("/v1/projects/acme/integrations/second",
                                  json=integration_body(service.simulator.base_url))
                assert second.status_code == 200, second.text
                sent = acme.post("/v1/projects/acme/messages", json=message())
                assert sent.status_code == 202, sent.text
            globex_admin = service.new_project("globex")
            with service.client(globex_admin) as globex:
                globex_secret = configure_infobip(globex, service.simulator,
                                                  "globex")["webhooks"]["secret"]
            yield World(service, acme_member=projects.issue_token("acme", "member"),
                        globex_admin=globex_admin,
                        globex_member=projects.issue_token("globex", "member"),
                        acme_secret=acme_secret,
                        acme_second_secret=second.json()["webhooks"]["secret"],
                        globex_secret=globex_secret,
                        acme_message_id=sent.json()["message_id"])
    finally:
        if schema:
            with connect() as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def acme(service) -> httpx.Client:
    """acme's admin, with its Infobip integration (the simulator) as default provider."""
    with service.client(service.admin_token) as client:
        service.webhook_secret = configure_infobip(client, service.simulator)["webhooks"]["secret"]
        yield client


def test_the_endpoint_lists_here_cover_every_endpoint_of_the_service(anonymous):
    document = anonymous.get("/openapi.json").json()
    served = {(method.upper(), path) for path, operations in document["paths"].items()
              for method in operations}
    client = {(m, p) for m, p in served if p.startswith("/v1/projects/")}
    webhooks = {(m, p) for m, p in served if p.startswith("/v1/webhooks/")}
    assert client == set(CLIENT_ENDPOINTS)
    assert webhooks == {("POST", f"/v1/webhooks/infobip/{{project_id}}/{{integration_id}}/{kind}")
                        for kind in WEBHOOK_KINDS}


# --- 401: missing or wrong credentials --------------------------------------------------

def bad_credentials(world: World) -> dict[str, dict[str, str]]:
    admin = world.service.admin_token
    prefix, token_id, secret = admin.split(".")
    _, globex_id, globex_secret = world.globex_admin.split(".")
    hashed = hashlib.sha256(secret.encode()).hexdigest()
    return {
        "no Authorization header": {},
        "empty Authorization header": {"Authorization": ""},
        "Bearer without a token": {"Authorization": "Bearer"},
        "the token without a scheme": {"Authorization": admin},
        "another scheme": {"Authorization": f"Token {admin}"},
        "Basic with the token": basic("acme", admin),
        "garbled token": {"Authorization": "Bearer !!not-a-token%%"},
        "a token of two parts": {"Authorization": f"Bearer {prefix}.{secret}"},
        "a token of four parts": {"Authorization": f"Bearer {admin}.x"},
        "the right token, one character short": {"Authorization": f"Bearer {admin[:-1]}"},
        "the right token id, a wrong secret": {
            "Authorization": f"Bearer {prefix}.{token_id}.{secrets.token_urlsafe(24)}"},
        "an unknown (revoked-looking) token id": {
            "Authorization": f"Bearer {prefix}.{secrets.token_hex(6)}.{secret}"},
        "acme's token claiming globex": {"Authorization": f"Bearer sml_globex.{token_id}.{secret}"},
        "globex's token claiming acme": {
            "Authorization": f"Bearer sml_acme.{globex_id}.{globex_secret}"},
        "a token of a project that does not exist": {
            "Authorization": f"Bearer sml_nope.{token_id}.{secret}"},
        "the token hash instead of the secret": {
            "Authorization": f"Bearer {prefix}.{token_id}.{hashed}"},
    }


@pytest.mark.parametrize(("method", "path"), CLIENT_ENDPOINTS, ids=ENDPOINT_IDS)
def test_every_client_endpoint_answers_401_without_a_valid_bearer_token(world, method, path):
    url = concrete(path, "acme", world.acme_message_id)
    body = valid_body(method, path, world.service.simulator.base_url)
    before = stored(world.service)
    answers = {}
    with httpx.Client(base_url=world.url) as client:
        for case, headers in bad_credentials(world).items():
            answer = client.request(method, url, json=body, headers=headers)
            assert answer.status_code == 401, (case, answer.text)
            assert error_of(answer)["code"] == "unauthorized", case
            assert answer.headers["www-authenticate"].lower().startswith("bearer"), case
            answers[case] = answer.json()
    # One answer for every way of being wrong: nothing tells which part was wrong.
    assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1
    assert stored(world.service) == before


@pytest.mark.parametrize(("method", "path"), [
    (m, p) for m, p in CLIENT_ENDPOINTS if m in ("PUT", "POST")])
def test_a_body_that_breaks_the_schema_still_gets_401_without_a_token(anonymous, method, path):
    answer = anonymous.request(method, concrete(path, "acme"), json={"unexpected": [1, 2, 3]})
    assert answer.status_code == 401, answer.text


@pytest.mark.parametrize("path", ["/v1/projects/acme/messages",
                                  "/v1/projects/acme/integrations/infobip"])
def test_a_body_that_is_not_json_still_gets_401_without_a_token(world, path):
    answer = httpx.request("PUT" if "integrations" in path else "POST", world.url + path,
                           content=b"{not json", headers={"content-type": "application/json"})
    assert answer.status_code == 401, answer.text


def test_a_body_that_is_not_json_with_another_projects_token_still_gets_404(world):
    answer = httpx.post(f"{world.url}/v1/projects/acme/messages", content=b"{not json",
                        headers={"content-type": "application/json",
                                 "Authorization": f"Bearer {world.globex_admin}"})
    assert answer.status_code == 404, answer.text


# --- webhooks: HTTP Basic with the integration's own secret ----------------------------

@pytest.mark.parametrize("kind", WEBHOOK_KINDS)
def test_a_webhook_answers_401_without_the_integrations_own_basic_credentials(
        world, anonymous, kind):
    url = f"/v1/webhooks/infobip/acme/infobip/{kind}"
    # Would be stored (parked or received) if it got through.
    body = {"results": [delivered_report("unknown-1") if kind == "delivery-reports"
                        else inbound_sms("in-401")]}
    admin = world.service.admin_token
    cases = {
        "no Authorization header": {},
        "wrong secret": basic("infobip", secrets.token_urlsafe(24)),
        "empty secret": basic("infobip", ""),
        "wrong user, right secret": basic("second", world.acme_secret),
        "the project as user": basic("acme", world.acme_secret),
        "secret of another integration": basic("infobip", world.acme_second_secret),
        "secret of another project's integration": basic("infobip", world.globex_secret),
        "secret with a character more": basic("infobip", world.acme_secret + "x"),
        "secret without its last character": basic("infobip", world.acme_secret[:-1]),
        "the admin's bearer token": {"Authorization": f"Bearer {admin}"},
        "the secret as bearer token": {"Authorization": f"Bearer {world.acme_secret}"},
    }
    before = stored(world.service)
    answers = []
    for case, headers in cases.items():
        answer = anonymous.post(url, json=body, headers=headers)
        assert answer.status_code == 401, (case, answer.text)
        assert error_of(answer)["code"] == "unauthorized"
        assert answer.headers["www-authenticate"].lower().startswith("basic"), case
        answers.append(answer.json())
    # acme's own credentials on another project's address, or on no project's.
    for other in ("globex/infobip", "nope/infobip", "acme/nope"):
        answer = anonymous.post(f"/v1/webhooks/infobip/{other}/{kind}", json=body,
                                headers=basic(other.split("/")[1], world.acme_secret))
        assert answer.status_code == 401, (other, answer.text)
        answers.append(answer.json())
    assert all(a == answers[0] for a in answers)
    assert stored(world.service) == before

    right = anonymous.post(url, json={"results": []}, headers=basic("infobip", world.acme_secret))
    assert right.status_code == 200, right.text
    other_integration = anonymous.post(f"/v1/webhooks/infobip/acme/second/{kind}",
                                       json={"results": []},
                                       headers=basic("second", world.acme_second_secret))
    assert other_integration.status_code == 200, other_integration.text


@pytest.mark.parametrize("header", [
    "Basic " + base64.b64encode(b"infobip").decode(), "Basic %%%", "Basic"])
def test_a_malformed_basic_header_gets_the_same_401_as_a_wrong_secret(world, anonymous, header):
    url = "/v1/webhooks/infobip/acme/infobip/inbound"
    wrong = anonymous.post(url, json={"results": []},
                           headers=basic("infobip", secrets.token_urlsafe(24)))
    malformed = anonymous.post(url, json={"results": []}, headers={"Authorization": header})
    assert malformed.status_code == 401, malformed.text
    assert malformed.json() == wrong.json()


def test_the_webhook_secret_works_only_until_it_is_rotated(service, acme):
    old = service.webhook_secret
    url = f"{service.url}/v1/webhooks/infobip/acme/infobip/delivery-reports"
    again = acme.put("/v1/projects/acme/integrations/infobip",
                     json=integration_body(service.simulator.base_url))
    assert again.json()["webhooks"]["secret"] == old  # a change keeps the secret
    rotated = acme.put("/v1/projects/acme/integrations/infobip", json=integration_body(
        service.simulator.base_url, rotate_webhook_secret=True)).json()["webhooks"]["secret"]
    assert rotated != old
    assert httpx.post(url, json={"results": []}, headers=basic("infobip", old)).status_code == 401
    assert httpx.post(url, json={"results": []},
                      headers=basic("infobip", rotated)).status_code == 200


# --- 403: a member asking for an admin change -------------------------------------------

def admin_changes(simulator_url: str) -> list[tuple[str, str, dict | None]]:
    return [
        ("PUT", "/v1/projects/acme/integrations/infobip",
         integration_body(simulator_url, senders=["Member"], default_sender="Member")),
        ("PUT", "/v1/projects/acme/integrations/infobip",
         integration_body(simulator_url, rotate_webhook_secret=True)),
        ("PUT", "/v1/projects/acme/integrations/member-made", integration_body(simulator_url)),
        ("PUT", "/v1/projects/acme/channels/sms", {"default_provider": "infobip"}),
        ("PUT", "/v1/projects/acme/campaign-event-mapping", {"campaign": "member_event"}),
        ("PUT", "/v1/projects/acme/keywords/INFO", {"action": "none", "answer": "Hi"}),
        ("DELETE", "/v1/projects/acme/keywords/STOP", None),
        ("PUT", "/v1/projects/acme/campaigns/spring/nps", {"survey": True}),
        ("GET", "/v1/projects/acme/tokens", None),
        ("DELETE", "/v1/projects/acme/tokens/000000000000", None),
        ("PUT", "/v1/projects/acme/consents/%2B385921230070/sms_marketing", {"granted": True}),
        ("POST", "/v1/projects/acme/numbers/%2B385921230070/revalidate", None),
    ]


def test_a_member_gets_403_for_every_admin_change_and_nothing_changes(service, acme):
    member = service.client(service.ledger.projects.issue_token("acme", "member"))
    history = acme.get("/v1/projects/acme/settings/history").json()
    integrations = acme.get("/v1/projects/acme/integrations").json()
    keywords = acme.get("/v1/projects/acme/keywords").json()
    for method, path, body in admin_changes(service.simulator.base_url):
        answer = member.request(method, path, json=body)
        assert answer.status_code == 403, (method, path, answer.text)
        assert error_of(answer)["code"] == "forbidden"
    assert acme.get("/v1/projects/acme/settings/history").json() == history
    assert acme.get("/v1/projects/acme/integrations").json() == integrations
    assert acme.get("/v1/projects/acme/keywords").json() == keywords
    webhook = httpx.post(f"{service.url}/v1/webhooks/infobip/acme/infobip/inbound",
                         json={"results": []}, headers=basic("infobip", service.webhook_secret))
    assert webhook.status_code == 200  # the secret was not rotated


def test_a_member_can_still_read_and_send(service, acme):
    member = service.client(service.ledger.projects.issue_token("acme", "member"))
    listed = member.get("/v1/projects/acme/integrations")
    assert listed.status_code == 200 and listed.json()["default_provider"] == "infobip"
    assert all(i["webhooks"]["secret"] is None for i in listed.json()["integrations"])
    sent = member.post("/v1/projects/acme/messages", json=message(to=DELIVERED))
    assert sent.status_code == 202, sent.text
    batch = member.post("/v1/projects/acme/messages/batch", json={"messages": [message()]})
    assert batch.status_code == 202, batch.text
    assert service.simulator.wait_until_idle(timeout=10)
    view = member.get(f"/v1/projects/acme/messages/{sent.json()['message_id']}")
    assert view.status_code == 200 and view.json()["status"] == "delivered"
    for path in ("/v1/projects/acme/events", "/v1/projects/acme/campaigns/spring/audit",
                 "/v1/projects/acme/settings/history", "/v1/projects/acme/keywords"):
        assert member.get(path).status_code == 200, path


# --- 404: anything of another project, as if it did not exist --------------------------

@pytest.mark.parametrize(("method", "path"), CLIENT_ENDPOINTS, ids=ENDPOINT_IDS)
def test_another_projects_token_gets_404_on_every_path_exactly_as_for_no_project(
        world, method, path):
    body = valid_body(method, path, world.service.simulator.base_url)
    before = stored(world.service)
    for token, theirs in ((world.globex_admin, "acme"), (world.globex_member, "acme"),
                          (world.acme_member, "globex")):
        with world.client(token) as client:
            at_theirs = client.request(method, concrete(path, theirs, world.acme_message_id),
                                       json=body)
            at_nowhere = client.request(method, concrete(path, "nope", world.acme_message_id),
                                        json=body)
        assert at_theirs.status_code == 404, at_theirs.text
        assert error_of(at_theirs)["code"] == "not_found"
        assert (at_nowhere.status_code, at_nowhere.json()) == (404, at_theirs.json())
        assert at_theirs.headers["content-type"] == at_nowhere.headers["content-type"]
    assert stored(world.service) == before


def test_a_message_of_another_project_is_not_found_at_this_projects_path(world):
    with world.client(world.globex_admin) as globex, world.client(
            world.service.admin_token) as acme:
        sent = globex.post("/v1/projects/globex/messages",
                           json=message(customer_id="g1", campaign_id="gx-launch"))
        assert sent.status_code == 202, sent.text
        globex_id = sent.json()["message_id"]
        assert globex.get(f"/v1/projects/globex/messages/{globex_id}").status_code == 200

        theirs = acme.get(f"/v1/projects/acme/messages/{globex_id}")
        nobodys = acme.get(f"/v1/projects/acme/messages/{uuid.uuid4().hex}")
        assert theirs.status_code == 404 and error_of(theirs)["code"] == "not_found"
        assert theirs.json() == nobodys.json()

        # Their campaign and their feed are no more visible than a campaign nobody has.
        theirs_audit = acme.get("/v1/projects/acme/campaigns/gx-launch/audit")
        nobodys_audit = acme.get("/v1/projects/acme/campaigns/no-such-campaign/audit")
        assert theirs_audit.status_code == 404 and theirs_audit.json() == nobodys_audit.json()
        feed = acme.get("/v1/projects/acme/events", params={"limit": 1000}).json()
        assert globex_id not in json.dumps(feed)

        # Their message id is free in this project: no collision tells that it exists.
        mine = acme.post("/v1/projects/acme/messages",
                         json=message(customer_id="a-own", message_id=globex_id))
        assert mine.status_code == 202, mine.text
        view = acme.get(f"/v1/projects/acme/messages/{globex_id}").json()
        assert view["customer_id"] == "a-own" and view["project_id"] == "acme"
        assert globex.get(f"/v1/projects/globex/messages/{globex_id}").json()[
            "customer_id"] == "g1"


# --- 413: bodies above the limit --------------------------------------------------------

def chunks(total: int, piece: bytes = b" " * 4096) -> Iterator[bytes]:
    """A JSON body sent chunked (no Content-Length), `total` bytes in all."""
    yield b'{"messages": ['
    sent = 14
    while sent < total:
        yield piece
        sent += len(piece)
    yield b"]}"


def big_batch() -> dict:
    batch = {"messages": [message(customer_id=f"c{i}") for i in range(1000)]}
    assert len(json.dumps(batch)) > MAX_BODY
    return batch


def assert_too_large(answer: httpx.Response) -> None:
    assert answer.status_code == 413, answer.text
    error = error_of(answer)
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"max_body_bytes": MAX_BODY}


def test_a_client_body_above_the_limit_is_refused_with_413_and_nothing_is_stored(world):
    before = stored(world.service)
    with world.client(world.service.admin_token) as acme:
        assert_too_large(acme.post("/v1/projects/acme/messages/batch", json=big_batch()))
    assert stored(world.service) == before


def test_a_chunked_client_body_above_the_limit_is_refused_with_413(world):
    before = stored(world.service)
    with world.client(world.service.admin_token) as acme:
        answer = acme.post("/v1/projects/acme/messages/batch",
                           content=chunks(MAX_BODY + 10_000),
                           headers={"content-type": "application/json"})
    assert stored(world.service) == before
    assert_too_large(answer)


@pytest.mark.parametrize("kind", WEBHOOK_KINDS)
@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
def test_a_webhook_body_above_the_limit_is_refused_with_413_and_nothing_is_stored(
        world, anonymous, kind, transfer):
    item = delivered_report if kind == "delivery-reports" else inbound_sms
    body = json.dumps({"results": [item(f"id-{i}") for i in range(300)]}).encode()
    assert len(body) > MAX_BODY
    content = body if transfer == "content-length" else (
        body[i:i + 4096] for i in range(0, len(body), 4096))
    before = stored(world.service)
    answer = anonymous.post(f"/v1/webhooks/infobip/acme/infobip/{kind}", content=content,
                            headers={"content-type": "application/json",
                                     **basic("infobip", world.acme_secret)})
    assert_too_large(answer)
    assert stored(world.service) == before


def test_a_webhook_body_just_under_the_limit_is_taken(world, anonymous):
    body = json.dumps({"results": [], "padding": "x" * (MAX_BODY - 100)}).encode()
    assert len(body) <= MAX_BODY
    answer = anonymous.post("/v1/webhooks/infobip/acme/infobip/delivery-reports", content=body,
                            headers={"content-type": "application/json",
                                     **basic("infobip", world.acme_secret)})
    assert answer.status_code == 200, answer.text


# --- 422: naming the invalid field ------------------------------------------------------

def senders(n: int) -> list[str]:
    return [f"S{i}" for i in range(n)]


INVALID = [  # (case, method, path under /v1/projects/acme, json body or query, field named)
    ("missing customer_id", "POST", "/messages", {"to": NO_REPORT, "text": "x"}, "customer_id"),
    ("empty customer_id", "POST", "/messages", message(customer_id=""), "customer_id"),
    ("customer_id a number", "POST", "/messages", message(customer_id=123), "customer_id"),
    ("to a list", "POST", "/messages", message(to=["+385921230070"]), "to"),
    ("media_urls a string", "POST", "/messages", message(media_urls="https://x/p.png"),
     "media_urls"),
    ("unknown extra field", "POST", "/messages", message(colour="red"), "colour"),
    ("a message in a batch without to", "POST", "/messages/batch",
     {"messages": [message(), {"customer_id": "c2", "text": "x"}]}, "messages.1.to"),
    ("an empty batch", "POST", "/messages/batch", {"messages": []}, "messages"),
    ("batch not a list", "POST", "/messages/batch", {"messages": {"a": 1}}, "messages"),
    ("missing api_key", "PUT", "/integrations/infobip",
     {"base_url": "https://x.api.infobip.com", "senders": []}, "api_key"),
    ("senders a string", "PUT", "/integrations/infobip",
     {"base_url": "https://x.api.infobip.com", "api_key": "k" * 20, "senders": "AcmeShop"},
     "senders"),
    ("more than 100 senders", "PUT", "/integrations/infobip",
     {"base_url": "https://x.api.infobip.com", "api_key": "k" * 20, "senders": senders(101)},
     "senders"),
    ("default_sender not among senders", "PUT", "/integrations/infobip",
     {"base_url": "https://x.api.infobip.com", "api_key": "k" * 20, "senders": ["A"],
      "default_sender": "B"}, "default_sender"),
    ("base_url not http", "PUT", "/integrations/infobip",
     {"base_url": "ftp://x.api.infobip.com", "api_key": "k" * 20}, "base_url"),
    ("rotate_webhook_secret not a boolean", "PUT", "/integrations/infobip",
     {"base_url": "https://x.api.infobip.com", "api_key": "k" * 20,
      "rotate_webhook_secret": "please"}, "rotate_webhook_secret"),
    ("an integration id that is no id", "PUT", "/integrations/Not%20An%20Id",
     {"base_url": "https://x.api.infobip.com", "api_key": "k" * 20}, "integration id"),
    ("default_provider missing", "PUT", "/channels/sms", {}, "default_provider"),
    ("default_provider a number", "PUT", "/channels/sms", {"default_provider": 7},
     "default_provider"),
    ("unknown default_provider", "PUT", "/channels/sms", {"default_provider": "nope"},
     "default_provider"),
    ("bad event name", "PUT", "/campaign-event-mapping", {"campaign": "no good!"}, "campaign"),
    ("event name not a string", "PUT", "/campaign-event-mapping", {"campaign": ["x"]},
     "campaign"),
    ("after not a cursor", "GET", "/events", {"after": "abc"}, "after"),
    ("after negative", "GET", "/events", {"after": "-5"}, "after"),
    ("limit zero", "GET", "/events", {"limit": "0"}, "limit"),
    ("limit not a number", "GET", "/events", {"limit": "many"}, "limit"),
]


def assert_names(answer: httpx.Response, field: str) -> dict:
    assert answer.status_code == 422, answer.text
    error = error_of(answer)
    named = [d["field"] for d in error["details"].get("fields", [])]
    assert field in error["message"] or any(n.endswith(field) for n in named), error
    return error


@pytest.mark.parametrize(("case", "method", "path", "payload", "field"), [
    pytest.param(*case, id=case[0]) for case in INVALID])
def test_an_invalid_request_gets_422_naming_the_field(world, case, method, path, payload, field):
    before = stored(world.service)
    with world.client(world.service.admin_token) as acme:
        if method == "GET":
            answer = acme.get(f"/v1/projects/acme{path}", params=payload)
        else:
            answer = acme.request(method, f"/v1/projects/acme{path}", json=payload)
    assert_names(answer, field)
    assert stored(world.service) == before


@pytest.mark.parametrize("path", ["/messages", "/messages/batch", "/channels/sms"])
def test_a_body_that_is_not_json_gets_422(world, path):
    with world.client(world.service.admin_token) as acme:
        method = "PUT" if path == "/channels/sms" else "POST"
        for content in (b"{not json", b"customer_id=c1&to=1"):
            answer = acme.request(method, f"/v1/projects/acme{path}", content=content,
                                  headers={"content-type": "application/json"})
            assert answer.status_code == 422, answer.text
            assert error_of(answer)["code"] == "invalid_request"
        answer = acme.request(method, f"/v1/projects/acme{path}", content=b"hello",
                              headers={"content-type": "text/plain"})
        assert answer.status_code == 422, answer.text


def test_an_invalid_message_is_refused_alone_in_a_batch_and_a_single_send_is_422(world):
    before = stored(world.service)
    with world.client(world.service.admin_token) as acme:
        batch = acme.post("/v1/projects/acme/messages/batch", json={"messages": [
            message(customer_id="bad-1", to="not a number"),
            message(customer_id="bad-2", sender="NotOurs")]})
        assert batch.status_code == 202, batch.text
        results = batch.json()["messages"]
        assert [(r["status"], r["error"]) for r in results] == [
            ("invalid", "invalid_message"), ("invalid", "invalid_message")]
        assert "number" in results[0]["detail"].lower() and "sender" in results[1]["detail"]

        # A single send's message is the body: the details name it, and say why.
        one = acme.post("/v1/projects/acme/messages", json=message(to="+1"))
        assert one.status_code == 422, one.text
        ((field, problem),) = problems(one)
        assert field == "body" and "number" in problem

        sender = acme.post("/v1/projects/acme/messages", json=message(sender="NotOurs"))
        assert sender.status_code == 422, sender.text
        assert [(f, "sender" in p) for f, p in problems(sender)] == [("body", True)]

        integration = acme.post("/v1/projects/acme/messages", json=message(integration="nope"))
        assert integration.status_code == 422, integration.text
        assert [(f, "integration" in p) for f, p in problems(integration)] == [("body", True)]
    assert stored(world.service) == before  # nothing stored, nothing sent to Infobip


# --- webhook bodies ---------------------------------------------------------------------

@pytest.mark.parametrize("kind", WEBHOOK_KINDS)
def test_a_webhook_body_without_a_results_list_is_refused_with_400(world, anonymous, kind):
    before = stored(world.service)
    for body in (b"not json", b"", b"\xff\xfe{}", b"[]", b"null", b'{"results": {}}',
                 b'{"results": "x"}', b'{"reports": []}'):
        answer = anonymous.post(f"/v1/webhooks/infobip/acme/infobip/{kind}", content=body,
                                headers={"content-type": "application/json",
                                         **basic("infobip", world.acme_secret)})
        assert answer.status_code == 400, (body, answer.text)
        error = error_of(answer)
        assert error["code"] == "invalid_callback" and error["message"], body
    assert stored(world.service) == before


def test_a_partly_malformed_delivery_callback_applies_the_good_and_quarantines_the_rest(
        service, acme):
    sent = acme.post("/v1/projects/acme/messages", json=message()).json()["message_id"]
    callback = {"results": [delivered_report(sent), {"messageId": 5, "status": {}}, "junk",
                            {**delivered_report("other"), "status": {"groupId": 99}}]}
    url = f"{service.url}/v1/webhooks/infobip/acme/infobip/delivery-reports"
    auth = basic("infobip", service.webhook_secret)

    answer = httpx.post(url, json=callback, headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"applied": 1, "noted": 0, "parked": 0, "quarantined": 3}
    assert acme.get(f"/v1/projects/acme/messages/{sent}").json()["status"] == "delivered"
    assert len(service.ledger.quarantined_inputs("acme")) == 3

    # Infobip posts the same callback again: nothing counts twice.
    again = httpx.post(url, json=callback, headers=auth)
    assert again.status_code == 200, again.text
    assert again.json()["applied"] == 0 and again.json()["noted"] == 1
    history = acme.get(f"/v1/projects/acme/messages/{sent}").json()["history"]
    assert [h["event"] for h in history].count("Delivered") == 1
    assert len(service.ledger.quarantined_inputs("acme")) == 3
    audit = acme.get("/v1/projects/acme/campaigns/spring/audit").json()
    assert (audit["requested"], audit["delivered"]) == (1, 1)


def test_a_partly_malformed_inbound_callback_keeps_the_good_and_quarantines_the_rest(
        service, acme):
    callback = {"results": [inbound_sms("in-1"), {"from": "385921230070"}, 42],
                "messageCount": 3, "pendingMessageCount": 0}
    url = f"{service.url}/v1/webhooks/infobip/acme/infobip/inbound"
    auth = basic("infobip", service.webhook_secret)
    answer = httpx.post(url, json=callback, headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 1, "duplicates": 0, "quarantined": 2}
    again = httpx.post(url, json=callback, headers=auth)
    assert again.status_code == 200, again.text
    assert (again.json()["received"], again.json()["duplicates"]) == (0, 1)
    assert len(service.ledger.quarantined_inputs("acme")) == 2


# --- secrets ----------------------------------------------------------------------------

def test_the_api_key_and_secrets_never_appear_in_answers_or_logs(service, caplog):
    caplog.set_level(logging.INFO)
    answers: list[httpx.Response] = []
    with service.client(service.admin_token) as admin:
        put = admin.put("/v1/projects/acme/integrations/infobip", json=integration_body(
            service.simulator.base_url, senders=["AcmeShop", "385991234567"]))
        answers.append(put)
        webhook_secret = put.json()["webhooks"]["secret"]
        assert put.json()["api_key"] == "****" + SIMULATOR_KEY[-4:]
        answers.append(admin.put("/v1/projects/acme/channels/sms",
                                 json={"default_provider": "infobip"}))
        member_token = service.ledger.projects.issue_token("acme", "member")
        with service.client(member_token) as member:
            sent = member.post("/v1/projects/acme/messages/batch", json={"messages": [
                message(to=DELIVERED), message(to="+385921230020"),
                message(to="+385921230030", sender="385991234567")]})
            answers.append(sent)
            assert sent.status_code == 202, sent.text
            assert service.simulator.wait_until_idle(timeout=10)
            for m in sent.json()["messages"]:
                answers.append(member.get(f"/v1/projects/acme/messages/{m['message_id']}"))
            answers.append(member.get("/v1/projects/acme/events"))
            answers.append(member.get("/v1/projects/acme/campaigns/spring/audit"))
        answers.append(admin.get("/v1/projects/acme/integrations"))
        history = admin.get("/v1/projects/acme/settings/history")
        answers.append(history)
        # Failures, with secrets in the request, are logged too.
        answers.append(httpx.get(f"{service.url}/v1/projects/acme/integrations",
                                 headers={"Authorization": f"Bearer {member_token}x"}))
        answers.append(httpx.post(
            f"{service.url}/v1/webhooks/infobip/acme/infobip/delivery-reports",
            content=b"not json", headers=basic("infobip", webhook_secret)))
        answers.append(httpx.post(
            f"{service.url}/v1/webhooks/infobip/acme/infobip/delivery-reports",
            json={"results": []}, headers=basic("infobip", webhook_secret + "x")))
    assert all(a.status_code < 500 for a in answers)

    for answer in answers:
        assert SIMULATOR_KEY not in answer.text, answer.request.url
    for answer in answers[1:]:
        assert webhook_secret not in answer.text, answer.request.url
    assert not any("api_key" in entry or "token_hash" in entry or "webhook_nonce" in entry
                   for entry in history.json()["history"])

    secret_values = {"API key": SIMULATOR_KEY, "webhook secret": webhook_secret,
                     "admin token secret": service.admin_token.split(".")[2],
                     "member token secret": member_token.split(".")[2]}
    requests_logged = [r for r in caplog.records if r.getMessage() == "request"]
    assert len(requests_logged) >= len(answers)  # the service did log, and was captured
    for record in caplog.records:
        logged = record.getMessage() + " " + repr(record.args) + " " + repr(vars(record))
        for name, value in secret_values.items():
            assert value not in logged, (name, record.name, record.getMessage())
    for name, value in secret_values.items():
        assert value not in caplog.text, name


def test_tokens_are_random_with_at_least_128_bits_and_stored_only_as_hashes(service):
    projects = service.ledger.projects
    tokens = [service.admin_token] + [projects.issue_token("acme", role)
                                      for role in ("admin", "member") * 10]
    parts = [token.split(".") for token in tokens]
    for prefix, token_id, secret in parts:
        assert prefix == "sml_acme"
        assert re.fullmatch(r"[A-Za-z0-9_-]+", secret), secret  # base64url
        assert len(secret) * 6 >= 128, secret
    assert len({secret for _, _, secret in parts}) == len(parts)
    assert len({token_id for _, token_id, _ in parts}) == len(parts)

    with service.client(service.admin_token) as admin:
        webhook_secret = configure_infobip(admin, service.simulator)["webhooks"]["secret"]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", webhook_secret) and len(webhook_secret) * 6 >= 128

    # The raw events, as stored: hashes, never the secrets themselves.
    raw = b"".join(n.state for n in projects.recorder.select_notifications(start=1, limit=10_000))
    raw += b"".join(n.state for n in service.ledger.recorder.select_notifications(
        start=1, limit=10_000))
    for _, _, secret in parts:
        assert secret.encode() not in raw
        assert hashlib.sha256(secret.encode()).hexdigest().encode() in raw
    assert webhook_secret.encode() not in raw
    assert hashlib.sha256(webhook_secret.encode()).hexdigest().encode() in raw
    for token in tokens:
        assert token.encode() not in raw


# --- request ids ------------------------------------------------------------------------

def logged_request(caplog, request_id: str, timeout: float = 5) -> dict:
    """The structured log line of one request (written just after its answer is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        for record in list(caplog.records):
            fields = getattr(record, "fields", None) or {}
            if record.getMessage() == "request" and fields.get("request_id") == request_id:
                return fields
        assert time.monotonic() < deadline, f"no log line for request {request_id}"
        time.sleep(0.02)


def test_every_answer_has_a_request_id_and_an_incoming_one_is_echoed(world, anonymous, caplog):
    caplog.set_level(logging.INFO)
    token = {"Authorization": f"Bearer {world.service.admin_token}"}
    auth = basic("infobip", world.acme_secret)
    calls = [  # one of each kind of answer
        ("GET", "/healthz", {}, None),  # 200
        ("GET", "/metrics", {}, None),
        ("GET", "/openapi.json", {}, None),
        ("POST", "/v1/projects/acme/messages", {}, message()),  # 401
        ("GET", "/v1/projects/acme/integrations", token, None),  # 200
        ("GET", "/v1/projects/globex/integrations", token, None),  # 404
        ("GET", "/v1/projects/acme/events?after=x", token, None),  # 422
        ("POST", "/v1/projects/acme/messages/batch", token, big_batch()),  # 413
        ("DELETE", "/v1/projects/acme/integrations", token, None),  # 405
        ("GET", "/no/such/route", {}, None),  # 404
        ("POST", "/v1/webhooks/infobip/acme/infobip/inbound", auth, {"results": []}),  # 200
        ("POST", "/v1/webhooks/infobip/acme/infobip/inbound", auth, "x"),  # 400
        ("POST", "/v1/webhooks/infobip/acme/infobip/inbound", {}, {"results": []}),  # 401
    ]
    generated = set()
    for method, path, headers, body in calls:
        answer = anonymous.request(method, path, headers=headers, json=body)
        request_id = answer.headers.get("x-request-id")
        assert request_id, (method, path, answer.status_code)
        assert answer.headers.get_list("x-request-id") == [request_id]
        generated.add(request_id)

        given = f"platform-{uuid.uuid4().hex}"
        echoed = anonymous.request(method, path, json=body,
                                   headers={**headers, "X-Request-ID": given})
        assert echoed.status_code == answer.status_code
        assert echoed.headers.get_list("x-request-id") == [given], (method, path)
        logged = logged_request(caplog, given)
        assert logged["status"] == echoed.status_code, (method, path)
    assert len(generated) == len(calls)  # a new id for every request


def test_a_keep_alive_request_is_answered_without_a_delayed_ack_stall(service):
    with service.client() as client:
        client.get("/healthz")
        timings = []
        for _ in range(7):
            started = time.perf_counter()
            client.get("/healthz")
            timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.02, timings


# --- 503: the store is down -------------------------------------------------------------
#
# Real: the service gets a PostgreSQL login role of its own; taking LOGIN away from it
# and ending its sessions takes the store away from that service alone, giving LOGIN
# back brings it back. One outage (about 10 s) serves the tests below.

@contextmanager
def store_role() -> Iterator[tuple[str, str]]:
    """A new schema and a login role that may use it: (role, the service's database URL)."""
    role = f"smsl_down_{uuid.uuid4().hex[:12]}"
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT USAGE, CREATE ON SCHEMA "{schema}" TO "{role}"')
    admin = urlsplit(POSTGRES_URL)
    url = f"postgresql://{role}@{admin.hostname}:{admin.port or 5432}{admin.path}?schema={schema}"
    try:
        yield role, url
    finally:
        with connect() as conn:
            set_login(role, False)
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


def set_login(role: str, allowed: bool) -> None:
    with connect() as conn:
        conn.execute(f'ALTER ROLE "{role}" {"LOGIN" if allowed else "NOLOGIN"}')
        if not allowed:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE usename = %s", [role])


@dataclass
class Outage:
    before: httpx.Response  # /readyz before
    during: dict[str, httpx.Response]  # readyz, healthz, webhook, client: asked while down
    infobip_failed: int  # the simulator's failed report POSTs while it was down
    recovered: httpx.Response | None  # the first /readyz 200 after, if any
    retried: httpx.Response | None  # our webhook POST again, after
    infobip_idle: bool  # every report the simulator had was posted in the end
    infobip_gave_up: int
    statuses: dict[str, str]  # message -> its status at the end


@pytest.fixture(scope="module")
def outage(postgres_available) -> Iterator[Outage]:
    config = SimulatorConfig(api_key=SIMULATOR_KEY, report_delay=0.5, webhook_timeout=2.0,
                             webhook_retry_delays=(0.5, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5))
    with store_role() as (role, database_url), pytest.MonkeyPatch.context() as env:
        # The pool waits this long for a connection on each of the library's 10 attempts;
        # with the default (30 s) each answer below would take minutes (see the report).
        env.setenv("POSTGRES_CONNECT_TIMEOUT", "1")
        with running_service(database_url, config, secret_key="store-down-0123456789abcdef") as service, \
                service.client(service.admin_token) as acme, \
                httpx.Client(base_url=service.url, timeout=120) as client:
            secret = configure_infobip(acme, service.simulator)["webhooks"]["secret"]
            waiting = acme.post("/v1/projects/acme/messages", json=message()).json()[
                "message_id"]
            before = client.get("/readyz")
            # Infobip has a report to post half a second from now; the store goes first.
            reported = acme.post("/v1/projects/acme/messages",
                                 json=message(to=DELIVERED)).json()["message_id"]
            set_login(role, False)

            webhook = "/v1/webhooks/infobip/acme/infobip/delivery-reports"
            our_report = {"results": [delivered_report(waiting)]}
            auth = basic("infobip", secret)
            with ThreadPoolExecutor(4) as pool:
                asked = {
                    "readyz": pool.submit(client.get, "/readyz"),
                    "healthz": pool.submit(client.get, "/healthz"),
                    "webhook": pool.submit(client.post, webhook, json=our_report, headers=auth),
                    "client": pool.submit(
                        client.get, f"/v1/projects/acme/messages/{waiting}",
                        headers={"Authorization": f"Bearer {service.admin_token}"}),
                }
                during = {name: future.result() for name, future in asked.items()}
            deadline = time.monotonic() + 15
            while service.simulator.webhook_failures == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            infobip_failed = service.simulator.webhook_failures

            set_login(role, True)
            recovered = retried = None
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline:
                if (answer := client.get("/readyz")).status_code == 200:
                    recovered = answer
                    break
            if recovered is not None:
                retried = client.post(webhook, json=our_report, headers=auth)
            idle = service.simulator.wait_until_idle(timeout=40)
            statuses = {}
            if recovered is not None:
                for name, message_id in (("reported", reported), ("waiting", waiting)):
                    statuses[name] = acme.get(
                        f"/v1/projects/acme/messages/{message_id}").json()["status"]
            yield Outage(before, during, infobip_failed, recovered, retried, idle,
                         service.simulator.reports_given_up, statuses)


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, (answer.request.url, answer.text)
    assert error_of(answer)["code"] == "store_unavailable"
    assert answer.headers.get("x-request-id")


def test_readiness_answers_503_while_the_store_is_down_and_200_once_it_is_back(outage):
    assert outage.before.status_code == 200
    assert_unavailable(outage.during["readyz"])
    assert outage.recovered is not None, "the service did not recover within 45 s"
    assert outage.recovered.json() == {"status": "ready"}


def test_health_says_the_process_answers_even_while_the_store_is_down(outage):
    """Liveness: a supervisor restarting every instance for a database outage would
    only add restarts to it."""
    assert outage.during["healthz"].status_code == 200
    assert outage.during["healthz"].json() == {"status": "ok"}


def test_a_webhook_answers_503_while_the_store_is_down_and_infobip_s_retry_is_stored(outage):
    assert_unavailable(outage.during["webhook"])
    assert outage.infobip_failed >= 1, "Infobip's report never met the outage"
    # Infobip retried its report until it was taken; we retried ours.
    assert outage.recovered is not None and outage.retried is not None
    assert outage.retried.status_code == 200, outage.retried.text
    assert outage.retried.json()["applied"] == 1
    assert outage.infobip_idle and outage.infobip_gave_up == 0
    assert outage.statuses == {"reported": "delivered", "waiting": "delivered"}


def test_a_client_endpoint_answers_503_while_the_store_is_down(outage):
    assert_unavailable(outage.during["client"])
