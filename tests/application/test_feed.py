import pytest

from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.errors import MessageNotFound
from smsledger.domain.errors import InvalidEventName
from support.statuses import outcome


def send_many(ledger, project, n):
    return [r.message_id for r in ledger.send(project, [
        SendRequest(customer_id=f"c-{i}", to="+385921234567", text="Hi", campaign_id="spring")
        for i in range(n)])]


def test_the_feed_pages_with_a_cursor_and_misses_nothing(ledger):
    ids = send_many(ledger, "acme", 7)
    ledger.record_reports("acme", [ProviderReport(i, outcome("DELIVERED_TO_HANDSET")) for i in ids])
    seen, cursor = [], 0
    while True:
        page = ledger.campaign_events("acme", after=cursor, limit=3)
        if not page.events:
            break
        assert len(page.events) <= 3
        seen += page.events
        cursor = page.next
    assert len(seen) == 14
    assert len({e.event_id for e in seen}) == 14
    assert [e.position for e in seen] == sorted(e.position for e in seen)


def test_a_project_sees_only_its_own_events(ledger):
    send_many(ledger, "acme", 2)
    send_many(ledger, "globex", 3)
    assert len(ledger.campaign_events("acme").events) == 2
    assert {e.project_id for e in ledger.campaign_events("globex").events} == {"globex"}


def test_a_rename_applies_to_events_read_after_it(ledger):
    send_many(ledger, "acme", 1)
    assert ledger.campaign_events("acme").events[0].name == "campaign"
    ledger.rename_campaign_event("acme", "sms_status", changed_by="token-1")
    assert ledger.campaign_events("acme").events[0].name == "sms_status"
    assert ledger.campaign_event_name("globex") == "campaign"


def test_names_from_the_configuration_file_apply_until_changed(make_ledger):
    ledger = make_ledger(campaign_event_names={"acme": "users.messages.sms.Delivery"})
    send_many(ledger, "acme", 1)
    assert ledger.campaign_events("acme").events[0].name == "users.messages.sms.Delivery"
    ledger.rename_campaign_event("acme", "Delivered", changed_by="admin")
    assert ledger.campaign_event_name("acme") == "Delivered"


@pytest.mark.parametrize("bad", ["", " campaign", "x" * 129, "drop;table", None])
def test_an_invalid_event_name_is_refused(ledger, bad):
    with pytest.raises(InvalidEventName):
        ledger.rename_campaign_event("acme", bad, changed_by="admin")


def test_an_unknown_message_is_not_found(ledger):
    with pytest.raises(MessageNotFound):
        ledger.message("acme", "nope")
