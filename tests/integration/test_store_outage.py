"""A database outage answers 503 quickly, and the same running service recovers.

The service runs over real HTTP on loopback against a PostgreSQL cluster of the
test's own, which the test stops (an immediate shutdown, as a crash) while the
service keeps running. The issue's demand is a bound on answer times during the
outage: /readyz within 1 s (load balancers), webhooks and API calls within the
store budget (`store_timeout_seconds`), so Infobip retries instead of timing out.
Each answer is timed with time.monotonic around the real request.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.runtime.config import load_settings
from support.own_postgres import OwnPostgres, own_postgres  # noqa: F401  (the fixture)
from support.waiting import wait_for

BUDGET = 2.0           # the service's store budget in these tests, in seconds
HEALTH_BOUND = 1.0     # /readyz must answer within this, whatever the budget
SLACK = 1.0            # HTTP, thread hand-offs and a loaded 2-core machine
GIVE_UP = 30.0         # a request still unanswered then is a hang: stop waiting


@dataclass
class Running:
    url: str
    admin_token: str
    webhook_secret: str

    def readyz(self) -> httpx.Response:
        return httpx.get(f"{self.url}/readyz", timeout=GIVE_UP)

    def healthz(self) -> httpx.Response:
        return httpx.get(f"{self.url}/healthz", timeout=GIVE_UP)

    def report(self, message_id: str) -> httpx.Response:
        """Infobip posting one delivery report (for a message we did not send: parked)."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        report = {"bulkId": "b-1", "messageId": message_id, "to": "385921230070",
                  "sender": "AcmeShop", "sentAt": now, "doneAt": now, "messageCount": 1,
                  "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5,
                             "name": "DELIVERED_TO_HANDSET", "description": "delivered"},
                  "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR",
                            "description": "No Error", "permanent": False}}
        credentials = base64.b64encode(f"infobip:{self.webhook_secret}".encode()).decode()
        return httpx.post(f"{self.url}/v1/webhooks/infobip/acme/infobip/delivery-reports",
                          json={"results": [report]}, timeout=GIVE_UP,
                          headers={"Authorization": f"Basic {credentials}"})

    def api_call(self) -> httpx.Response:
        """A platform asking for a message's status (one it never sent: 404)."""
        return httpx.get(f"{self.url}/v1/projects/acme/messages/no-such-message",
                         headers={"Authorization": f"Bearer {self.admin_token}"},
                         timeout=GIVE_UP)


@contextmanager
def serving(database_url: str, tmp_path: Path) -> Iterator[Running]:
    """The service as `smsledger serve` runs it, on loopback, with project acme and
    its Infobip integration (whose webhook secret the reports are posted with)."""
    settings = load_settings(database_url=database_url, store_timeout_seconds=BUDGET,
                             secret_key="outage-tests-0123456789abcdef",
                             secret_key_file=str(tmp_path / "key"))
    with BackgroundServer() as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        try:
            server.start(create_app(ServiceContext.serving(channel, server.url, settings)))
            admin_token = channel.projects.create_project("acme")
            _, secret = channel.projects.configure_integration(
                "acme", "infobip", base_url="https://api.infobip.com", api_key="unused-key",
                senders=["AcmeShop"], default_sender="AcmeShop", changed_by="test")
            yield Running(server.url, admin_token, secret)
        finally:
            server.stop()
            channel.close()


@pytest.fixture
def running(own_postgres: OwnPostgres, tmp_path: Path) -> Iterator[Running]:  # noqa: F811
    with serving(own_postgres.url, tmp_path) as service:
        yield service


