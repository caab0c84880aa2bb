"""On the real PostgreSQL: one callback is one write transaction.

Every row PostgreSQL writes carries the id of the transaction that wrote it
(`xmin`), so the number of distinct xmin values among the rows a callback added
is the number of write transactions it took."""

import json

import psycopg
from psycopg import sql

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.infobip.accounts import StaticAccounts
from smsledger.application.commands import SendRequest
from support.providers import ScriptedProvider
from support.wiring import ledger_of


def report(message_id, n):
    return {"messageId": message_id, "doneAt": f"2026-11-09T16:00:{n % 60:02d}.000+0000",
            "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET"},
            "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR"}}


def write_transactions_since(url, schema, position):
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        rows = conn.execute(sql.SQL(
            "SELECT count(*), count(DISTINCT xmin::text) FROM {}.smsledger_events "
            "WHERE notification_id > %s").format(sql.Identifier(schema)), [position]).fetchone()
    return rows


def test_one_callback_of_100_reports_is_one_write_transaction(postgres_url):
    schema = postgres_url.split("schema=")[1]
    settings = load_settings(database_url=postgres_url)
    with bootstrap(StaticAccounts({}), settings, provider=ScriptedProvider()) as channel:
        sent = channel.send("acme", [SendRequest(customer_id=f"c{i}", to="+385921234567",
                                                   text="Hi") for i in range(100)])
        position = ledger_of(channel).recorder.max_notification_id()
        body = json.dumps({"results": [report(r.message_id, i) for i, r in enumerate(sent)]})
        result = channel.ingest_delivery_reports("acme", body)
        assert result.applied == 100
        assert write_transactions_since(postgres_url, schema, position) == (100, 1)


def test_a_campaign_send_writes_in_batches(postgres_url):
    schema = postgres_url.split("schema=")[1]
    settings = load_settings(database_url=postgres_url, send_batch_size=250)
    with bootstrap(StaticAccounts({}), settings, provider=ScriptedProvider()) as channel:
        channel.send("acme", [SendRequest(customer_id=f"c{i}", to="+385921234567", text="Hi")
                                for i in range(500)])
        # Each batch of 250: its requested messages in one transaction, their hand-over
        # in one, and their answers in one.
        assert write_transactions_since(postgres_url, schema, 0) == (1500, 6)
