"""The application service built from fakes of its ports alone (tests/support/fakes.py),
and a store that lacks a port refused when the application is built."""

from datetime import timedelta

import pytest

from smsledger.adapters.runtime.persistence import persistence_env
from smsledger.adapters.store.read_store_factory import read_store_for
from smsledger.application.commands import ProviderReport, SendRequest
from smsledger.application.ledger import LedgerApplication
from smsledger.application.ports import EventDecoder, EventRows, SendRefused
from smsledger.application.projects import ProjectDirectory
from support.fakes import (
    AnyAddress,
    CountingSecrets,
    FakeClock,
    KnownReports,
    PlainWebhookSecrets,
    ReversibleSealer,
    SequentialIds,
)
from support.providers import ScriptedProvider, accept
from support.statuses import outcome
from support.times import T0


def build(clock, provider, env=None):
    env = env or persistence_env("memory://")
    projects = ProjectDirectory(clock=clock, secrets=CountingSecrets(),
                                webhook_secrets=PlainWebhookSecrets(), sealer=ReversibleSealer(),
                                provider_addresses=AnyAddress(), env=env)
    return LedgerApplication(provider=provider, clock=clock, ids=SequentialIds(),
                             read_store=read_store_for, projects=projects, env=env)


def test_the_application_runs_on_fakes_of_its_ports():
    clock, provider, lookup = FakeClock(T0), ScriptedProvider(), KnownReports()
    ledger = build(clock, provider)
    assert isinstance(ledger.recorder, EventRows) and isinstance(ledger.mapper, EventDecoder)
    provider.answer = lambda m: SendRefused(m.message_id, 400)
    (refused,) = ledger.send("acme", [SendRequest(customer_id="c", to="+385921234567", text="Hi")])
    assert refused.message_id == "m-1" and refused.status == "enqueue_failed"

    provider.answer = accept
    (sent,) = ledger.send("acme", [SendRequest(customer_id="c", to="+385921234567", text="Hi")])
    assert (sent.message_id, sent.status) == ("m-2", "enqueued")

    clock.advance(timedelta(hours=1))
    lookup.known["m-2"] = ProviderReport("m-2", outcome("DELIVERED_TO_HANDSET", done_at=clock.now()))
    result = ledger.reconcile(lookup, older_than=timedelta(minutes=15))
    assert result.settled == 1 and lookup.asked == [["m-2"]]
    assert ledger.message("acme", "m-2").status == "delivered"
    token = ledger.projects.create_project("shop")
    assert token.startswith("sml_shop.id")  # the fake secret source's id
    ledger.close()


def test_a_store_without_the_batch_reads_is_refused_when_the_application_is_built():
    library_as_it_comes = {**persistence_env("memory://"), "PERSISTENCE_MODULE": "eventsourcing.popo"}
    with pytest.raises(TypeError, match="EventRows port"):
        build(FakeClock(T0), ScriptedProvider(), env=library_as_it_comes)
