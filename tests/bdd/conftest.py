"""Step definitions for the delivery-lifecycle scenarios.

The scenarios drive smsledger as a platform embeds it (smsledger.SmsChannel, on each
kind of store): Infobip's reports and replies arrive as the JSON bodies Infobip
posts, a scripted provider answers the sends, and a clock moved by hand makes "4 days
pass" take a millisecond.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from pytest_bdd import given, parsers, then, when

import smsledger
from smsledger.adapters.runtime.system import ManualClock
from smsledger.application.commands import ProviderReport
from smsledger.application.ports import SendRefused, Unknown
from smsledger.domain.parts import count_parts
from support.providers import ScriptedProvider
from support.statuses import outcome, report_body


@dataclass
class World:
    channel: smsledger.SmsChannel
    clock: ManualClock
    provider: ScriptedProvider
    project_id: str = "acme"
    campaign_id: str = "spring-sale"
    message_id: str = ""
    last_report: ProviderReport | None = None
    text: str = ""
    notes: dict = field(default_factory=dict)

    def campaign_events(self):
        return self.channel.campaign_events(self.project_id, limit=1000).events

    def event(self, status):
        (event,) = [e for e in self.campaign_events() if e.status == status]
        return event


STORES = ["memory", "sqlite", "postgres"]


def pytest_generate_tests(metafunc):
    # pytest-bdd asks for step fixtures while the scenario runs, so a parametrized
    # `world` fixture is never seen at collection: parametrize each scenario instead.
    if metafunc.module.__name__.endswith(("test_scenarios", "test_two_way", "test_recovery")):
        metafunc.fixturenames.append("store_kind")
        metafunc.parametrize("store_kind", STORES)


@pytest.fixture
def world(request, tmp_path, store_kind):
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc))
    provider = ScriptedProvider()
    settings = smsledger.load_settings(database_url=_store_url(request, store_kind, tmp_path),
                                       secret_key="bdd-0123456789abcdef")
    with smsledger.bootstrap(smsledger.StaticAccounts({}), settings, provider=provider,
                             clock=clock) as channel:
        yield World(channel=channel, clock=clock, provider=provider)


def _store_url(request, store_kind: str, tmp_path) -> str:
    """Every scenario runs on each store: in memory, SQLite and PostgreSQL."""
    if store_kind == "postgres":
        return request.getfixturevalue("postgres_url")
    return "memory://" if store_kind == "memory" else f"sqlite:///{tmp_path}/bdd.db"


@given(parsers.parse('the project "{project}" runs the campaign "{campaign}"'))
def _project(world, project, campaign):
    world.project_id, world.campaign_id = project, campaign


@given(parsers.parse('Infobip refuses send requests with HTTP status {code:d} and "{comment}"'))
def _refuses(world, code, comment):
    world.provider.answer = lambda m: SendRefused(m.message_id, code, "BAD_REQUEST", comment)


@given("Infobip's answer to the send request is lost")
def _answer_lost(world):
    world.provider.answer = lambda m: Unknown(m.message_id, "connection dropped")


@when(parsers.parse('a message is sent to "{number}"'))
def _send(world, number):
    (result,) = world.channel.send(world.project_id, [smsledger.SendRequest(
        customer_id="customer-1", to=number, text="Spring sale: 20% off everything",
        campaign_id=world.campaign_id, action_id="action-1", sender="Acme")])
    world.message_id = result.message_id


def _report(world, status, error=None, done_at=None):
    world.clock.advance(timedelta(seconds=30))
    report = ProviderReport(world.message_id, outcome(
        status, error=error, done_at=done_at or world.clock.now(),
        sent_at=world.clock.now() - timedelta(seconds=30)))
    world.channel.ingest_delivery_reports(world.project_id,
                                          report_body(report.message_id, report.outcome))
    world.last_report = report


@when(parsers.re(r'Infobip reports "(?P<status>[A-Z_]+)"$'))
def _reports(world, status):
    _report(world, status)


@when(parsers.parse('Infobip reports "{status}" with the error "{error}"'))
def _reports_error(world, status, error):
    _report(world, status, error=error)


@when(parsers.parse('Infobip reports "{status}" again'))
def _reports_again(world, status):
    assert world.last_report.outcome.status_name == status
    report = world.last_report
    world.channel.ingest_delivery_reports(world.project_id,
                                          report_body(report.message_id, report.outcome))


@when(parsers.parse('Infobip reports "{status}" from before the delivery'))
def _reports_older(world, status):
    _report(world, status, done_at=world.last_report.outcome.done_at - timedelta(seconds=10))


@when(parsers.re(r"(?P<days>\d+) days? pass(es)?"))
def _days_pass(world, days):
    world.clock.advance(timedelta(days=int(days)))
    world.channel.close_due_windows()


@when("5 days pass before the window job runs")
def _days_pass_without_the_job(world):
    world.clock.advance(timedelta(days=5))


@when("an hour passes")
def _an_hour_passes(world):
    world.notes["sent_at"] = world.clock.now()
    world.clock.advance(timedelta(hours=1))


@then(parsers.parse('the campaign audited as of half an hour after the send counts 1 "{key}"'))
def _audited_as_of(world, key):
    moment = world.notes["sent_at"] + timedelta(minutes=30)
    assert world.channel.audit(world.project_id, world.campaign_id, as_of=moment).counts[key] == 1


@then(parsers.parse('the campaign audited now counts 1 "{key}"'))
def _audited_now(world, key):
    audit = world.channel.audit(world.project_id, world.campaign_id)
    assert audit.counts[key] == 1 and audit.drift == []


@when(parsers.parse('the project maps the "campaign" event to "{name}"'))
def _maps(world, name):
    world.channel.rename_campaign_event(world.project_id, name, changed_by="admin-token")


@then(parsers.parse('the message is "{status}"'))
def _status_is(world, status):
    assert world.channel.message(world.project_id, world.message_id).status == status


@then(parsers.parse('the campaign events are "{statuses}"'))
def _campaign_events_are(world, statuses):
    assert [e.status for e in world.campaign_events()] == [s.strip() for s in statuses.split(",")]


@then(parsers.parse('the "{status}" event has the status code {code:d}'))
def _status_code(world, status, code):
    assert world.event(status).properties["status_code"] == code


@then(parsers.parse('the "{status}" event has the error "{error}"'))
def _error(world, status, error):
    assert world.event(status).properties["error"] == error


@then(parsers.parse('the "{status}" event has the comment "{comment}"'))
def _comment(world, status, comment):
    assert world.event(status).properties["comment"] == comment


@then(parsers.parse('the history records the pending report as "{effect}"'))
def _history_effect(world, effect):
    history = world.channel.message(world.project_id, world.message_id).history
    noted = [h.details["effect"] for h in history if h.event == "ReportNoted"]
    assert effect in noted


@then(parsers.parse('its waiting window closed as "{how}"'))
def _window_closed(world, how):
    view = world.channel.message(world.project_id, world.message_id)
    assert view.window_closed == how.replace(" ", "_")


@then("the delivery is marked late")
def _late(world):
    assert world.channel.message(world.project_id, world.message_id).late


@then(parsers.parse('the campaign event feed shows events named "{name}"'))
def _feed_names(world, name):
    events = world.campaign_events()
    assert events and {e.to_dict()["event"] for e in events} == {name}


@given(parsers.parse('a text of {count:d} times "{character}" and {emoji:d} emoji'),
       target_fixture="text")
def _text(count, character, emoji):
    return character * count + "😀" * emoji


@then(parsers.parse("it takes {parts:d} {noun} in {encoding}"))
def _takes(text, parts, noun, encoding):
    counted = count_parts(text)
    assert (counted.parts, counted.encoding.value) == (parts, encoding)
