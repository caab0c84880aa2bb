"""Steps of features/recovery.feature: smsledger embedded with the real Infobip adapter,
talking to the simulator over HTTP, whose webhook calls never reach us (reports are
kept for pulling, as Infobip keeps them). The maintenance round runs with every
waiting time at zero, as `smsledger maintenance --once --older-than 0` does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

import smsledger
from smsledger.adapters.infobip.addresses import ProviderAddresses
from smsledger.adapters.infobip.provider import InfobipProvider, RetryPolicy
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.domain.content import SmsContent
from smsledger.domain.message import Message
from smsledger.domain.phone import PhoneNumber
from support.wiring import ledger_of
from bdd.conftest import World, _store_url

scenarios("recovery.feature")

API_KEY = "bdd-recovery-key"


@pytest.fixture
def simulator():
    with InfobipSimulator(SimulatorConfig(api_key=API_KEY, report_delay=0.05)) as running:
        yield running


@pytest.fixture
def world(request, tmp_path, store_kind, simulator):
    """Overrides the scenarios' world: the real adapter instead of a scripted one."""
    accounts = smsledger.StaticAccounts({("acme", "default"): smsledger.InfobipAccount(
        base_url=simulator.base_url, api_key=API_KEY, delivery_webhook_url=None)})
    loopback = ProviderAddresses(allow_private_networks=True)  # the simulator's address
    provider = InfobipProvider(accounts, addresses=loopback, retry=RetryPolicy(
        max_attempts=2, base_delay=0.01, max_delay=0.02))
    settings = smsledger.load_settings(
        database_url=_store_url(request, store_kind, tmp_path), secret_key="bdd-0123456789abcdef",
        allow_private_networks=True, max_send_attempts=3)
    with smsledger.bootstrap(accounts, settings, provider=provider) as channel:
        yield World(channel=channel, clock=None, provider=None)


@given(parsers.parse('the project "{project}" sends through Infobip, whose webhook calls '
                     'never reach us'))
def _project(world, project):
    world.project_id = project


@given(parsers.parse('a message to "{number}" was stored, but the service stopped before '
                     'handing it to Infobip'))
def _stored_only(world, number):
    world.message_id = "crashed-1"
    ledger_of(world.channel).store.save(Message.request(
        project_id=world.project_id, message_id=world.message_id, integration_id="default",
        customer_id="customer-1", recipient=PhoneNumber.parse(number),
        content=SmsContent("Spring sale"), sender="Acme", campaign_id=world.campaign_id,
        action_id=None, requested_at=datetime.now(timezone.utc) - timedelta(minutes=5)))


@when(parsers.parse('an MMS is sent to "{number}"'))
def _send_mms(world, number):
    (result,) = world.channel.send(world.project_id, [smsledger.SendRequest(
        customer_id="customer-1", to=number, title="Flash sale", text="50% off",
        media_urls=("https://cdn.example/p.png",), campaign_id=world.campaign_id)])
    world.message_id = result.message_id


@when("Infobip has delivered it, but its report never came")
def _delivered_unreported(world, simulator):
    assert simulator.wait_until_idle(timeout=10)


@when(parsers.re(r"the maintenance round runs(?: again)?$"))
def _round(world):
    world.notes.setdefault("rounds", []).append(
        world.channel.run_maintenance(older_than=timedelta(0)))


@when(parsers.parse("the maintenance round runs {times:d} times"))
def _rounds(world, times):
    for _ in range(times):
        _round(world)


@then(parsers.parse("Infobip received the message {times:d} time"))
def _received(world, simulator, times):
    assert simulator.sent_message_ids().count(world.message_id) == times


@then(parsers.parse("Infobip was asked to send it {times:d} times, always under the same id"))
def _asked(world, simulator, times):
    history = world.channel.message(world.project_id, world.message_id).history
    assert [h.event for h in history].count("HandedOver") == times
    asked = {d["messageId"] for r in simulator.requests if isinstance(r.body, dict)
             for m in r.body.get("messages", []) for d in m.get("destinations", [])}
    assert asked == {world.message_id}