def timed(request: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = request()
    return answer, time.monotonic() - started


def assert_unavailable(answer: httpx.Response, seconds: float, bound: float, what: str) -> None:
    assert answer.status_code == 503, f"{what}: {answer.status_code} {answer.text}"
    assert answer.json()["error"]["code"] == "store_unavailable", answer.text
    assert seconds < bound, f"{what} answered 503 after {seconds:.2f} s, over {bound} s"


def test_an_outage_answers_503_within_the_budget_and_the_service_recovers(
        own_postgres: OwnPostgres, running: Running) -> None:  # noqa: F811
    assert running.readyz().status_code == 200
    assert running.report("before-outage").json()["parked"] == 1  # the pool is in use

    own_postgres.stop()

    # Twice each: the first finds the pool's connections cut, the second an empty pool.
    for attempt in (1, 2):
        answer, seconds = timed(running.readyz)
        assert_unavailable(answer, seconds, HEALTH_BOUND, f"/readyz #{attempt}")
        # Liveness does not depend on the store: the process answers.
        answer, seconds = timed(running.healthz)
        assert answer.status_code == 200 and seconds < HEALTH_BOUND, (answer.text, seconds)
        answer, seconds = timed(lambda: running.report("during-outage"))
        assert_unavailable(answer, seconds, BUDGET + SLACK, f"webhook #{attempt}")
        answer, seconds = timed(running.api_call)
        assert_unavailable(answer, seconds, BUDGET + SLACK, f"API call #{attempt}")

    own_postgres.start()

    # The same process, not restarted: healthy again, and it stores again.
    wait_for(lambda: running.readyz().status_code == 200, timeout=BUDGET + 10)
    stored = running.report("after-outage")
    assert stored.status_code == 200, stored.text
    assert stored.json()["parked"] == 1
    assert running.api_call().status_code == 404  # answered from the store: no such message


def test_a_server_restart_between_requests_costs_no_request(
        own_postgres: OwnPostgres, running: Running) -> None:  # noqa: F811
    """The pool's connections are all cut by a restart; the next requests find that
    out and take fresh ones, instead of answering 503 once per dead connection."""
    assert running.report("before-restart").json()["parked"] == 1
    own_postgres.stop()
    own_postgres.start()
    answer, seconds = timed(running.readyz)
    assert answer.status_code == 200 and seconds < HEALTH_BOUND, (answer.text, seconds)
    stored = running.report("after-restart")
    assert stored.status_code == 200 and stored.json()["parked"] == 1, stored.text
    assert running.api_call().status_code == 404


def test_a_webhook_that_finds_its_connection_cut_by_a_restart_is_still_stored(
        own_postgres: OwnPostgres, running: Running) -> None:  # noqa: F811
    """No /readyz first to replace the cut connections: the webhook's own reads
    meet them (found by the outage suite, where such a request answered 503)."""
    assert running.report("before-restart").json()["parked"] == 1
    own_postgres.stop()
    own_postgres.start()
    stored = running.report("after-restart")
    assert stored.status_code == 200 and stored.json()["parked"] == 1, stored.text


def test_a_feed_read_that_finds_its_connection_cut_by_a_restart_is_answered(
        own_postgres: OwnPostgres, running: Running) -> None:  # noqa: F811
    feed = lambda: httpx.get(f"{running.url}/v1/projects/acme/events",  # noqa: E731
                             headers={"Authorization": f"Bearer {running.admin_token}"})
    assert feed().status_code == 200
    own_postgres.stop()
    own_postgres.start()
    answer = feed()
    assert answer.status_code == 200, answer.text


def test_a_locked_sqlite_file_answers_503_within_the_budget(tmp_path: Path) -> None:
    """Another process holding SQLite's write lock: a write waits the busy timeout
    (the budget, in whole seconds), not longer, then answers 503; it stores again
    once the lock is released."""
    database = tmp_path / "store.db"
    with serving(f"sqlite:///{database}", tmp_path) as running:
        assert running.report("before-lock").json()["parked"] == 1
        with closing(sqlite3.connect(database, isolation_level=None)) as other:
            other.execute("BEGIN EXCLUSIVE")  # what a long maintenance job would hold
            answer, seconds = timed(lambda: running.report("while-locked"))
            assert_unavailable(answer, seconds, BUDGET + SLACK, "webhook on a locked file")
            other.execute("ROLLBACK")
        assert running.report("after-lock").json()["parked"] == 1
