import pytest

from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.ledger import LedgerApplication
from support.statuses import outcome


@pytest.fixture
def database_url(durable_store_url):
    """Only the durable stores here: the in-memory one is gone with its process."""
    return durable_store_url



def test_a_durable_store_survives_a_restart(make_ledger, database_url):
    url = database_url
    first = make_ledger(database_url=url)
    (sent,) = first.send("acme", [SendRequest(customer_id="c", to="+385921234567", text="Hi")])
    first.rename_campaign_event("acme", "sms", changed_by="admin")
    second = make_ledger(database_url=url)
    assert second.message("acme", sent.message_id).status == "enqueued"
    assert second.campaign_events("acme").events[0].name == "sms"


def interleaving(ledger: LedgerApplication) -> list:
    """Lets another writer change the store between this ledger's load and save: the
    next call put in the returned list runs right after the next load."""
    load_many, interleave = ledger.store.load_many, []

    def load_then_interleave(ids):
        loaded = load_many(ids)
        while interleave:
            interleave.pop()()
        return loaded

    ledger.store.load_many = load_then_interleave
    return interleave


def test_a_concurrent_change_is_retried_not_lost(make_ledger, database_url, clock, provider):
    from smsledger.adapters.bootstrap import build_projects
    from smsledger.adapters.runtime.config import load_settings
    from smsledger.adapters.store.read_store_factory import read_store_for
    from smsledger.adapters.runtime.system import UuidMessageIds

    url = database_url
    webhook = make_ledger(database_url=url)
    settings = load_settings(database_url=url)
    sender = LedgerApplication(provider=provider, clock=clock, ids=UuidMessageIds(),
                               read_store=read_store_for, projects=build_projects(settings),
                               env=settings.store_env())
    interleave = interleaving(sender)
    (sent,) = sender.send("acme", [SendRequest(customer_id="c", to="+385921234567", text="Hi")])
    # While the sender applies a report, the webhook process applies another one.
    interleave.append(lambda: webhook.record_reports(
        "acme", [ProviderReport(sent.message_id, outcome("PENDING_ENROUTE"))]))
    result = sender.record_reports("acme", [ProviderReport(sent.message_id, outcome("DELIVERED_TO_HANDSET"))])
    sender.close()
    assert result.applied == 1
    history = [h.event for h in webhook.message("acme", sent.message_id).history]
    assert history == ["Requested", "HandedOver", "Enqueued", "ReportNoted", "Delivered"]
