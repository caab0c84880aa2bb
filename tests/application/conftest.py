import pytest

from smsledger.adapters.bootstrap import build_ledger
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.runtime.system import ManualClock, UuidMessageIds
from smsledger.application.ledger import LedgerApplication
from support.providers import ScriptedProvider
from support.times import T0


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
    """Ledgers on the test's store; keyword arguments are settings (send_batch_size=10)."""
    made: list[LedgerApplication] = []

    def make(*, provider_: ScriptedProvider | None = None, **settings) -> LedgerApplication:
        settings.setdefault("database_url", database_url)
        settings.setdefault("secret_key", "test-secret-key-0123456789")
        ledger = build_ledger(load_settings(**settings), provider=provider_ or provider,
                              clock=clock, ids=UuidMessageIds())
        made.append(ledger)
        return ledger

    yield make
    for ledger in made:  # each holds a connection pool on PostgreSQL
        ledger.close()


@pytest.fixture
def ledger(make_ledger):
    return make_ledger()
