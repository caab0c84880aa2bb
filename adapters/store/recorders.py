"""Event recorders that load many aggregates' events in one query.

The library's recorders select one aggregate's events per query; a callback of
2,000 reports would be 2,000 round trips. These add `select_event_rows(ids)`
(plain rows: building a StoredEvent per row costs more than the row itself) and
`select_notification_rows`, the replay's page of plain rows (the library builds a
Notification object per row): the application's EventRows port, which it requires. They are selected through the library's
APPLICATION_RECORDER_TOPIC setting (adapters/runtime/persistence.py).

On PostgreSQL the insert is ours too (see PostgresBatchRecorder.__init__), and the
events of concurrent savers are inserted together (adapters/store/group_commit.py).
An insert is tried again as the library's are (a connection cut by a server restart),
but not one the database refused for a value: that fails the same way every time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any, cast
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from smsledger.adapters.store.bounded_postgres import StoreTimeout
from smsledger.adapters.store.group_commit import GroupCommit
from smsledger.adapters.store.refusals import refused_a_value

SQLITE_MAX_PARAMETERS = 900  # below SQLite's historical limit of 999 host parameters
INSERT_ATTEMPTS, INSERT_RETRY_SECONDS = 10, 0.2  # as the library's own retries


def sqlite_in_chunks(values: Sequence[Any]) -> Iterator[tuple[Sequence[Any], str]]:
    """`values` in chunks SQLite takes as host parameters, each with its placeholders
    for an `IN (...)` list."""
    for start in range(0, len(values), SQLITE_MAX_PARAMETERS):
        chunk = values[start:start + SQLITE_MAX_PARAMETERS]
        yield chunk, ",".join("?" * len(chunk))


class PostgresBatchRecorder(PostgresApplicationRecorder):
    # Whether concurrent savers share inserts (group commit); `bench ingest` turns it
    # off for its baseline.
    group_commits = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        function = Identifier(f"{self.events_table_name}_insert")
        # The library's insert, as one server-side function called in one round trip:
        # the same lock timeout, EXCLUSIVE table lock (so notification ids commit in
        # the order they are issued and readers never pass a gap that fills later) and
        # NOTIFY, but the events arrive as four binary arrays. The library sends them as
        # one array of a composite type in text, which psycopg escapes byte by byte in
        # Python, in a pipeline of five statements: over half of a callback's time.
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}("
            "ids {id_type}[], versions bigint[], topics text[], states bytea[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "BEGIN "
            "SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "NOTIFY {channel}; "
            "RETURN QUERY INSERT INTO {schema}.{table} "
            "(originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id; "
            "END; $BODY$"
        ).format(schema=schema, function=function, table=Identifier(self.events_table_name),
                 id_type=SQL(self.datastore.originator_id_type),
                 lock_timeout=self.datastore.lock_timeout,
                 channel=Identifier(self.channel_name)))
        self._insert_statement = SQL("SELECT * FROM {0}.{1}(%b, %b, %b, %b)").format(
            schema, function).as_string()
        self._select_rows_statement = SQL(
            "SELECT notification_id, originator_id, topic, state FROM {0}.{1} "
            "WHERE notification_id > %b AND topic = ANY(%b) ORDER BY notification_id LIMIT %b"
        ).format(schema, Identifier(self.events_table_name)).as_string()
        # Concurrent savers' events go in one insert (adapters/store/group_commit.py); a
        # saver waits its turn no longer than a request waits for a connection.
        budget = float(self.datastore.pool.timeout)
        self._group_commit = GroupCommit(
            self._insert_retrying, patience=budget, impatient=lambda: StoreTimeout(
                f"the events table was not free for an insert within {budget:g} s"))
        self._select_stored_statement = SQL(
            "SELECT originator_id, originator_version, topic, state, notification_id "
            "FROM {0}.{1} WHERE originator_id = ANY(%b)"
        ).format(schema, Identifier(self.events_table_name)).as_string()
        self._select_many_statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE originator_id = ANY(%b) ORDER BY originator_id, originator_version"
        ).format(schema, Identifier(self.events_table_name)).as_string()

    def create_table(self) -> None:
        """The library's, one process at a time per schema. Processes starting together
        on an empty schema (service instances on a first deploy, a CLI beside them)
        would race: PostgreSQL's IF NOT EXISTS is checked before the catalog row is
        written, so all but one failed with a duplicate pg_type row or "tuple
        concurrently updated". A session-level advisory lock queues them; the later
        ones then find everything there. It is held on a connection of its own, outside
        the pool (which may allow a single connection, needed by the library's create),
        and closing that connection releases it, whatever happened."""
        with self.schema_lock():
            super().create_table()

    @contextlib.contextmanager
    def schema_lock(self) -> Iterator[psycopg.Connection[Any]]:
        """This schema's lock for changing its tables (creating them, upgrading what
        they hold), held by a connection of its own (autocommit) while the block runs."""
        pool = self.datastore.pool
        conninfo: str = pool.conninfo  # type: ignore[assignment]  # the library's Union
        kwargs: dict[str, Any] = {**(pool.kwargs or {}), "autocommit": True,  # type: ignore[dict-item]
                                  "row_factory": tuple_row}
        with psycopg.connect(conninfo, **kwargs) as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))",
                         (f"{self.datastore.schema}.smsledger_create_tables",))
            yield conn

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                      ) -> Sequence[int] | None:
        if kwargs.get("tracking") is not None:  # process applications: the library's way
            return cast("Sequence[int] | None", super().insert_events(stored_events, **kwargs))
        if not stored_events:
            return []
        if not self.group_commits:
            return self._insert_retrying(stored_events)
        return self._group_commit.insert(stored_events)

    def _insert_retrying(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        """The insert, tried again after a cut connection or another passing fault, not
        after a refused value."""
        for attempt in range(1, INSERT_ATTEMPTS + 1):
            try:
                return self._insert_once(stored_events, again=attempt > 1)
            except (InterfaceError, OperationalError) as error:
                if refused_a_value(error) or attempt == INSERT_ATTEMPTS:
                    raise
                time.sleep(INSERT_RETRY_SECONDS)
        raise AssertionError("unreachable")

    def _insert_once(self, stored_events: Sequence[StoredEvent], *, again: bool) -> list[int]:
        """One attempt. Tried `again` after a fault, an attempt that meets its own events
        already stored (the fault cut the connection after the commit) answers with
        their notification ids: IntegrityError would tell the savers their versions
        were taken by another writer, and they would apply their commands again."""
        try:
            return self._insert_in_one_call(stored_events)
        except IntegrityError:
            stored = self._stored_already(stored_events) if again else None
            if stored is None:
                raise
            return stored

    def _stored_already(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The notification ids of these very events (same aggregate, version, topic and
        state), if every one of them is stored; None otherwise."""
        with self.datastore.get_connection() as conn, conn.cursor(
                binary=True, row_factory=tuple_row) as curs:
            curs.execute(self._select_stored_statement,
                         [list({e.originator_id for e in stored_events})])
            stored = {(row[0], row[1]): row[2:] for row in curs.fetchall()}
        ids = []
        for event in stored_events:
            found = stored.get((event.originator_id, event.originator_version))
            if found is None or (found[0], bytes(found[1])) != (event.topic, bytes(event.state)):
                return None
            ids.append(found[2])
        return ids

    def _insert_in_one_call(self, stored_events: Sequence[StoredEvent]) -> list[int]:
        # Autocommit: the one statement is its own transaction, durable on return.
        with self.datastore.get_connection() as conn, conn.cursor(
                binary=True, row_factory=tuple_row) as curs:
            curs.execute(self._insert_statement, (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ), prepare=True)
            return [notification_id for (notification_id,) in curs.fetchall()]

    # Reads retry as the library's own do: a connection cut by a server restart
    # (BoundedPostgresDatastore drains the pool then) is replaced by the next attempt,
    # so a quick restart costs no request a 503.
    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_event_rows(self, originator_ids: Sequence[UUID]
                          ) -> list[tuple[UUID, int, str, bytes]]:
        """(originator id, version, topic, state) of every event of every given
        aggregate, each aggregate's in version order."""
        if not originator_ids:
            return []
        # Binary in and out, and plain tuples: half the time of text and dict rows.
        with self.datastore.get_connection() as conn, conn.cursor(
                binary=True, row_factory=tuple_row) as curs:
            curs.execute(self._select_many_statement, [list(originator_ids)], prepare=True)
            return curs.fetchall()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notification_rows(self, after: int, limit: int, topics: Sequence[str]
                                 ) -> list[tuple[int, UUID, str, bytes]]:
        """(notification id, originator id, topic, state) of up to `limit` events with
        the given topics (at least one) after notification `after`, in notification
        order."""
        if not topics:
            raise ValueError("name the topics to read")
        with self.datastore.get_connection() as conn, conn.cursor(
                binary=True, row_factory=tuple_row) as curs:
            curs.execute(self._select_rows_statement, (after, list(topics), limit),
                         prepare=True)
            return curs.fetchall()


