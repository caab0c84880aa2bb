"""The read store on the application's own SQLite or PostgreSQL datastore.

    smsledger_views   view, projection, version, position, live, dropped
    <view>_docs       kind, key, partition, position, doc   PK (kind, key)
                      index (kind, partition, position)

The registry keeps the rows of dropped views, so a projection's view numbers only
grow and a stale runner can never write into a later rebuild by name.

A write opens one transaction and first advances the view's position
(`UPDATE ... WHERE position < tracking_id`): no row updated means the position was
reached already (IntegrityError, nothing written). On PostgreSQL that UPDATE takes the
registry row's lock, so concurrent writers of a view queue and the losers see the
winner's position; on SQLite the transaction begins IMMEDIATE, taking the database's
write lock (in process, the datastore's pool hands out one writer connection at a
time). Puts and deletes are buffered and sent at commit: on PostgreSQL one statement
for all upserts and one for all deletes, from arrays; on SQLite an executemany each.
Gets of a batch can be read ahead in one query (`prefetch`). Tables and views are
created and changed under a lock (SQLite's write lock, a PostgreSQL advisory lock), so
processes starting together do not collide.

The store borrows the datastore's connections and closes nothing: the application
closes its datastore.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from eventsourcing import persistence as es
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg import sql
from psycopg.rows import tuple_row

from smsledger.adapters.store.bounded_postgres import ConnectionCut
from smsledger.adapters.store.recorders import sqlite_in_chunks

T = TypeVar("T")

# Reads on a connection cut by a server restart: the pool was drained, so the
# next attempt takes a fresh connection (or says within the budget that it cannot).
READ_ATTEMPTS = 3
from smsledger.adapters.store.views import (
    check_projection,
    check_view,
    decode,
    encode,
    unknown_view,
    view_name,
)
from smsledger.application.ports import Document, ReadStore, ReadWriter

REGISTRY = "smsledger_views"

# Statements in one spelling: `?` parameters; {reg}, {docs} and {index} stand for
# identifiers, which each dialect renders (and PostgreSQL qualifies by schema).
CREATE_REGISTRY = (
    "CREATE TABLE IF NOT EXISTS {reg} ("
    "view TEXT PRIMARY KEY, projection TEXT NOT NULL, version INTEGER NOT NULL, "
    "position BIGINT NOT NULL, live BOOLEAN NOT NULL, dropped BOOLEAN NOT NULL)")
CREATE_REGISTRY_INDEX = "CREATE UNIQUE INDEX IF NOT EXISTS {index} ON {reg} (projection) WHERE live"
CREATE_DOCS = (
    "CREATE TABLE IF NOT EXISTS {docs} ("
    "kind TEXT NOT NULL, key TEXT NOT NULL, partition TEXT NOT NULL, "
    "position BIGINT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, key))")
CREATE_DOCS_INDEX = "CREATE INDEX IF NOT EXISTS {index} ON {docs} (kind, partition, position)"
DROP_DOCS = "DROP TABLE IF EXISTS {docs}"

SELECT_LIVE = "SELECT view FROM {reg} WHERE projection = ? AND live"
SELECT_NEXT_VERSION = "SELECT COALESCE(MAX(version), 0) + 1 FROM {reg} WHERE projection = ?"
SELECT_VIEW = "SELECT projection, live FROM {reg} WHERE view = ? AND NOT dropped"
SELECT_POSITION = "SELECT position FROM {reg} WHERE view = ? AND NOT dropped"
INSERT_VIEW = ("INSERT INTO {reg} (view, projection, version, position, live, dropped) "
               "VALUES (?, ?, ?, 0, ?, FALSE)")
ADVANCE = "UPDATE {reg} SET position = ? WHERE view = ? AND position < ? AND NOT dropped"
ADVANCE_FROM = "UPDATE {reg} SET position = ? WHERE view = ? AND position = ? AND NOT dropped"
RETIRE = "UPDATE {reg} SET live = FALSE, dropped = TRUE WHERE view = ?"
MAKE_LIVE = "UPDATE {reg} SET live = TRUE WHERE view = ?"

GET_DOC = "SELECT doc FROM {docs} WHERE kind = ? AND key = ?"
GET_DOCS = "SELECT key, doc FROM {docs} WHERE kind = ? AND key IN ({keys})"
UPSERT_DOC = (
    "INSERT INTO {docs} (kind, key, partition, position, doc) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (kind, key) DO UPDATE SET partition = excluded.partition, "
    "position = excluded.position, doc = excluded.doc")
DELETE_DOC = "DELETE FROM {docs} WHERE kind = ? AND key = ?"
# PostgreSQL only: a whole transaction's upserts and deletes as one statement each,
# from arrays sent in binary (%b: psycopg escapes text arrays byte by byte in Python).
# Keys are unique within one, as the writer buffers one change per document.
UPSERT_DOCS = (
    "INSERT INTO {docs} (kind, key, partition, position, doc) "
    "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::bigint[], %b::text[]) "
    "ON CONFLICT (kind, key) DO UPDATE SET partition = excluded.partition, "
    "position = excluded.position, doc = excluded.doc")
DELETE_DOCS = ("DELETE FROM {docs} AS d USING unnest(%b::text[], %b::text[]) AS gone(kind, key) "
               "WHERE d.kind = gone.kind AND d.key = gone.key")
SCAN = "SELECT position, doc FROM {docs} WHERE kind = ? AND partition = ?"


def docs_table(view: str) -> str:
    return f"{view}_docs"


def read_again_when_cut(dialect: Dialect, query: Callable[[Any], T]) -> T:
    """`query(cursor)` on a reading connection, repeated when a server restart had cut
    the connection it was given (for every table beside the event store)."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            with dialect.reading() as cursor:
                return query(cursor)
        except ConnectionCut:
            if attempt == READ_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


