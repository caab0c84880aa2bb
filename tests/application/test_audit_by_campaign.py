"""The audit replays only its campaign's events, found through the campaign index,
and the index misses nothing: every campaign audited through it equals the same
campaign replayed from the whole store, on every store.

The store is generated (seeded, so a failure repeats): several projects and
campaigns, some of the same name in different projects, messages without a
campaign, every kind of send answer and report, repeated and late reports, windows
closed, and replies to an NPS survey, several from one respondent."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest

from smsledger.application.commands import InboundSms, ProviderReport, SendRequest
from smsledger.application.ports import Accepted, SendRefused, Unknown
from smsledger.application.projections import CAMPAIGN_INDEX
from support.statuses import outcome

OUR_NUMBER = "385991234567"
PROJECTS = ("acme", "globex")
CAMPAIGNS = ("spring", "summer", "survey", None)
REPORTS = ("DELIVERED_TO_HANDSET", "UNDELIVERABLE_NOT_DELIVERED", "REJECTED_NETWORK",
           "PENDING_ENROUTE", "EXPIRED_EXPIRED")


def configure(ledger, project):
    ledger.projects.create_project(project)
    ledger.projects.configure_integration(project, "infobip", base_url="https://x.example",
                                          api_key="k" * 16, senders=[OUR_NUMBER],
                                          default_sender=OUR_NUMBER, changed_by="t")
    ledger.projects.choose_default_provider(project, "infobip", changed_by="t")
    ledger.projects.mark_nps_survey(project, "survey", changed_by="t")


def generate(ledger, provider, clock, seed, messages=120):
    """A store of `messages` messages with mixed fates; returns (project, campaign) of each."""
    rng = random.Random(seed)
    for project in PROJECTS:
        configure(ledger, project)
    answers = {"accept": lambda m: Accepted(m.message_id, parts=rng.choice((1, 2))),
               "refuse": lambda m: SendRefused(m.message_id, 400, "BAD_REQUEST", "bad"),
               "unknown": lambda m: Unknown(m.message_id, "timeout")}
    sent: list[tuple[str, str | None, str, str]] = []  # project, campaign, id, number
    for index in range(messages):
        project, campaign = rng.choice(PROJECTS), rng.choice(CAMPAIGNS)
        number = f"+38592{rng.randrange(20):07d}"  # few numbers: replies find many messages
        provider.answer = answers[rng.choices(list(answers), (8, 1, 1))[0]]
        (result,) = ledger.send(project, [SendRequest(customer_id=f"c{index}", to=number,
                                                      text="Hi", campaign_id=campaign)])
        sent.append((project, campaign, result.message_id, number))
        clock.advance(timedelta(seconds=rng.randrange(1, 60)))
        if rng.random() < 0.3:  # reports (repeated, conflicting, out of order) so far
            project_of, _, message_id, _ = rng.choice(sent)
            ledger.record_reports(project_of, [
                ProviderReport(message_id, outcome(rng.choice(REPORTS), done_at=clock.now()))
                for _ in range(rng.randrange(1, 4))])
        if rng.random() < 0.15:  # a reply, scored when it answers the survey
            project_of, _, _, number = rng.choice(sent)
            ledger.record_inbound(project_of, "infobip", [InboundSms(
                message_id=f"mo-{index}", sender=number.lstrip("+"), to=OUR_NUMBER,
                text=str(rng.randrange(11)))])
        if rng.random() < 0.02:
            clock.advance(timedelta(days=4))  # windows close, later reports are late
            ledger.close_due_windows()
    return Counter((project, campaign) for project, campaign, _, _ in sent)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_campaign_audited_through_the_index_equals_the_whole_store_replay(
        ledger, provider, clock, seed):
    sizes = generate(ledger, provider, clock, seed)
    campaigns = [(p, c) for p, c in sizes if c is not None]
    assert len(campaigns) >= 5, "the generated store should hold several campaigns"
    for project, campaign in campaigns:
        by_index = ledger.audit(project, campaign)
        whole = ledger.audit(project, campaign, whole_store=True)
        assert by_index == whole, (project, campaign)
        assert by_index.counts["requested"] == sizes[(project, campaign)]
        assert by_index.drift == []
    # Every message with a campaign is in exactly one campaign's audit.
    assert sum(ledger.audit(p, c).counts["requested"] for p, c in campaigns) == sum(
        n for (_, c), n in sizes.items() if c is not None)
    assert any(ledger.audit(p, "survey").nps for p in PROJECTS if (p, "survey") in sizes)


def test_as_of_through_the_index_equals_the_whole_store_replay(ledger, provider, clock):
    generate(ledger, provider, clock, seed=7)
    middle = clock.now() - timedelta(hours=1)
    for project in PROJECTS:
        assert ledger.audit(project, "spring", as_of=middle) == ledger.audit(
            project, "spring", as_of=middle, whole_store=True)


def test_the_audit_reads_only_its_campaigns_events(ledger, provider, clock, monkeypatch):
    """Its cost follows the campaign: a 3-message campaign beside 100 other messages
    decodes the events of those 3 messages only."""
    configure(ledger, "acme")
    for index in range(100):
        ledger.send("acme", [SendRequest(customer_id="c", to=f"+3859200{index:05d}",
                                         text="Hi", campaign_id="big")])
    small = [ledger.send("acme", [SendRequest(customer_id="c", to="+385921110000", text="Hi",
                                              campaign_id="small")])[0].message_id
             for _ in range(3)]
    ledger.record_reports("acme", [ProviderReport(m, outcome("DELIVERED_TO_HANDSET",
                                                             done_at=clock.now()))
                                   for m in small])
    ledger.audit("acme", "small")  # the index caught up: what follows is the replay alone
    decoded = []
    decode = ledger.store.decoder.decode_state
    monkeypatch.setattr(ledger.store.decoder, "decode_state",
                        lambda state: decoded.append(state) or decode(state))
    audit = ledger.audit("acme", "small")
    assert (audit.counts["requested"], audit.counts["delivered"]) == (3, 3)
    assert len(decoded) == 3 * 3  # requested, enqueued, delivered of each


def test_the_index_rebuilt_from_position_zero_misses_nothing(
        ledger, provider, clock):
    """As on a store written before the index existed, whose first audit builds it
    from position zero."""
    sizes = generate(ledger, provider, clock, seed=11, messages=60)
    ledger.rebuild_projection(CAMPAIGN_INDEX)  # a fresh view, filled from zero
    for (project, campaign), size in sizes.items():
        if campaign is not None:
            assert ledger.audit(project, campaign).counts["requested"] == size
