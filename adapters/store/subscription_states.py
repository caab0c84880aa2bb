"""Where each event subscription's delivery stands (the SubscriptionStates port), in a
table of its own beside the event store, on the store's own SQLite or PostgreSQL
datastore (or in memory beside the POPO store):

    smsledger_subscription_states   project_id, name, version, state   PK (project_id, name)

`state` is the JSON of smsledger.domain.subscriptions.DeliveryState. Every write
bumps `version`; a write naming the version it read is one UPDATE ... WHERE version
= ?, so of two writers that read the same row one wins and the other is told
(False), never silently overwritten. Not a projection: the position is moved by the
receiver's answers, not by the store's events, so it cannot be rebuilt from them,
and no rebuild of the read models touches it.

Connections and the SQL dialects (identifiers, transactions, the schema lock on
PostgreSQL) are the read store's (adapters/store/sql_read_store.py): borrowed from the
datastore, closed by the application that owns it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from eventsourcing.persistence import Recorder
from eventsourcing.popo import POPORecorder

from smsledger.adapters.store.sql_read_store import (
    Dialect,
    dialect_beside,
    read_again_when_cut,
)
from smsledger.adapters.store.views import decode, encode
from smsledger.application.ports import Document, SubscriptionStates

T = TypeVar("T")

TABLE = "smsledger_subscription_states"

CREATE = ("CREATE TABLE IF NOT EXISTS {t} (project_id TEXT NOT NULL, name TEXT NOT NULL, "
          "version BIGINT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (project_id, name))")
SELECT_ALL = "SELECT project_id, name, version, state FROM {t} ORDER BY project_id, name"
SELECT_ONE = "SELECT version, state FROM {t} WHERE project_id = ? AND name = ?"
UPSERT = ("INSERT INTO {t} AS current (project_id, name, version, state) VALUES (?, ?, 1, ?) "
          "ON CONFLICT (project_id, name) DO UPDATE SET version = current.version + 1, "
          "state = excluded.state")
INSERT_NEW = ("INSERT INTO {t} (project_id, name, version, state) VALUES (?, ?, 1, ?) "
              "ON CONFLICT (project_id, name) DO NOTHING")
UPDATE_AT = ("UPDATE {t} SET version = version + 1, state = ? "
             "WHERE project_id = ? AND name = ? AND version = ?")
DELETE = "DELETE FROM {t} WHERE project_id = ? AND name = ?"


class SqlSubscriptionStates(SubscriptionStates):
    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        with dialect.transaction() as cursor:
            dialect.lock_views(cursor)  # processes starting together create it once
            cursor.execute(self._sql(CREATE))

    def _sql(self, template: str) -> Any:
        return self._dialect.statement(template, t=TABLE)

    def all(self) -> list[tuple[str, str, int, Document]]:
        def query(cursor: Any) -> list[tuple[str, str, int, Document]]:
            cursor.execute(self._sql(SELECT_ALL))
            return [(p, n, int(v), decode(s)) for p, n, v, s in cursor.fetchall()]
        return self._read(query)

    def get(self, project_id: str, name: str) -> tuple[int, Document] | None:
        def query(cursor: Any) -> tuple[int, Document] | None:
            cursor.execute(self._sql(SELECT_ONE), (project_id, name))
            row = cursor.fetchone()
            return None if row is None else (int(row[0]), decode(row[1]))
        return self._read(query)

    def put(self, project_id: str, name: str, state: Document, *,
            version: int | None = None) -> bool:
        text = encode(state)
        with self._dialect.transaction() as cursor:
            if version is None:
                cursor.execute(self._sql(UPSERT), (project_id, name, text))
                return True
            if version == 0:
                cursor.execute(self._sql(INSERT_NEW), (project_id, name, text))
            else:
                cursor.execute(self._sql(UPDATE_AT), (text, project_id, name, version))
            return bool(cursor.rowcount == 1)

    def delete(self, project_id: str, name: str) -> None:
        with self._dialect.transaction() as cursor:
            cursor.execute(self._sql(DELETE), (project_id, name))

    def _read(self, query: Callable[[Any], T]) -> T:
        return read_again_when_cut(self._dialect, query)


class MemorySubscriptionStates(SubscriptionStates):
    """For the POPO store (`memory://`): JSON text, as the tables keep it, so what is
    read back is a copy."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], tuple[int, str]] = {}
        self._lock = threading.Lock()

    def all(self) -> list[tuple[str, str, int, Document]]:
        with self._lock:
            return [(p, n, v, decode(s)) for (p, n), (v, s) in sorted(self._rows.items())]

    def get(self, project_id: str, name: str) -> tuple[int, Document] | None:
        with self._lock:
            row = self._rows.get((project_id, name))
        return None if row is None else (row[0], decode(row[1]))

    def put(self, project_id: str, name: str, state: Document, *,
            version: int | None = None) -> bool:
        text = encode(state)
        with self._lock:
            stored = self._rows.get((project_id, name), (0, ""))[0]
            if version is not None and version != stored:
                return False
            self._rows[(project_id, name)] = (stored + 1, text)
            return True

    def delete(self, project_id: str, name: str) -> None:
        with self._lock:
            self._rows.pop((project_id, name), None)


_memory_states: weakref.WeakKeyDictionary[Recorder, MemorySubscriptionStates] = \
    weakref.WeakKeyDictionary()
_memory_lock = threading.Lock()


def subscription_states_for(recorder: Recorder) -> SubscriptionStates:
    """The states beside `recorder` (the ledger's), sharing its database; in memory,
    one store per recorder, as one database file or schema has one table."""
    if isinstance(recorder, POPORecorder):
        with _memory_lock:
            states = _memory_states.get(recorder)
            if states is None:
                states = _memory_states[recorder] = MemorySubscriptionStates()
            return states
    return SqlSubscriptionStates(dialect_beside(recorder))