# --- dialects ---------------------------------------------------------------------------

class SQLiteDialect:
    """SQLite through the library's SQLiteDatastore (connections in autocommit mode)."""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore

    def statement(self, template: str, **names: str) -> str:
        return template.format(**{k: f'"{v}"' for k, v in names.items()})

    def select_docs(self, cursor: Any, docs: str, kind: str, keys: Sequence[str]
                    ) -> list[tuple[str, str]]:
        """(key, doc) of the documents of `kind` among `keys`."""
        found: list[tuple[str, str]] = []
        for chunk, placeholders in sqlite_in_chunks(keys):
            cursor.execute(GET_DOCS.format(docs=f'"{docs}"', keys=placeholders), [kind, *chunk])
            found += cursor.fetchall()
        return found

    def upsert_docs(self, cursor: Any, docs: str, rows: list[tuple[str, str, str, int, str]]
                    ) -> None:
        """(kind, key, partition, position, doc) rows, each replacing its document."""
        cursor.executemany(self.statement(UPSERT_DOC, docs=docs), rows)

    def delete_docs(self, cursor: Any, docs: str, keys: list[tuple[str, str]]) -> None:
        cursor.executemany(self.statement(DELETE_DOC, docs=docs), keys)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A write transaction: the pool's one writer connection, BEGIN IMMEDIATE (so
        other processes wait on the busy timeout instead of failing at commit)."""
        with _sqlite_errors(), self.datastore.get_connection(commit=True) as conn, \
                conn.cursor() as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with _sqlite_errors(), self.datastore.get_connection(commit=False) as conn, \
                conn.cursor() as cursor:
            yield cursor

    def lock_views(self, cursor: Any) -> None:
        """BEGIN IMMEDIATE has serialized view changes already."""

    @staticmethod
    def is_missing_table(error: BaseException) -> bool:
        return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)


class PostgresDialect:
    """PostgreSQL through the library's PostgresDatastore, in its schema."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        self.schema = datastore.schema

    def statement(self, template: str, **names: str) -> sql.Composed:
        identifiers = {k: sql.Identifier(v) if k == "index" else sql.Identifier(self.schema, v)
                       for k, v in names.items()}
        return sql.SQL(template.replace("?", "%s")).format(**identifiers)

    def select_docs(self, cursor: Any, docs: str, kind: str, keys: Sequence[str]
                    ) -> list[tuple[str, str]]:
        """(key, doc) of the documents of `kind` among `keys`."""
        cursor.execute(self.statement(GET_DOCS.replace("IN ({keys})", "= ANY(%b)"), docs=docs),
                       (kind, list(keys)))
        rows: list[tuple[str, str]] = cursor.fetchall()
        return rows

    def upsert_docs(self, cursor: Any, docs: str, rows: list[tuple[str, str, str, int, str]]
                    ) -> None:
        """As SQLiteDialect's, in one statement: psycopg's executemany would still send
        one statement per row (a batch of projected events writes thousands)."""
        cursor.execute(self.statement(UPSERT_DOCS, docs=docs), [list(c) for c in zip(*rows)])

    def delete_docs(self, cursor: Any, docs: str, keys: list[tuple[str, str]]) -> None:
        cursor.execute(self.statement(DELETE_DOCS, docs=docs), [list(c) for c in zip(*keys)])

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.datastore.get_connection() as conn, conn.transaction(), \
                conn.cursor(row_factory=tuple_row) as cursor:
            yield cursor

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self.datastore.get_connection() as conn, \
                conn.cursor(row_factory=tuple_row) as cursor:
            yield cursor

    def lock_views(self, cursor: Any) -> None:
        """Serialize creating tables and changing views, per schema, until commit."""
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}.{REGISTRY}",))

    @staticmethod
    def is_missing_table(error: BaseException) -> bool:
        return isinstance(error, psycopg.errors.UndefinedTable)


