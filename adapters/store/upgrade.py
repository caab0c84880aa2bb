"""Stores written by smsledger 0.1.0: their events' topics renamed, once.

A topic is the module path and name of an event's class (`domain.message:Message.Requested`).
0.1.0 installed its folders as the top-level modules `domain`, `application` and
`adapters`; since 0.2.0 they are `smsledger.domain`, ... (one package, so a platform's own
`domain` cannot be mistaken for ours). Every stored event names its class in its topic
column, and every creation event also names its aggregate's class inside its state
(`originator_topic`, which the library resolves to rebuild the aggregate).

The first smsledger that opens such a store renames both, in one transaction, under the
lock that serialises table creation (PostgreSQL: the schema's advisory lock; SQLite: the
database's write lock). Nothing else of an event changes: its state is deciphered and
decompressed as the application's mapper does, only the `originator_topic` value is
rewritten in place, and it is compressed and enciphered again. Every later start finds
no old topic at the ends of the table (two index look-ups) and does nothing.

Run the new version only after every 0.1.0 process of the store has stopped: an event an
old process writes after the upgrade carries an old topic; the next start upgrades it
only while it is the newest event.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from eventsourcing.domain import CanInitAggregate
from eventsourcing.persistence import Mapper
from eventsourcing.utils import resolve_topic
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from smsledger.adapters.runtime.config import ConfigurationError
from smsledger.adapters.store.mapper import RowMapper
from smsledger.adapters.store.recorders import PostgresBatchRecorder, SQLiteBatchRecorder

log = logging.getLogger(__name__)

OLD_MODULES = ("domain", "application", "adapters")
NEW_PACKAGE = "smsledger"
PAGE = 1000
# How long a process waits for another one's upgrade of an SQLite store (a PostgreSQL
# advisory lock waits as long as it takes): minutes for a store of millions of events.
LOCK_WAIT = 900.0

_OLD_ORIGINATOR_TOPIC = re.compile(
    rb'"originator_topic":"((?:' + b"|".join(m.encode() for m in OLD_MODULES) + rb')\.)')


# The old modules' topics in SQL: `domain.message:...` and so on ('.' is no wildcard).
_OLD_TOPIC_PATTERNS = tuple(f"{module}.%" for module in OLD_MODULES)
_OLD_TOPICS_SQL = " OR ".join("topic LIKE ?" for _ in OLD_MODULES)


def is_old_topic(topic: str) -> bool:
    return topic.split(".", 1)[0].split(":", 1)[0] in OLD_MODULES


def new_topic(topic: str) -> str:
    return f"{NEW_PACKAGE}.{topic}"


def upgrade_old_topics(recorder: Any, mapper: Mapper[Any]) -> int:
    """Rename the 0.1.0 topics of the store behind `recorder`; returns how many events
    were renamed (0 for a store with none, and for the in-memory store). `mapper` is
    the application's: states are read and written as it reads and writes them."""
    if not isinstance(mapper, RowMapper):
        raise TypeError(f"the upgrade reads states with RowMapper, not {type(mapper).__name__}")
    if isinstance(recorder, PostgresBatchRecorder):
        store: _Store = _PostgresStore(recorder)
    elif isinstance(recorder, SQLiteBatchRecorder):
        if recorder.datastore.pool.is_sqlite_memory_mode:
            return 0
        store = _SQLiteStore(recorder.datastore.pool.db_name, recorder.events_table_name)
    else:
        return 0  # the in-memory store holds only what this process wrote
    if not any(is_old_topic(topic) for topic in store.topics_at_the_ends()):
        return 0
    with store.locked() as session:
        renamed = _upgrade(session, _StateRewriter(mapper))
    if renamed:
        log.warning("upgraded %d stored events from smsledger 0.1.0's topics", renamed)
    return renamed


