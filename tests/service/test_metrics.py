"""The metrics that tell (issue 17): Infobip calls, retries, 429s and errors per
integration, reports by effect, send refusals by reason, background job runs, and a
/metrics that Prometheus' own linter (`promtool check metrics`) passes after a
demo-sized campaign through `smsledger serve`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from smsledger.adapters.cli.demo import campaign_recipients
from smsledger.adapters.http.metrics import ServiceMetrics
from smsledger.adapters.infobip.accounts import InfobipAccount, StaticAccounts
from smsledger.adapters.infobip.addresses import ProviderAddresses
from smsledger.adapters.infobip.provider import InfobipProvider
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.application.ports import Accepted, OutgoingMessage, Unknown
from smsledger.domain.content import SmsContent
from support.serve_process import CLI, Service, free_port
from support.waiting import wait_for

from service.conftest import SIMULATOR_KEY, configure_infobip

CROATIA = "+3859212300"  # + the simulator's two magic digits


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels`."""
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == name and labels.items() <= sample.labels.items())


def names(text: str) -> set[str]:
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples}


def outgoing(integration: str, message_id: str, to: str) -> OutgoingMessage:
    return OutgoingMessage(project_id="acme", integration_id=integration, message_id=message_id,
                           to=to, sender="Acme", content=SmsContent("Spring sale"))


def test_infobip_requests_retries_429s_and_errors_are_counted_per_integration():
    metrics = ServiceMetrics()
    with InfobipSimulator(SimulatorConfig(api_key=SIMULATOR_KEY)) as simulator:
        closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        accounts = StaticAccounts({
            ("acme", "main"): InfobipAccount(simulator.base_url, SIMULATOR_KEY),
            ("acme", "backup"): InfobipAccount(simulator.base_url, SIMULATOR_KEY),
            ("acme", "gone"): InfobipAccount(closed, SIMULATOR_KEY)})
        provider = InfobipProvider(accounts, observer=metrics, sleep=lambda seconds: None,
                                   addresses=ProviderAddresses(allow_private_networks=True))
        with provider:
            # One request each: a fault in the simulator takes down its whole request.
            assert provider.send([outgoing("main", "m-1", CROATIA + "00")])[0] == Accepted(
                "m-1", parts=1)
            assert isinstance(provider.send([outgoing("main", "m-2", CROATIA + "92")])[0],
                              Accepted)  # 429 first, then accepted
            assert isinstance(provider.send([outgoing("backup", "m-3", CROATIA + "90")])[0],
                              Accepted)  # 500 first, then accepted
            assert isinstance(provider.send([outgoing("gone", "m-4", CROATIA + "00")])[0],
                              Unknown)  # never connects: four attempts
    text = metrics.render().decode()
    endpoint = "/sms/3/messages"
    assert value(text, "smsledger_infobip_requests_total", integration="main",
                 outcome="200") == 2
    assert value(text, "smsledger_infobip_requests_total", integration="main",
                 outcome="429") == 1
    assert value(text, "smsledger_infobip_throttled_total", integration="main") == 1
    assert value(text, "smsledger_infobip_throttled_total", integration="backup") == 0
    assert value(text, "smsledger_infobip_retries_total", integration="main",
                 endpoint=endpoint, reason="429") == 1
    assert value(text, "smsledger_infobip_retries_total", integration="backup",
                 reason="500") == 1
    assert value(text, "smsledger_infobip_errors_total", integration="backup",
                 kind="server_error") == 1
    assert value(text, "smsledger_infobip_errors_total", integration="main") == 0  # 429: throttled
    assert value(text, "smsledger_infobip_errors_total", integration="gone",
                 kind="connect_error") == 4
    assert value(text, "smsledger_infobip_retries_total", integration="gone",
                 reason="connect_error") == 3
    # Every request, answered or not, is timed once.
    for integration, requests in (("main", 3), ("backup", 2), ("gone", 4)):
        assert value(text, "smsledger_infobip_request_seconds_count",
                     integration=integration, endpoint=endpoint) == requests
    assert not [name for name in names(text) if name.endswith("_created")]


def test_refusal_reasons_are_label_values_without_spaces():
    from smsledger.application.views import SendResult

    metrics = ServiceMetrics()
    metrics.record_sends([
        SendResult("m-1", "refused", 0, detail="consent_missing"),
        SendResult("m-2", "refused", 0, detail="number_invalid"),
        SendResult("m-3", "invalid", 0, detail="not a number", error="invalid_message"),
        SendResult("m-4", "refused", 0, detail="Some Future Reason!"),
        SendResult("m-5", "enqueued", 1)])
    text = metrics.render().decode()
    reasons = {sample.labels["reason"]: sample.value
               for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "smsledger_send_refusals_total"}
    assert reasons == {"consent_missing": 1, "number_invalid": 1, "invalid_message": 1,
                       "some_future_reason": 1}
    assert value(text, "smsledger_messages_sent_total", status="enqueued") == 1


# --- the served /metrics after a demo-sized campaign, linted by promtool ----------------