_SQLITE_ERRORS: Sequence[tuple[type[sqlite3.Error], type[es.PersistenceError]]] = (
    (sqlite3.InterfaceError, es.InterfaceError), (sqlite3.DataError, es.DataError),
    (sqlite3.OperationalError, es.OperationalError), (sqlite3.IntegrityError, es.IntegrityError),
    (sqlite3.InternalError, es.InternalError), (sqlite3.ProgrammingError, es.ProgrammingError),
    (sqlite3.NotSupportedError, es.NotSupportedError), (sqlite3.DatabaseError, es.DatabaseError),
    (sqlite3.Error, es.PersistenceError),
)


@contextmanager
def _sqlite_errors() -> Iterator[None]:
    """sqlite3's errors as the library's, as PostgresDatastore does for psycopg's."""
    try:
        yield
    except sqlite3.Error as error:
        ours = next(e for s, e in _SQLITE_ERRORS if isinstance(error, s))
        raise ours(str(error)) from error


Dialect = SQLiteDialect | PostgresDialect


def dialect_beside(recorder: Any) -> Dialect:
    """The dialect of the datastore `recorder` (the ledger's) writes to: the tables
    beside the event store share its database and connections."""
    datastore = getattr(recorder, "datastore", None)
    if isinstance(datastore, SQLiteDatastore):
        return SQLiteDialect(datastore)
    if isinstance(datastore, PostgresDatastore):
        return PostgresDialect(datastore)
    raise TypeError(f"no SQL tables beside a {type(recorder).__name__}")


# --- the store --------------------------------------------------------------------------