def _upgrade(session: _Session, rewrite_state: _StateRewriter) -> int:
    """Three passes over the table: which old topics there are, the creation events
    (state and topic), every other old topic (in one statement)."""
    old_topics = [t for t in session.distinct_topics() if is_old_topic(t)]
    creations = [t for t in old_topics if _is_creation(new_topic(t))]
    renamed = 0
    after = -1
    while creations and (rows := session.rows_with_topics(creations, after, PAGE)):
        session.update_rows([(new_topic(topic), rewrite_state(state), position)
                             for position, topic, state in rows])
        renamed += len(rows)
        after = rows[-1][0]
    return renamed + session.rename_old_topics(f"{NEW_PACKAGE}.")


def _is_creation(topic: str) -> bool:
    """Whether events of this topic carry `originator_topic` in their state."""
    try:
        cls = resolve_topic(topic)
    except Exception:  # a class this version no longer has: its state stays as it is
        return False
    return isinstance(cls, type) and issubclass(cls, CanInitAggregate)


class _StateRewriter:
    """A stored state with its `originator_topic` renamed, everything else as stored."""

    def __init__(self, mapper: RowMapper) -> None:
        self.mapper = mapper

    def __call__(self, state: bytes) -> bytes:
        """Raises ConfigurationError, so that nothing is renamed, when the state cannot
        be read (an encrypted store opened without its key, or with another one)."""
        try:
            plain = self.mapper.plain_state(state)
        except Exception as exc:
            raise _unreadable() from exc
        # A JSON string value escapes its quotes, so this pattern only matches the key.
        renamed, found = _OLD_ORIGINATOR_TOPIC.subn(
            rb'"originator_topic":"' + NEW_PACKAGE.encode() + rb'.\1', plain, count=1)
        if not found or not json.loads(renamed)["originator_topic"].startswith(
                NEW_PACKAGE + "."):
            raise _unreadable()
        return self.mapper.sealed_state(renamed)


def _unreadable() -> ConfigurationError:
    return ConfigurationError(
        "the store's events, written by smsledger 0.1.0, cannot be read to upgrade them: is "
        "SMSLEDGER_ENCRYPTION_KEY (encryption_key) set to the key the store was written "
        "with? Nothing was changed.")


class _Session:
    def distinct_topics(self) -> list[str]:
        raise NotImplementedError

    def rows_with_topics(self, topics: Sequence[str], after: int, limit: int
                         ) -> list[tuple[int, str, bytes]]:
        """(position, topic, state) of up to `limit` events with these topics after
        `position`, in order."""
        raise NotImplementedError

    def update_rows(self, rows: Sequence[tuple[str, bytes, int]]) -> None:
        """(topic, state, position): each row's new topic and state."""
        raise NotImplementedError

    def rename_old_topics(self, prefix: str) -> int:
        """Every topic of the old modules, with `prefix` put before it; how many."""
        raise NotImplementedError


class _Store:
    def topics_at_the_ends(self) -> list[str]:
        """The oldest and the newest event's topics: a 0.1.0 store's oldest is old."""
        raise NotImplementedError

    def locked(self) -> contextlib.AbstractContextManager[_Session]:
        raise NotImplementedError


class _PostgresStore(_Store):
    def __init__(self, recorder: PostgresBatchRecorder) -> None:
        self.recorder = recorder
        self.table = SQL("{0}.{1}").format(Identifier(recorder.datastore.schema),
                                          Identifier(recorder.events_table_name))

    def topics_at_the_ends(self) -> list[str]:
        with self.recorder.datastore.get_connection() as conn, conn.cursor(
                row_factory=tuple_row) as cursor:
            cursor.execute(SQL(
                "(SELECT topic FROM {0} ORDER BY notification_id LIMIT 1) UNION ALL "
                "(SELECT topic FROM {0} ORDER BY notification_id DESC LIMIT 1)"
            ).format(self.table))
            return [topic for (topic,) in cursor.fetchall()]

    @contextlib.contextmanager
    def locked(self) -> Iterator[_Session]:
        with self.recorder.schema_lock() as conn, conn.transaction():
            # Writers of any version wait until the renaming has committed.
            conn.execute(SQL("LOCK TABLE {0} IN EXCLUSIVE MODE").format(self.table))
            yield _PostgresSession(conn, self.table)


