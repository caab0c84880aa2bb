from datetime import datetime, timezone

import pytest

from adapters.persistence import persistence_env
from adapters.store.read_store_factory import read_store_for
from adapters.system import ManualClock, UuidMessageIds
from application.ledger import LedgerSettings, SmsLedger
from tests.support.providers import ScriptedProvider

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def database_url(request, tmp_path):
    """Every application test runs on each store: in memory, SQLite, PostgreSQL."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/ledger.db"


@pytest.fixture
def clock():
    return ManualClock(T0)


@pytest.fixture
def provider():
    return ScriptedProvider()


@pytest.fixture
def make_ledger(database_url, clock, provider):
    made: list[SmsLedger] = []

    def make(settings: LedgerSettings | None = None, **overrides) -> SmsLedger:
        ledger = SmsLedger(provider=overrides.get("provider", provider), clock=clock,
                           read_store=read_store_for, ids=UuidMessageIds(), settings=settings,
                           env=persistence_env(overrides.get("database_url", database_url)))
        made.append(ledger)
        return ledger

    yield make
    for ledger in made:  # each holds a connection pool on PostgreSQL
        ledger.close()


@pytest.fixture
def ledger(make_ledger):
    return make_ledger()
