import gc
from datetime import timedelta

import pytest

from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.errors import CampaignNotFound
from smsledger.application.ports import SendRefused, Unknown
from smsledger.domain.outcome import Price
from support.statuses import outcome

HR, DE = "+385921234567", "+4915123456789"


def send(ledger, to=HR, campaign="spring"):
    (result,) = ledger.send("acme", [SendRequest(customer_id="c", to=to, text="Hi", campaign_id=campaign)])
    return result.message_id


def priced(status, clock, **kwargs):
    from dataclasses import replace
    return replace(outcome(status, done_at=clock.now(), **kwargs), price=Price("0.01", "EUR"))


def test_the_funnel_adds_up(ledger, clock, provider):
    delivered, failed, rejected, _silent, _german = (send(ledger), send(ledger), send(ledger),
                                                   send(ledger), send(ledger, DE))
    provider.answer = lambda m: SendRefused(m.message_id, 400, "BAD_REQUEST", "bad")
    send(ledger)
    provider.answer = lambda m: Unknown(m.message_id, "timeout")
    send(ledger)
    send(ledger, campaign="other")
    ledger.record_reports("acme", [
        ProviderReport(delivered, priced("DELIVERED_TO_HANDSET", clock, parts=2)),
        ProviderReport(failed, priced("UNDELIVERABLE_NOT_DELIVERED", clock, error="EC_ABSENT_SUBSCRIBER_SM")),
        ProviderReport(rejected, priced("REJECTED_NETWORK", clock)),
    ])
    clock.advance(timedelta(days=4))
    ledger.close_due_windows()
    counts = ledger.audit("acme", "spring").counts
    assert counts == {"requested": 7, "unresolved": 1, "enqueued": 5, "enqueue_failed": 1,
                      "delivered": 1, "rejected": 1, "failed": 1, "pending": 0,
                      "no_report_expected": 1, "no_report_received": 1, "late": 0}
    audit = ledger.audit("acme", "spring")
    assert audit.parts == 6  # 2 + 1 + 1 + 1 + 1 for the enqueued ones
    assert audit.cost == {"EUR": "0.04"}  # 0.01 x 2 parts + 0.01 + 0.01


def test_as_of_gives_the_earlier_picture(ledger, clock):
    message_id = send(ledger)
    before_report = clock.now()
    clock.advance(timedelta(hours=1))
    ledger.record_reports("acme", [ProviderReport(message_id, outcome("DELIVERED_TO_HANDSET", done_at=clock.now()))])
    assert ledger.audit("acme", "spring", as_of=before_report).counts["pending"] == 1
    assert ledger.audit("acme", "spring").counts["delivered"] == 1


def test_late_reports_are_counted_once_in_their_final_status_and_as_late(ledger, clock):
    message_id = send(ledger)
    clock.advance(timedelta(days=5))
    ledger.close_due_windows()
    ledger.record_reports("acme", [ProviderReport(message_id, outcome("DELIVERED_TO_HANDSET", done_at=clock.now()))])
    counts = ledger.audit("acme", "spring").counts
    assert (counts["delivered"], counts["late"], counts["no_report_received"]) == (1, 1, 0)


def test_another_projects_campaign_of_the_same_name_is_not_counted(ledger):
    send(ledger)
    ledger.send("globex", [SendRequest(customer_id="c", to=HR, text="Hi", campaign_id="spring")])
    assert ledger.audit("acme", "spring").counts["requested"] == 1


def test_a_campaign_no_message_was_requested_for_is_not_found(ledger):
    """A typo gets an error, not a believable all-zero funnel."""
    send(ledger)
    with pytest.raises(CampaignNotFound):
        ledger.audit("acme", "sprign")
    with pytest.raises(CampaignNotFound):
        ledger.audit("globex", "spring")  # embedded: projects are known by their messages


def test_the_replay_leaves_the_cycle_collector_as_it_found_it(ledger, monkeypatch):
    send(ledger)
    assert gc.isenabled()
    ledger.audit("acme", "spring")
    assert gc.isenabled()

    def broken_store(*_):
        assert not gc.isenabled()  # paused while the replay reads
        raise RuntimeError("store went away")

    monkeypatch.setattr(ledger.store.rows, "select_event_rows", broken_store)
    with pytest.raises(RuntimeError, match="store went away"):
        ledger.audit("acme", "spring")
    assert gc.isenabled()
    monkeypatch.setattr(ledger.store, "notification_rows", broken_store)
    with pytest.raises(RuntimeError, match="store went away"):
        ledger.audit("acme", "spring", whole_store=True)
    assert gc.isenabled()


def test_overlapping_replays_turn_the_collector_back_on_only_when_the_last_ends():
    from smsledger.application.audit import cycle_collector_paused as _cycle_collector_paused

    first, second = _cycle_collector_paused(), _cycle_collector_paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # the second replay still runs
    second.__exit__(None, None, None)
    assert gc.isenabled()
