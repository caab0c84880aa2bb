"""Whether the store answers, quickly enough for a load balancer's readiness check, and
has its tables (GET /readyz)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from eventsourcing.persistence import Recorder
from eventsourcing.sqlite import SQLiteDatastore

from smsledger.adapters.store.bounded_postgres import BoundedPostgresDatastore
from smsledger.domain.errors import StoreUnavailable

# Load balancers give a health check about a second; the answer must come before.
HEALTH_CHECK_SECONDS = 0.5


def check_answers(recorders: Iterable[Recorder], within: float = HEALTH_CHECK_SECONDS) -> None:
    """Returns when the databases of all `recorders` answer, together within `within`
    seconds; raises the store's error otherwise (StoreTimeout when one did not answer
    in time). PostgreSQL is asked directly, bypassing the library's retries (which
    are right for a write, but here would outlast the check); SQLite and memory
    answer locally, a read of the log's head being enough."""
    deadline = time.monotonic() + within
    for recorder in recorders:
        datastore = getattr(recorder, "datastore", None)
        if isinstance(datastore, BoundedPostgresDatastore):
            datastore.probe(within=deadline - time.monotonic())
        else:
            recorder.max_notification_id()  # type: ignore[attr-defined]


class TablesMissing(StoreUnavailable):
    """The store answers but lacks tables smsledger writes to (a wrong database or
    schema, or tables dropped by hand): nothing can be stored until they are back."""


def check_ready(recorders: Iterable[Recorder], within: float = HEALTH_CHECK_SECONDS) -> None:
    """As `check_answers`, and the event tables of the `recorders` are present: returns
    when all is well, raises the store's error, or TablesMissing naming them."""
    deadline = time.monotonic() + within
    missing: list[str] = []
    for recorder in recorders:
        datastore = getattr(recorder, "datastore", None)
        table = getattr(recorder, "events_table_name", "")
        if isinstance(datastore, BoundedPostgresDatastore):
            datastore.probe(within=deadline - time.monotonic())
            if not datastore.has_table(table, within=max(0.0, deadline - time.monotonic())):
                missing.append(f"{datastore.schema}.{table}")
        elif isinstance(datastore, SQLiteDatastore):
            # Asking for the table is asking the file: it answers, or raises.
            with datastore.transaction(commit=False) as cursor:
                cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                               (table,))
                if cursor.fetchone() is None:
                    missing.append(table)
        else:  # in memory: no tables to miss
            recorder.max_notification_id()  # type: ignore[attr-defined]
    if missing:
        raise TablesMissing(f"the store answers but has no table {', '.join(missing)}: "
                            "is database_url the right database (and schema)?")
