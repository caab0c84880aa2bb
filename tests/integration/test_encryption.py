"""Stored events encrypted with a configured key: unreadable without it."""

import sqlite3

import pytest

from smsledger.adapters.bootstrap import build_ledger
from smsledger.adapters.cli import main
from smsledger.adapters.runtime.config import ConfigurationError, load_settings
from smsledger.application.commands import SendRequest
from support.providers import ScriptedProvider


def new_key(capsys):
    assert main(["keys", "create"]) == 0
    return capsys.readouterr().out.strip()


def test_events_are_stored_encrypted_and_read_back(tmp_path, capsys):
    path = tmp_path / "secret.db"
    settings = load_settings(database_url=f"sqlite:///{path}", encryption_key=new_key(capsys))
    ledger = build_ledger(settings, provider=ScriptedProvider())
    (sent,) = ledger.send("acme", [SendRequest(customer_id="customer-42", to="+385921234567",
                                               text="Secret sale", campaign_id="spring")])
    assert ledger.message("acme", sent.message_id).recipient == "+385921234567"
    ledger.close()
    with sqlite3.connect(path) as db:
        states = b"".join(row[0] for row in db.execute("SELECT state FROM stored_events"))
    assert states and b"385921234567" not in states and b"customer-42" not in states

    reopened = build_ledger(settings)
    assert reopened.message("acme", sent.message_id).status == "enqueued"
    audit = reopened.audit("acme", "spring")  # the replay deciphers the rows it reads
    assert (audit.counts["requested"], audit.counts["enqueued"], audit.drift) == (1, 1, [])
    reopened.close()
    with pytest.raises(Exception):  # another key cannot read the events
        build_ledger(load_settings(database_url=f"sqlite:///{path}",
                                   encryption_key=new_key(capsys))).message("acme", sent.message_id)


@pytest.mark.parametrize("key", ["not base64!", "c2hvcnQ="])
def test_a_bad_key_names_the_setting_without_echoing_it(key):
    with pytest.raises(ConfigurationError, match="setting encryption_key") as refused:
        load_settings(encryption_key=key)
    assert key not in str(refused.value)
