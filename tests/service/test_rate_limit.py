"""Per-project rate limits on the client API, served on loopback (issue 16): with
SMSLEDGER_RATE_LIMIT_PER_SECOND=5 the sixth immediate request of a project is 429
with Retry-After and the RateLimit headers, another project and Infobip's webhooks
are unaffected, and after waiting (a manual clock: no sleeps) requests pass again.
0, the default, limits nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.runtime.config import load_settings
from support.times import ManualMonotonic

RATE = 5
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
REPORT = ('{"results": [{"messageId": "unknown-1", "doneAt": "2026-11-09T16:00:03.000+0000",'
          ' "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5,'
          ' "name": "DELIVERED_TO_HANDSET"}}]}')


@dataclass
class Served:
    url: str
    clock: ManualMonotonic
    acme: str  # acme's admin token
    globex: str  # another project's admin token
    webhook_secret: str  # acme's Infobip integration's

    def client(self, token: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"},
                            timeout=30)

    def webhook(self, kind: str = "delivery-reports") -> httpx.Response:
        return httpx.post(f"{self.url}/v1/webhooks/infobip/acme/infobip/{kind}", content=REPORT,
                          auth=("infobip", self.webhook_secret), timeout=30)


@contextmanager
def serve(tmp_path, **settings_given) -> Iterator[Served]:
    """The service on SQLite (the store plays no part in the limits), acme with an
    Infobip integration, and globex."""
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/store.db",
                             secret_key="rate-limit-tests-0123456789abcdef",
                             secret_key_file=str(tmp_path / "key"), **settings_given)
    clock = ManualMonotonic()
    with BackgroundServer() as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        try:
            server.start(create_app(ServiceContext.serving(channel, server.url, settings,
                                                           monotonic=clock)))
            acme = channel.projects.create_project("acme")
            _, secret = channel.projects.configure_integration(
                "acme", "infobip", base_url="https://api.infobip.com", api_key="unused-key",
                senders=["AcmeShop"], default_sender="AcmeShop", changed_by="test")
            yield Served(server.url, clock, acme, channel.projects.create_project("globex"),
                         secret)
        finally:
            server.stop()
            channel.close()


@pytest.fixture
def limited(tmp_path) -> Iterator[Served]:
    with serve(tmp_path, rate_limit_per_second=RATE) as served:
        yield served


def use_up(client: httpx.Client, project: str = "acme") -> list[httpx.Response]:
    """The burst: RATE requests that pass."""
    answers = [client.get(f"/v1/projects/{project}/events") for _ in range(RATE)]
    assert [a.status_code for a in answers] == [200] * RATE, answers[-1].text
    return answers


def test_the_sixth_immediate_request_is_429_with_retry_after_and_the_ratelimit_headers(limited):
    with limited.client(limited.acme) as acme:
        answers = use_up(acme)
        assert [a.headers["ratelimit-remaining"] for a in answers] == ["4", "3", "2", "1", "0"]
        assert all(a.headers["ratelimit-limit"] == "5" for a in answers)
        assert "retry-after" not in answers[0].headers
        # A send, body and all: refused before it reaches the handler.
        refused = acme.post("/v1/projects/acme/messages", json={
            "customer_id": "cust-1", "to": "+385921234567", "text": "hi", "message_id": "m-1"})
        assert refused.status_code == 429, refused.text
        assert refused.headers["retry-after"] == "1"
        assert {h: refused.headers[h] for h in RATE_HEADERS} == {
            "ratelimit-limit": "5", "ratelimit-remaining": "0", "ratelimit-reset": "1"}
        error = refused.json()["error"]
        assert error["code"] == "rate_limited"
        assert "5 requests per second" in error["message"]
        assert error["details"] == {"limit_per_second": 5.0, "retry_after": 1}
        assert refused.headers["x-request-id"]
        limited.clock.advance(1)
        assert acme.get("/v1/projects/acme/messages/m-1").status_code == 404  # never sent


def test_another_project_is_not_affected(limited):
    with limited.client(limited.acme) as acme, limited.client(limited.globex) as globex:
        use_up(acme)
        assert acme.get("/v1/projects/acme/events").status_code == 429
        answer = globex.get("/v1/projects/globex/events")
        assert answer.status_code == 200
        assert answer.headers["ratelimit-remaining"] == "4"


def test_infobips_webhooks_are_never_limited(limited):
    with limited.client(limited.acme) as acme:
        use_up(acme)
        assert acme.get("/v1/projects/acme/events").status_code == 429
    # acme's bucket is empty; its callbacks are still stored and answered.
    for kind in ["delivery-reports"] * 12 + ["inbound"] * 3:
        answer = limited.webhook(kind)
        assert answer.status_code == 200, answer.text
        assert not set(RATE_HEADERS) & set(answer.headers)


def test_after_waiting_requests_pass_again(limited):
    with limited.client(limited.acme) as acme:
        use_up(acme)
        refused = acme.get("/v1/projects/acme/events")
        assert refused.status_code == 429
        limited.clock.advance(int(refused.headers["retry-after"]))
        use_up(acme)  # a second is a whole burst again
        assert acme.get("/v1/projects/acme/events").status_code == 429
        limited.clock.advance(1 / RATE)  # one request's worth
        assert acme.get("/v1/projects/acme/events").status_code == 200
        assert acme.get("/v1/projects/acme/events").status_code == 429


def test_requests_without_a_valid_token_neither_count_nor_are_limited(limited):
    with limited.client("sml_acme.not-a-token") as stranger:
        for _ in range(RATE * 3):
            assert stranger.get("/v1/projects/acme/events").status_code == 401
    with limited.client(limited.acme) as acme:
        use_up(acme)  # acme's burst is whole


def test_429s_are_counted_in_the_metrics(limited):
    with limited.client(limited.acme) as acme:
        use_up(acme)
        for _ in range(3):
            assert acme.get("/v1/projects/acme/events").status_code == 429
    metrics = httpx.get(f"{limited.url}/metrics").text
    assert "smsledger_http_rate_limited_total 3.0" in metrics
    assert 'status="429"' in metrics


def test_every_client_operation_documents_its_429_and_webhooks_none(limited):
    document = httpx.get(f"{limited.url}/openapi.json").json()
    checked = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if path.startswith("/v1/projects/"):
                answer = responses["429"]
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorOut"}, (method, path)
                assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining",
                        "RateLimit-Reset"} <= set(answer["headers"]), (method, path)
                checked += 1
            else:
                assert "429" not in responses, (method, path)
    assert checked > 20


@pytest.mark.parametrize("setting", [{}, {"rate_limit_per_second": 0}], ids=["unset", "zero"])
def test_unset_or_zero_limits_nothing(tmp_path, setting):
    with serve(tmp_path, **setting) as served:
        with served.client(served.acme) as acme:
            answers = [acme.get("/v1/projects/acme/events") for _ in range(RATE * 6)]
        assert {a.status_code for a in answers} == {200}
        assert not set(RATE_HEADERS) & set(answers[-1].headers)