class _SqlWriter(ReadWriter):
    """Buffers puts and deletes (reads see them first) until the commit flushes them."""

    def __init__(self, dialect: Dialect, cursor: Any, view: str) -> None:
        self._dialect = dialect
        self._cursor = cursor
        self._table = docs_table(view)
        self._get = dialect.statement(GET_DOC, docs=self._table)
        # (kind, key) -> (partition, position, JSON text), or None for a delete
        self._pending: dict[tuple[str, str], tuple[str, int, str] | None] = {}
        # (kind, key) -> JSON text as stored, or None for absent: read by prefetch
        self._fetched: dict[tuple[str, str], str | None] = {}
        self._done = False

    def get(self, kind: str, key: str) -> Document | None:
        if (kind, key) in self._pending:
            change = self._pending[(kind, key)]
            return None if change is None else decode(change[2])
        if (kind, key) in self._fetched:
            text = self._fetched[(kind, key)]
            return None if text is None else decode(text)
        self._cursor.execute(self._get, (kind, key))
        row = self._cursor.fetchone()
        return None if row is None else decode(row[0])

    def prefetch(self, kind: str, keys: Collection[str]) -> None:
        self._check_open()
        wanted = [key for key in set(keys)
                  if (kind, key) not in self._pending and (kind, key) not in self._fetched]
        if not wanted:
            return
        self._fetched.update(((kind, key), None) for key in wanted)
        self._fetched.update(((kind, key), text) for key, text in
                             self._dialect.select_docs(self._cursor, self._table, kind, wanted))

    def put(self, kind: str, key: str, doc: Document, *, partition: str = "",
            position: int = 0) -> None:
        self._check_open()
        self._pending[(kind, key)] = (partition, position, encode(doc))

    def delete(self, kind: str, key: str) -> None:
        self._check_open()
        self._pending[(kind, key)] = None

    def flush(self) -> None:
        self._check_open()
        self._done = True
        deletes = [k for k, change in self._pending.items() if change is None]
        upserts = [(kind, key, *change) for (kind, key), change in self._pending.items()
                   if change is not None]
        if deletes:
            self._dialect.delete_docs(self._cursor, self._table, deletes)
        if upserts:
            self._dialect.upsert_docs(self._cursor, self._table, upserts)

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("this write transaction is over")


