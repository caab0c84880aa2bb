"""A typed client generated from the service's own /openapi.json works: the document is
complete enough for `openapi-python-client` to make a client whose calls answer typed
objects (not dictionaries), for the success answers and the one error shape alike.

The service runs on loopback with the Infobip simulator (the `service` fixture); its
document is fetched over HTTP, the client generated into tmp_path by the generator's own
command line and imported from there. With it, the test configures the project's
integration, sends a message, pages through the feed until the message's events are
there, and reads the message and the campaign's audit.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest

from service.conftest import SIMULATOR_KEY, configure_infobip

PACKAGE = "smsledger_client"
FEED_DEADLINE = 15.0  # seconds for the simulator's delivery report to reach the feed


class Generated:
    """The generated package and its modules, by the names the operation ids give them."""

    def __init__(self, package: ModuleType) -> None:
        self.package = package

    @property
    def models(self) -> Any:
        return importlib.import_module(f"{PACKAGE}.models")

    def operation(self, tag: str, operation_id: str) -> Any:
        """The module of one operation: api/<its tag>/<its operation id>.py."""
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")


@pytest.fixture
def generated(service, tmp_path) -> Iterator[Generated]:
    with service.client() as anonymous:
        answer = anonymous.get("/openapi.json")
    assert answer.status_code == 200, answer.text
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(answer.json()))
    # No post hooks: the generator would otherwise run ruff over the code, which this
    # test does not need (and which need not be on the PATH).
    config = tmp_path / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document),
         "--meta", "none", "--output-path", str(tmp_path / PACKAGE), "--config", str(config)],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    # The generator warns of every schema or operation it had to leave out.
    assert "Warning" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield Generated(importlib.import_module(PACKAGE))
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]  # the next test generates its own, in its own tmp_path


def test_a_generated_client_sends_a_message_and_pages_through_the_feed(service, generated):
    models = generated.models
    put_integration = generated.operation("project_settings", "put_integration")
    put_sms_channel = generated.operation("project_settings", "put_sms_channel")
    send_message = generated.operation("messages", "send_message")
    list_events = generated.operation("messages", "list_events")
    get_message = generated.operation("messages", "get_message")
    get_campaign_audit = generated.operation("messages", "get_campaign_audit")
    client = generated.package.AuthenticatedClient(base_url=service.url,
                                                   token=service.admin_token, timeout=30)
    with client:
        integration = put_integration.sync(
            project_id="acme", integration_id="infobip", client=client,
            body=models.IntegrationIn(base_url=service.simulator.base_url,
                                      api_key=SIMULATOR_KEY, senders=["AcmeShop"],
                                      default_sender="AcmeShop"))
        assert isinstance(integration, models.IntegrationOut), integration
        assert isinstance(integration.webhooks, models.WebhooksOut)
        assert integration.api_key == "****" + SIMULATOR_KEY[-4:]
        channel = put_sms_channel.sync(
            project_id="acme", client=client,
            body=models.SmsChannelIn(default_provider="infobip"))
        assert isinstance(channel, models.SmsChannelOut) and channel.default_provider == "infobip"

        sent = send_message.sync(
            project_id="acme", client=client, idempotency_key="typed-1",
            body=models.MessageIn(customer_id="c1", to="+385921230000",
                                  text="Spring sale: 20% off", campaign_id="spring"))
        assert isinstance(sent, models.SendOut), sent
        assert (sent.message_id, sent.status) == ("typed-1", models.SendStatus.ENQUEUED)
        assert sent.error is None and sent.number_of_message_parts == 1

        # The feed, a page of one event at a time, until the delivery report is in it.
        events, cursor = [], "0"
        deadline = time.monotonic() + FEED_DEADLINE
        while not any(e.properties.status == "delivered" for e in events):
            assert time.monotonic() < deadline, [e.to_dict() for e in events]
            page = list_events.sync(project_id="acme", client=client, after=cursor, limit=1)
            assert isinstance(page, models.EventsOut), page
            assert len(page.events) <= 1
            if not page.events:
                time.sleep(0.05)
                continue
            assert int(page.next_) > int(cursor)  # `next` is a builtin: the client says next_
            events += page.events
            cursor = page.next_
        for event in events:
            assert isinstance(event, models.CampaignEventOut)
            assert isinstance(event.timestamp, datetime) and event.timestamp.tzinfo is not None
            assert isinstance(event.properties, models.MessageEventProperties)
            assert (event.event, event.customer_id) == ("campaign", "c1")
            assert event.properties.message_id == "typed-1"
            assert event.properties.recipient == "+385921230000"
        assert [e.properties.status.value for e in events] == ["enqueued", "delivered"]
        assert len({e.event_id for e in events}) == 2

        message = get_message.sync(project_id="acme", message_id="typed-1", client=client)
        assert isinstance(message, models.MessageOut), message
        assert message.status == models.MessageStatus.DELIVERED
        assert message.encoding == models.Encoding.GSM_7
        assert all(isinstance(h, models.HistoryEntryOut) for h in message.history)
        assert message.history[0].event == "Requested"
        assert {"Enqueued", "Delivered"} <= {h.event for h in message.history}
        assert isinstance(message.history[0].timestamp, datetime)

        audit = get_campaign_audit.sync(project_id="acme", campaign_id="spring", client=client)
        assert isinstance(audit, models.CampaignAuditOut), audit
        assert (audit.requested, audit.enqueued, audit.delivered, audit.parts) == (1, 1, 1, 1)
        assert audit.drift == [] and audit.nps is None


def test_a_generated_client_reads_the_one_error_shape(service, generated):
    models = generated.models
    send_message = generated.operation("messages", "send_message")
    get_message = generated.operation("messages", "get_message")
    with service.client(service.admin_token) as admin:
        configure_infobip(admin, service.simulator)
    client = generated.package.AuthenticatedClient(base_url=service.url,
                                                   token=service.admin_token, timeout=30)
    with client:
        # The shape the document states, but no number in Croatia's plan: refused.
        answer = send_message.sync_detailed(
            project_id="acme", client=client,
            body=models.MessageIn(customer_id="c1", to="+3850000000", text="hi"))
        assert answer.status_code == 422
        error = answer.parsed
        assert isinstance(error, models.ErrorOut), error
        assert isinstance(error.error.details, models.ErrorDetails)
        (problem,) = error.error.details.fields
        assert isinstance(problem, models.FieldProblem)
        assert problem.field == "body" and "number" in problem.problem

        missing = get_message.sync_detailed(project_id="acme", message_id="nope",
                                            client=client)
        assert missing.status_code == 404 and isinstance(missing.parsed, models.ErrorOut)
        assert missing.parsed.error.code == "not_found"