class SQLiteBatchRecorder(SQLiteApplicationRecorder):
    def create_table(self) -> None:
        """The library's, on a file already in WAL mode. The library's pool switches a
        new file to WAL on its first connection, and SQLite answers that switch with
        "database is locked" at once, without waiting, while another process is
        opening the same new file (and the pool keeps its writer lock after the
        failure): processes starting together on a new file failed. So the switch is
        made here first, on a connection of our own, retried while the file is busy;
        the pool then finds WAL set and switches nothing."""
        pool = self.datastore.pool
        if not pool.is_sqlite_memory_mode:
            _switch_to_wal(pool.db_name)
        super().create_table()

    def select_notification_rows(self, after: int, limit: int, topics: Sequence[str]
                                 ) -> list[Any]:
        """As PostgresBatchRecorder's; originator ids as stored (hex strings)."""
        if not topics:
            raise ValueError("name the topics to read")
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT rowid, originator_id, topic, state "  # noqa: S608
                f"FROM {self.events_table_name} WHERE rowid > ? "
                f"AND topic IN ({','.join('?' * len(topics))}) ORDER BY rowid LIMIT ?",
                [after, *topics, limit])
            return cast("list[Any]", cursor.fetchall())

    def select_event_rows(self, originator_ids: Sequence[UUID]
                          ) -> list[tuple[UUID, int, str, bytes]]:
        """As PostgresBatchRecorder's."""
        # Rows name their aggregate by the hex string it is stored as; each is mapped
        # back to the id asked for (the very object) rather than parsed into a new UUID
        # per row.
        asked = {i.hex if isinstance(i, UUID) else i: i for i in originator_ids}
        ids = list(asked)
        found: list[tuple[UUID, int, str, bytes]] = []
        with self.datastore.transaction(commit=False) as cursor:
            for chunk, placeholders in sqlite_in_chunks(ids):
                cursor.execute(
                    f"SELECT originator_id, originator_version, topic, state "  # noqa: S608
                    f"FROM {self.events_table_name} WHERE originator_id IN ({placeholders}) "
                    "ORDER BY originator_id, originator_version", chunk)
                found += [(asked[row[0]], row[1], row[2], row[3]) for row in cursor.fetchall()]
        return found


def _switch_to_wal(db_name: str, attempts: int = 250) -> None:
    for _ in range(attempts - 1):
        try:
            with contextlib.closing(sqlite3.connect(db_name, uri=True, timeout=5)) as conn:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error):
                raise
        time.sleep(0.02)
    raise OperationalError(f"{db_name!r} stayed locked while switching it to WAL mode")