def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is required in CI (.ci/run installs Debian's prometheus)")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


@pytest.fixture
def served(tmp_path):
    """`smsledger serve` (one process, background work on) with the simulator as
    Infobip, acme configured to send through it."""
    env = {**os.environ, "SMSLEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/store.db",
           "SMSLEDGER_SECRET_KEY": "metrics-test-0123456789abcdef",
           "SMSLEDGER_ALLOW_PRIVATE_NETWORKS": "true"}
    admin = json.loads(subprocess.run([*CLI, "projects", "create", "acme"], env=env,
                                      cwd=tmp_path, capture_output=True, text=True,
                                      check=True).stdout)["admin_token"]
    config = SimulatorConfig(api_key=SIMULATOR_KEY, report_delay=0.05, late_report_delay=0.5,
                             retry_after_seconds=0)
    service = Service(tmp_path, env, free_port())
    with InfobipSimulator(config) as simulator:
        service.start()
        try:
            with httpx.Client(base_url=service.base, timeout=60,
                              headers={"Authorization": f"Bearer {admin}"}) as client:
                secret = configure_infobip(client, simulator)["webhooks"]["secret"]
                # Infobip forwards the customers' replies to the inbound webhook.
                simulator.config = replace(simulator.config, inbound_webhook_url=(
                    f"http://infobip:{secret}@127.0.0.1:{service.port}"
                    f"/v1/webhooks/infobip/acme/infobip/inbound"))
                yield client, simulator
        finally:
            service.stop()


def test_the_served_metrics_pass_promtool_after_a_demo_sized_campaign(served):
    checker = promtool()
    client, simulator = served
    # The demo's campaign (300 recipients: every outcome the simulator has), a 429 and a
    # 500 from Infobip, and two sends the policy refuses.
    recipients = [number for number, _ in campaign_recipients(300)]
    # From the long number: customers can reply to it (the simulator's 85-88 do).
    batch = [{"customer_id": f"c-{i}", "to": number, "text": "Spring sale",
              "campaign_id": "spring", "sender": "385991234567"}
             for i, number in enumerate(recipients)]
    sent = client.post("/v1/projects/acme/messages/batch", json={"messages": batch})
    assert sent.status_code == 202, sent.text
    for suffix in ("92", "90"):
        alone = client.post("/v1/projects/acme/messages", json={
            "customer_id": "c-fault", "to": CROATIA + suffix, "text": "Spring sale"})
        assert alone.status_code == 202, alone.text
    refused = client.post("/v1/projects/acme/messages/batch", json={"messages": [
        {"customer_id": "c-x", "to": CROATIA + "01", "text": "Hi",
         "consent_category": "sms_marketing"},
        {"customer_id": "c-y", "to": "not a number", "text": "Hi"}]})
    assert [m["status"] for m in refused.json()["messages"]] == ["refused", "invalid"]
    assert simulator.wait_until_idle(timeout=60)

    statuses = [m["status"] for m in sent.json()["messages"]]

    def after_a_maintenance_round() -> str | None:
        scraped = client.get("/metrics").text
        ran = value(scraped, "smsledger_background_job_runs_total", job="maintenance")
        return scraped if ran >= 1 else None

    text = wait_for(after_a_maintenance_round, timeout=30, what="a maintenance round")

    lint = subprocess.run([checker, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == "" and lint.stderr.strip() == "", lint.stdout + lint.stderr

    assert not [name for name in names(text) if name.endswith("_created")]
    assert value(text, "smsledger_messages_sent_total") == len(statuses) + 2 + 2
    assert value(text, "smsledger_messages_sent_total", status="enqueued") == (
        statuses.count("enqueued") + 2)
    assert value(text, "smsledger_send_refusals_total", reason="consent_missing") == 1
    assert value(text, "smsledger_send_refusals_total", reason="invalid_message") == 1
    # What the webhooks took in: a final report per message that got one changed its
    # status; the duplicates and the out-of-order ones were noted.
    reported = sum(1 for status in statuses if status == "enqueued") - sum(
        1 for number in recipients if number[-2:] in ("70", "80") or number.startswith(
            ("+49", "+55")))
    assert value(text, "smsledger_delivery_reports_total", effect="applied") >= reported
    assert value(text, "smsledger_delivery_reports_total", effect="noted") > 0
    assert value(text, "smsledger_delivery_reports_total", effect="quarantined") == 0
    assert value(text, "smsledger_inbound_messages_total", effect="applied") >= 1
    # Infobip, through the service's own wiring: one batch request, then the faults.
    assert value(text, "smsledger_infobip_throttled_total", integration="infobip") == 1
    assert value(text, "smsledger_infobip_errors_total", integration="infobip",
                 kind="server_error") == 1
    assert value(text, "smsledger_infobip_retries_total", integration="infobip") == 2
    assert value(text, "smsledger_infobip_request_seconds_count", integration="infobip") == (
        value(text, "smsledger_infobip_requests_total", integration="infobip"))
    for job in ("projections", "maintenance", "subscriptions"):
        assert value(text, "smsledger_background_job_runs_total", job=job) >= 1, job
        assert value(text, "smsledger_background_job_failures_total", job=job) == 0, job
    lags = [sample for family in text_string_to_metric_families(text)
            for sample in family.samples if sample.name == "smsledger_projection_events_behind"]
    assert lags and all(set(sample.labels) == {"projection"} for sample in lags)
