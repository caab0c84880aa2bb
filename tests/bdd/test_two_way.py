"""Step definitions for the two-way scenarios (features/two_way.feature); the world
(smsledger.SmsChannel, scripted provider, hand-moved clock) comes from conftest.py."""

from __future__ import annotations

import itertools
from datetime import timedelta

from pytest_bdd import given, parsers, scenarios, then, when

from smsledger import SendRequest
from smsledger.domain.errors import InvalidInput
from support.statuses import inbound_body, outcome, report_body

scenarios("two_way.feature")

OUR_NUMBER = "+385991234567"
_inbound_ids = itertools.count(1)


@given(parsers.parse('the project "{project}" sends from the number "{number}"'))
def _project_number(world, project, number):
    world.project_id = project
    projects = world.channel.projects
    projects.create_project(project)
    projects.configure_integration(project, "infobip", base_url="https://xyz.api.infobip.com",
                                   api_key="k" * 32, senders=[number.lstrip("+"), "Acme"],
                                   default_sender=number.lstrip("+"), changed_by="test")
    projects.choose_default_provider(project, "infobip", changed_by="test")


@given(parsers.parse('the project\'s default sender is the name "{name}"'))
def _default_sender_a_name(world, name):
    projects = world.channel.projects
    projects.configure_integration(world.project_id, "infobip",
                                   base_url="https://xyz.api.infobip.com", api_key="k" * 32,
                                   senders=[name, OUR_NUMBER.lstrip("+")], default_sender=name,
                                   changed_by="test")


@given(parsers.parse('"{number}" has agreed to "{category}" messages'))
def _agreed(world, number, category):
    world.channel.grant_consent(world.project_id, number, category, customer_id="customer-1")


@given(parsers.parse('the campaign "{campaign}" is an NPS survey'))
def _nps(world, campaign):
    world.channel.projects.mark_nps_survey(world.project_id, campaign, changed_by="test")


@when(parsers.parse('the campaign "{campaign}" sends a message to "{number}"'))
def _campaign_sends(world, campaign, number):
    (result,) = world.channel.send(world.project_id, [SendRequest(
        customer_id="customer-1", to=number, text="Hello from Acme", campaign_id=campaign,
        consent_category="sms_marketing")])
    assert result.status == "enqueued", result
    world.message_id = result.message_id


@when(parsers.parse('"{number}" replies "{text}"'))
def _replies(world, number, text):
    world.clock.advance(timedelta(minutes=5))
    world.notes["sent_before_reply"] = len(world.provider.sent)
    world.channel.ingest_inbound(world.project_id, "infobip", inbound_body(
        f"mo-{next(_inbound_ids)}", sender=number.lstrip("+"), to=OUR_NUMBER.lstrip("+"),
        text=text, received_at=world.clock.now()))


@when(parsers.parse('a double opt-in to "{category}" is requested for "{number}"'))
def _double_opt_in(world, category, number):
    world.channel.request_double_opt_in(world.project_id, number, category,
                                       customer_id="customer-2")


@when(parsers.parse('a double opt-in to "{category}" is requested for "{number}" from '
                   '"{sender}"'))
def _double_opt_in_from(world, category, number, sender):
    world.notes["sent_before"] = len(world.provider.sent)
    try:
        world.channel.request_double_opt_in(world.project_id, number, category,
                                           customer_id="customer-2", sender=sender)
    except InvalidInput as refusal:
        world.notes["refusal"] = refusal


@when(parsers.re(r"(?P<hours>\d+) hours pass"))
def _hours_pass(world, hours):
    world.clock.advance(timedelta(hours=int(hours)))
    world.channel.close_due_windows()  # the periodic maintenance: expires opt-ins too


@when(parsers.parse('a "{category}" message is sent to "{number}"'))
def _marketing_send(world, category, number):
    world.notes["sent_before"] = len(world.provider.sent)
    (world.notes["result"],) = world.channel.send(world.project_id, [SendRequest(
        customer_id="c", to=number, text="Sale!", consent_category=category)])


@when(parsers.parse('a transactional message is sent to "{number}"'))
def _transactional_send(world, number):
    world.notes["sent_before"] = len(world.provider.sent)
    (world.notes["result"],) = world.channel.send(world.project_id, [SendRequest(
        customer_id="c", to=number, text="Your order has shipped")])


