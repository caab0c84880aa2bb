"""Stores that smsledger 0.1.0 wrote open in this version, and audit as they did.

0.1.0 named its event classes by the top-level modules `domain`, `application`,
`adapters`; the first open renames those topics (smsledger/adapters/store/upgrade.py).
The fixtures were written by the 0.1.0 code itself (tests/fixtures/store_0_1_0/README.md).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import smsledger
from smsledger.adapters.bootstrap import build_ledger
from smsledger.adapters.store.upgrade import is_old_topic, upgrade_old_topics
from support.postgres import connect

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "store_0_1_0"
ENCRYPTION_KEY = "0YYbbOu+Y4m+DnwJycPPOX/0KjVwxsvyIlDwe5RkF1U="  # encrypted.db's, made for it


def audit_written_by_0_1_0(name: str) -> dict:
    """The funnel 0.1.0's demo printed for the store, less the demo's own extras."""
    printed = json.loads((FIXTURES / f"{name}-audit.json").read_text())
    for demo_only in ("event_name", "feed_events", "replies", "unsubscribed"):
        printed.pop(demo_only)
    return printed


def sqlite_copy(tmp_path: Path, name: str) -> str:
    shutil.copy(FIXTURES / f"{name}.db", tmp_path / "store.db")
    return f"sqlite:///{tmp_path}/store.db"


def sqlite_topics(url: str) -> list[tuple[str, bytes]]:
    with sqlite3.connect(url[len("sqlite:///"):]) as conn:
        return conn.execute("SELECT topic, state FROM stored_events ORDER BY rowid").fetchall()


@pytest.fixture
def postgres_0_1_0(postgres_url) -> str:
    """The PostgreSQL dump of a 0.1.0 store, restored into the test's own schema."""
    schema = postgres_url.rsplit("schema=", 1)[1]
    script = (FIXTURES / "postgres.sql").read_text()
    script = script.replace("CREATE SCHEMA smsledger_v010;", "")
    with connect() as conn:
        conn.execute(script.replace("smsledger_v010", schema))
    return postgres_url


def open_and_audit(url: str, name: str, **settings: str) -> dict:
    expected = audit_written_by_0_1_0(name)
    config = smsledger.load_settings(database_url=url, **settings)
    with smsledger.bootstrap(smsledger.StaticAccounts({}), config) as channel:
        audit = channel.audit(expected["project_id"], expected["campaign_id"])
        assert audit.to_dict() == expected
        # The projections and the feed read the renamed events as before.
        page = channel.campaign_events(expected["project_id"], after=0, limit=1000)
        campaigns = [e for e in page.events
                     if e.properties.get("campaign_id") == expected["campaign_id"]]
        assert len(campaigns) == json.loads(
            (FIXTURES / f"{name}-audit.json").read_text())["feed_events"]
        # Aggregates rebuild from creation events whose originator_topic was renamed.
        message_id = campaigns[-1].properties["message_id"]
        assert channel.message(expected["project_id"], message_id).message_id == message_id
    return expected


def test_a_sqlite_store_of_0_1_0_opens_and_audits_to_the_same_funnel(tmp_path):
    url = sqlite_copy(tmp_path, "sqlite")
    assert any(is_old_topic(topic) for topic, _ in sqlite_topics(url))
    open_and_audit(url, "sqlite")
    rows = sqlite_topics(url)
    assert rows and not any(is_old_topic(topic) for topic, _ in rows)
    assert not any(b'"originator_topic":"domain.' in state for _, state in rows)
    assert sum(b'"originator_topic":"smsledger.domain.' in state for _, state in rows) > 40


def test_an_encrypted_store_of_0_1_0_is_upgraded_with_its_key(tmp_path):
    url = sqlite_copy(tmp_path, "encrypted")
    open_and_audit(url, "encrypted", encryption_key=ENCRYPTION_KEY)
    assert not any(is_old_topic(topic) for topic, _ in sqlite_topics(url))


def test_an_encrypted_store_opened_without_its_key_is_left_as_it_was(tmp_path):
    url = sqlite_copy(tmp_path, "encrypted")
    before = sqlite_topics(url)
    with pytest.raises(smsledger.ConfigurationError, match="SMSLEDGER_ENCRYPTION_KEY"):
        smsledger.bootstrap(smsledger.StaticAccounts({}), smsledger.load_settings(database_url=url))
    assert sqlite_topics(url) == before  # nothing renamed: the key can still upgrade it
    open_and_audit(url, "encrypted", encryption_key=ENCRYPTION_KEY)


def test_a_postgres_store_of_0_1_0_opens_and_audits_to_the_same_funnel(postgres_0_1_0):
    open_and_audit(postgres_0_1_0, "postgres")
    schema = postgres_0_1_0.rsplit("schema=", 1)[1]
    with connect() as conn:
        for table in ("smsledger_events", "projects_events"):
            topics = [t for (t,) in conn.execute(f'SELECT topic FROM "{schema}".{table}')]
            assert topics and not any(is_old_topic(t) for t in topics), table


def test_the_upgrade_runs_once_and_keeps_positions(tmp_path):
    url = sqlite_copy(tmp_path, "sqlite")
    before = sqlite_topics(url)
    ledger = build_ledger(smsledger.load_settings(database_url=url))
    try:
        after = sqlite_topics(url)
        # Same events in the same order (the projections' positions still hold).
        assert [t for t, _ in after] == [f"smsledger.{t}" for t, _ in before]
        assert upgrade_old_topics(ledger.recorder, ledger.mapper) == 0
    finally:
        ledger.close()


def test_the_command_line_audits_a_0_1_0_store(tmp_path):
    url = sqlite_copy(tmp_path, "sqlite")
    expected = audit_written_by_0_1_0("sqlite")
    done = subprocess.run(
        [sys.executable, "-m", "smsledger.adapters.cli", "audit", "--json", "--database-url", url,
         "--project", expected["project_id"], "--campaign", expected["campaign_id"]],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected
