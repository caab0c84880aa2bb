"""/healthz says the process answers; /readyz says the store answers and has its tables
(the store down: tests/service/test_rules.py and tests/integration/test_store_outage.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool

from smsledger.adapters.http.middleware import JsonLineFormatter, current_project
from support.postgres import connect


@contextmanager
def table_renamed(store_url: str, table: str):
    """The store's events table under another name, as if it were missing, then back."""
    hidden = f"{table}_hidden"
    if store_url.startswith("sqlite:///"):
        path = store_url[len("sqlite:///"):]

        def run(statement: str) -> None:
            with sqlite3.connect(path, timeout=10) as conn:
                conn.execute(statement)
    else:
        schema = parse_qs(urlsplit(store_url).query)["schema"][0]

        def run(statement: str) -> None:
            with connect() as conn:
                conn.execute(f'SET search_path TO "{schema}"')
                conn.execute(statement)
    run(f'ALTER TABLE "{table}" RENAME TO "{hidden}"')
    try:
        yield f"{table}"
    finally:
        run(f'ALTER TABLE "{hidden}" RENAME TO "{table}"')


def test_ready_needs_the_tables_health_needs_only_the_process(service, durable_store_url):
    with service.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        with table_renamed(durable_store_url, service.ledger.recorder.events_table_name) as table:
            answer = client.get("/readyz")
            assert answer.status_code == 503, answer.text
            error = answer.json()["error"]
            assert error["code"] == "store_not_ready"
            assert table in error["message"], error["message"]
            assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}


def test_log_lines_written_while_a_project_s_request_is_handled_carry_its_id():
    """The middleware sets the project; handlers run in the thread pool, and whatever
    they (or the use cases under them) log says which project it was about."""
    formatter = JsonLineFormatter({"worker": 1})
    logger = logging.getLogger("smsledger.test.project")

    def record(message: str, **fields: object) -> logging.LogRecord:
        made = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, (), None,
                                 extra={"fields": fields} if fields else None)
        return made

    async def handled(project: str | None) -> dict:
        token = current_project.set(project)
        try:
            return json.loads(await run_in_threadpool(
                lambda: formatter.format(record("recovery failed"))))
        finally:
            current_project.reset(token)

    assert asyncio.run(handled("acme"))["project_id"] == "acme"
    assert "project_id" not in asyncio.run(handled(None))
    # A line naming its own project keeps it.
    token = current_project.set("acme")
    try:
        line = json.loads(formatter.format(record("x", project_id="globex")))
    finally:
        current_project.reset(token)
    assert line["project_id"] == "globex" and line["worker"] == 1