@when(parsers.parse('Infobip reports it undeliverable with the permanent error "{error}"'))
def _permanent_error(world, error):
    world.channel.ingest_delivery_reports(world.project_id, report_body(world.message_id, outcome(
        "UNDELIVERABLE_NOT_DELIVERED", error=error, done_at=world.clock.now())))


@when(parsers.parse('the number "{number}" is revalidated'))
def _revalidate(world, number):
    world.channel.revalidate_number(world.project_id, number, changed_by="test")


@then(parsers.parse('the consent of "{number}" to "{category}" is "{status}"'))
def _consent_is(world, number, category, status):
    assert world.channel.consent(world.project_id, number, category).status == status


@then(parsers.parse('an automatic answer saying "{words}" was sent to "{number}"'))
def _answered(world, words, number):
    answers = world.provider.sent[world.notes["sent_before_reply"]:]
    assert [(m.to, m.sender) for m in answers] == [(number, OUR_NUMBER.lstrip("+"))]
    assert words in answers[0].content.text


@then("no automatic answer was sent")
def _no_answer(world):
    assert world.provider.sent[world.notes["sent_before_reply"]:] == []


def _incoming(world):
    return [e for e in world.campaign_events() if e.status == "incoming_message"]


@then(parsers.parse('the feed shows the reply "{text}" as an "incoming_message" of the campaign '
                    '"{campaign}"'))
def _feed_reply(world, text, campaign):
    replies = [e for e in _incoming(world) if e.properties["message"] == text]
    assert len(replies) == 1
    assert replies[0].properties["campaign_id"] == campaign
    assert replies[0].customer_id == "customer-1"


@then(parsers.parse('the reply "{text}" is recorded without a campaign'))
def _unattributed(world, text):
    (reply,) = [e for e in _incoming(world) if e.properties["message"] == text]
    assert reply.properties["campaign_id"] is None and reply.customer_id is None


@then(parsers.parse('a confirmation SMS was sent to "{number}"'))
def _confirmation(world, number):
    assert world.provider.sent[-1].to == number
    assert "Reply YES" in world.provider.sent[-1].content.text


@then(parsers.parse('a confirmation SMS was sent to "{number}" from "{sender}"'))
def _confirmation_from(world, number, sender):
    _confirmation(world, number)
    assert world.provider.sent[-1].sender == sender.lstrip("+")


@then(parsers.parse('the request is refused because "{words}"'))
def _request_refused(world, words):
    assert words in str(world.notes["refusal"])
    assert len(world.provider.sent) == world.notes["sent_before"]


@then(parsers.parse('the feed shows the consent steps "{steps}" for "{number}"'))
def _consent_steps(world, steps, number):
    shown = [e.status for e in world.campaign_events()
             if e.status.startswith("consent_") and e.properties["recipient"] == number]
    assert shown == [s.strip() for s in steps.split(",")]


@then(parsers.parse('the feed shows no consent step for "{number}"'))
def _no_consent_steps(world, number):
    assert [e.status for e in world.campaign_events()
            if e.status.startswith("consent_") and e.properties["recipient"] == number] == []


@then(parsers.parse('the send is refused with "{code}"'))
def _refused(world, code):
    result = world.notes["result"]
    assert (result.status, result.detail) == ("refused", code)


@then("nothing was sent to Infobip")
def _nothing_sent(world):
    assert len(world.provider.sent) == world.notes["sent_before"]


@then("it was sent")
def _it_was_sent(world):
    assert world.notes["result"].status == "enqueued"
    assert len(world.provider.sent) == world.notes["sent_before"] + 1


@then(parsers.parse("the reply is scored {score:d}"))
def _scored(world, score):
    assert _incoming(world)[-1].properties["nps_score"] == score


@then(parsers.parse('the audit of "{campaign}" reports an NPS of {score:d} from {responses:d} '
                    'response'))
def _audit_nps(world, campaign, score, responses):
    nps = world.channel.audit(world.project_id, campaign).nps
    assert (nps["score"], nps["responses"]) == (score, responses)
