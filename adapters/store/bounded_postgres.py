"""PostgreSQL that answers within the store budget, or says at once that it cannot.

With the server down, the library's store made every caller wait for a pooled
connection up to its connect timeout, and its recorders retry every operational
error ten times: a webhook, and /healthz, answered 503 after some 22 s, long after
Infobip and load balancers had given up waiting. Here, selected by
PERSISTENCE_MODULE (smsledger.adapters.runtime.persistence), with the budget in
STORE_TIMEOUT_SECONDS (the setting store_timeout_seconds):

- No connection within the budget raises StoreTimeout, a PersistenceError the
  library's retries leave alone: the request answers 503 then, not ten budgets later.
- A connection found cut (the server crashed or restarted) drains the pool: its
  other idle connections are to the same server and as dead, and each would cost the
  library's retry loop an attempt and a pause before a fresh connection was tried.
  It raises ConnectionCut, an OperationalError, so that reads (which the library's
  retries, and the read store's, repeat) take a fresh connection at once.
- The pool's reconnection attempts give up after the budget instead of backing off
  for five minutes (waits of up to two minutes between attempts): once the server is
  back, the next request starts a new attempt and the service recovers within
  seconds, without a restart.
- A connection attempt and unacknowledged data are bounded too, for a server that
  vanished from the network rather than refusing connections.

The state stays the library's: this changes bounds and what a timeout raises, not
how events are stored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, PersistenceError
from eventsourcing.postgres import PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment, EnvType
from psycopg.rows import DictRow
from psycopg_pool import PoolTimeout, TooManyRequests

# The key of the store budget (seconds, a decimal) in the library's environment.
STORE_TIMEOUT_SECONDS = "STORE_TIMEOUT_SECONDS"

# Waits for a pooled connection that ended without one.
_NO_CONNECTION = (PoolTimeout, TooManyRequests)

# No parallel plans on the store's connections: its statements each read a few hundred
# rows by index, and on a table without statistics the planner ran an aggregate load
# with two parallel workers, 20 ms instead of under 1 ms (README, Deployment). Set
# after connecting, not as a startup option, which PgBouncer refuses; left alone where
# the operator chose a value for this client, role or database (PGOPTIONS, ALTER ROLE).
NO_PARALLEL_PLANS = (
    "SELECT set_config('max_parallel_workers_per_gather', '0', false) FROM pg_settings "
    "WHERE name = 'max_parallel_workers_per_gather' "
    "AND source IN ('default', 'configuration file')")


class StoreTimeout(PersistenceError):
    """The store did not answer within the budget. Deliberately not an
    OperationalError: the library retries those, and waiting again would only make
    the caller's answer later."""


class ConnectionCut(OperationalError):
    """The server closed the connection (a restart or a crash). A statement on it
    committed nothing, unless the cut fell on the commit itself: a read is safe to
    repeat on a fresh connection, which the drained pool makes the next one."""


class BoundedPostgresFactory(PostgresFactory):
    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        budget = float(self.env.get(STORE_TIMEOUT_SECONDS) or self.datastore.pool.timeout)
        BoundedPostgresDatastore.bound(self.datastore, budget)


class BoundedPostgresDatastore(PostgresDatastore):
    @classmethod
    def bound(cls, datastore: PostgresDatastore, budget: float) -> None:
        """Makes the library's datastore, built from the whole environment, this
        class, before its pool opens. Its state stays as the library built it (an
        instance of this class built anew could miss a setting a later library
        version adds); this class only adds methods."""
        if budget <= 0:
            raise ValueError(f"the store budget must be positive, not {budget}")
        pool = datastore.pool
        pool.timeout = budget  # waiting for a pooled connection
        pool.reconnect_timeout = budget  # then the next request starts a fresh attempt
        if isinstance(pool.kwargs, dict):  # the library's: a dict
            # libpq's connect timeout has whole seconds, at least 2; the user timeout
            # ends a connection whose server stopped acknowledging what was sent.
            pool.kwargs.update(connect_timeout=max(2, math.ceil(budget)),
                               tcp_user_timeout=math.ceil(budget * 1000))
        # psycopg_pool keeps the callback it runs on each new connection in
        # `_configure`; the library's sets autocommit and its idle timeout.
        pool._configure = _then_no_parallel_plans(pool._configure)
        datastore.__class__ = cls

    @contextmanager
    def get_connection(self) -> Iterator[psycopg.Connection[DictRow]]:
        conn: psycopg.Connection[DictRow] | None = None
        try:
            with super().get_connection() as conn:
                yield conn
        except (OperationalError, InterfaceError) as error:
            if isinstance(error.__cause__, _NO_CONNECTION):
                raise self._timeout() from error.__cause__
            if conn is not None and conn.broken:
                self.pool.drain()
                raise ConnectionCut(str(error)) from error.__cause__
            raise

    def probe(self, within: float) -> None:
        """Returns once the server answers a query, raises StoreTimeout if it did not
        within `within` seconds (the pool's connections cut by a restart are
        replaced meanwhile), or the error of a server that answered with one."""
        deadline = time.monotonic() + within
        self.pool.open(wait=False)
        while True:
            conn = None
            try:
                with self.pool.connection(timeout=deadline - time.monotonic()) as conn:
                    conn.execute("SELECT 1")
                return
            except _NO_CONNECTION as error:
                raise self._timeout(within) from error
            except psycopg.OperationalError:
                if conn is None or not conn.broken or time.monotonic() >= deadline:
                    raise
                self.pool.drain()

    def has_table(self, table: str, within: float) -> bool:
        """Whether `table` exists in this store's schema; StoreTimeout if the server
        gave no connection within `within` seconds."""
        try:
            with self.pool.connection(timeout=within) as conn:
                found = conn.execute(
                    "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) AS found",
                    (self.schema, table)).fetchone()
        except _NO_CONNECTION as error:
            raise self._timeout(within) from error
        return found is not None and found["found"] is not None

    def _timeout(self, seconds: float | None = None) -> StoreTimeout:
        seconds = self.pool.timeout if seconds is None else seconds
        return StoreTimeout(f"PostgreSQL at {self._address()} gave no connection "
                            f"within {seconds:g} s")

    def _address(self) -> str:
        kwargs: Any = self.pool.kwargs if isinstance(self.pool.kwargs, dict) else {}
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def _then_no_parallel_plans(configure: Callable[[Any], None] | None
                            ) -> Callable[[Any], None]:
    def configured(conn: Any) -> None:
        if configure is not None:
            configure(conn)
        conn.execute(NO_PARALLEL_PLANS)

    return configured