class SqlReadStore(ReadStore):
    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._sql = dialect.statement
        with self._views_transaction() as cursor:
            cursor.execute(self._sql(CREATE_REGISTRY, reg=REGISTRY))
            cursor.execute(self._sql(CREATE_REGISTRY_INDEX, reg=REGISTRY,
                                     index=f"{REGISTRY}_live"))

    # --- views and tracking ---------------------------------------------------------

    def live_view(self, projection: str) -> str:
        check_projection(projection)
        live = self._read(lambda cursor: self._live(cursor, projection))
        if live is not None:
            return live
        with self._views_transaction() as cursor:
            return self._live(cursor, projection) or self._create(cursor, projection, live=True)

    def new_view(self, projection: str) -> str:
        check_projection(projection)
        with self._views_transaction() as cursor:
            return self._create(cursor, projection, live=False)

    def swap(self, projection: str, view: str) -> None:
        check_projection(projection)
        check_view(view)
        with self._views_transaction() as cursor:
            cursor.execute(self._sql(SELECT_VIEW, reg=REGISTRY), (view,))
            row = cursor.fetchone()
            if row is None:
                raise unknown_view(view)
            if row[0] != projection:
                raise ValueError(f"view {view!r} is not a view of {projection!r}")
            old = self._live(cursor, projection)
            if old == view:
                return
            if old is not None:
                cursor.execute(self._sql(RETIRE, reg=REGISTRY), (old,))
                cursor.execute(self._sql(DROP_DOCS, docs=docs_table(old)))
            cursor.execute(self._sql(MAKE_LIVE, reg=REGISTRY), (view,))

    def drop(self, view: str) -> None:
        check_view(view)
        with self._views_transaction() as cursor:
            cursor.execute(self._sql(SELECT_VIEW, reg=REGISTRY), (view,))
            row = cursor.fetchone()
            if row is None:
                return
            if row[1]:
                raise ValueError(f"view {view!r} is live; swap another in before dropping it")
            cursor.execute(self._sql(RETIRE, reg=REGISTRY), (view,))
            cursor.execute(self._sql(DROP_DOCS, docs=docs_table(view)))

    def position(self, view: str) -> int:
        check_view(view)
        return self._read(lambda cursor: self._position(cursor, view))

    @contextmanager
    def write(self, view: str, tracking_id: int, *, after: int | None = None
              ) -> Iterator[ReadWriter]:
        check_view(view)
        if after is not None and after >= tracking_id:
            raise ValueError(f"tracking id {tracking_id} is not after {after}")
        with self._dialect.transaction() as cursor:
            if after is None:
                cursor.execute(self._sql(ADVANCE, reg=REGISTRY), (tracking_id, view, tracking_id))
            else:
                cursor.execute(self._sql(ADVANCE_FROM, reg=REGISTRY), (tracking_id, view, after))
            if cursor.rowcount != 1:
                position = self._position(cursor, view)
                raise es.IntegrityError(f"view {view!r} is at position {position}; "
                                        f"cannot write tracking id {tracking_id}")
            writer = _SqlWriter(self._dialect, cursor, view)
            yield writer
            writer.flush()

    # --- reading ----------------------------------------------------------------------

    def get(self, view: str, kind: str, key: str) -> Document | None:
        rows = self._read_docs(view, GET_DOC, (kind, key))
        return decode(rows[0][0]) if rows else None

    def scan(self, view: str, kind: str, partition: str, *, after: int | None = None,
             upto: int | None = None, limit: int = 1000) -> list[tuple[int, Document]]:
        if limit < 1:
            raise ValueError(f"limit must be positive, got {limit}")
        params: list[str | int]
        template, params = SCAN, [kind, partition]
        if after is not None:
            template += " AND position > ?"
            params.append(after)
        if upto is not None:
            template += " AND position <= ?"
            params.append(upto)
        template += " ORDER BY position, key LIMIT ?"
        params.append(limit)
        return [(position, decode(doc))
                for position, doc in self._read_docs(view, template, params)]

    # --- helpers ------------------------------------------------------------------------

    @contextmanager
    def _views_transaction(self) -> Iterator[Any]:
        with self._dialect.transaction() as cursor:
            self._dialect.lock_views(cursor)
            yield cursor

    def _read(self, query: Callable[[Any], T]) -> T:
        return read_again_when_cut(self._dialect, query)

    def _read_docs(self, view: str, template: str, params: Sequence[Any]) -> list[Any]:
        statement = self._dialect.statement(template, docs=docs_table(check_view(view)))

        def query(cursor: Any) -> list[Any]:
            try:
                cursor.execute(statement, params)
            except Exception as error:
                if self._dialect.is_missing_table(error):
                    raise unknown_view(view) from None
                raise
            rows: list[Any] = cursor.fetchall()
            return rows
        return self._read(query)

    def _live(self, cursor: Any, projection: str) -> str | None:
        cursor.execute(self._sql(SELECT_LIVE, reg=REGISTRY), (projection,))
        row = cursor.fetchone()
        return None if row is None else row[0]

    def _position(self, cursor: Any, view: str) -> int:
        cursor.execute(self._sql(SELECT_POSITION, reg=REGISTRY), (view,))
        row = cursor.fetchone()
        if row is None:
            raise unknown_view(view)
        return int(row[0])

    def _create(self, cursor: Any, projection: str, *, live: bool) -> str:
        cursor.execute(self._sql(SELECT_NEXT_VERSION, reg=REGISTRY), (projection,))
        version = int(cursor.fetchone()[0])
        view = view_name(projection, version)
        table = docs_table(view)
        cursor.execute(self._sql(INSERT_VIEW, reg=REGISTRY), (view, projection, version, live))
        cursor.execute(self._sql(CREATE_DOCS, docs=table))
        cursor.execute(self._sql(CREATE_DOCS_INDEX, docs=table, index=f"{table}_by_position"))
        return view
