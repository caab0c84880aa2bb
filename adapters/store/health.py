"""Whether the store answers, quickly enough for a load balancer's health check."""

from __future__ import annotations

import time
from collections.abc import Iterable

from eventsourcing.persistence import Recorder

from smsledger.adapters.store.bounded_postgres import BoundedPostgresDatastore

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