class _PostgresSession(_Session):
    def __init__(self, conn: psycopg.Connection[Any], table: Any) -> None:
        self.conn, self.table = conn, table

    def distinct_topics(self) -> list[str]:
        return [topic for (topic,) in self.conn.execute(
            SQL("SELECT DISTINCT topic FROM {0}").format(self.table)).fetchall()]

    def rows_with_topics(self, topics: Sequence[str], after: int, limit: int
                         ) -> list[tuple[int, str, bytes]]:
        return [(position, topic, bytes(state)) for position, topic, state in self.conn.execute(
            SQL("SELECT notification_id, topic, state FROM {0} WHERE topic = ANY(%s) "
                "AND notification_id > %s ORDER BY notification_id LIMIT %s").format(self.table),
            (list(topics), after, limit)).fetchall()]

    def update_rows(self, rows: Sequence[tuple[str, bytes, int]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(SQL(
                "UPDATE {0} SET topic = %s, state = %b WHERE notification_id = %s"
            ).format(self.table), rows)

    def rename_old_topics(self, prefix: str) -> int:
        return self.conn.execute(SQL("UPDATE {0} SET topic = %s || topic WHERE {1}").format(
            self.table, SQL(_OLD_TOPICS_SQL.replace("?", "%s"))),
            (prefix, *_OLD_TOPIC_PATTERNS)).rowcount


class _SQLiteStore(_Store):
    def __init__(self, db_name: str, table: str) -> None:
        self.db_name, self.table = db_name, table

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        # Our own connection, as for the switch to WAL: the library's pool is not
        # needed, and BEGIN IMMEDIATE below must be the first thing it does.
        return contextlib.closing(sqlite3.connect(self.db_name, uri=True, timeout=LOCK_WAIT,
                                                  isolation_level=None))

    def topics_at_the_ends(self) -> list[str]:
        with self._connect() as conn:
            return [topic for (topic,) in conn.execute(
                f"SELECT * FROM (SELECT topic FROM {self.table} ORDER BY rowid LIMIT 1) "  # noqa: S608
                f"UNION ALL SELECT * FROM (SELECT topic FROM {self.table} "
                "ORDER BY rowid DESC LIMIT 1)").fetchall()]

    @contextlib.contextmanager
    def locked(self) -> Iterator[_Session]:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")  # the database's write lock, as a table creation
            try:
                yield _SQLiteSession(conn, self.table)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


class _SQLiteSession(_Session):
    def __init__(self, conn: sqlite3.Connection, table: str) -> None:
        self.conn, self.table = conn, table

    def distinct_topics(self) -> list[str]:
        return [t for (t,) in self.conn.execute(f"SELECT DISTINCT topic FROM {self.table}")]  # noqa: S608

    def rows_with_topics(self, topics: Sequence[str], after: int, limit: int
                         ) -> list[tuple[int, str, bytes]]:
        return self.conn.execute(
            f"SELECT rowid, topic, state FROM {self.table} "  # noqa: S608
            f"WHERE topic IN ({','.join('?' * len(topics))}) AND rowid > ? "
            "ORDER BY rowid LIMIT ?", (*topics, after, limit)).fetchall()

    def update_rows(self, rows: Sequence[tuple[str, bytes, int]]) -> None:
        self.conn.executemany(
            f"UPDATE {self.table} SET topic = ?, state = ? WHERE rowid = ?", rows)  # noqa: S608

    def rename_old_topics(self, prefix: str) -> int:
        return self.conn.execute(
            f"UPDATE {self.table} SET topic = ? || topic WHERE {_OLD_TOPICS_SQL}",  # noqa: S608
            (prefix, *_OLD_TOPIC_PATTERNS)).rowcount

