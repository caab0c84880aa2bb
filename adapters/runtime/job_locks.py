"""Job locks (application/jobs.py), one per job and store, held by the store's own means.

- PostgreSQL: a session-level advisory lock on `<schema>.job.<name>`, taken with
  pg_try_advisory_lock on a connection of its own (not the pool's: a pooled
  connection goes back to the pool, and the session with it). The holder keeps the
  connection open while it runs the job; when the process dies, its connection
  closes and the server releases the lock. A standby keeps its connection too and
  asks again each time it is told to.
- SQLite (one host by nature): an exclusive flock on `<database file>.<name>.lock`,
  not blocking, released by the kernel when the holder's process ends. The file
  stays (removing it could let two processes lock two different files of that name)
  and names the holder's process id, for the operator.
- In memory: no lock. The store lives in one process.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.persistence import Recorder
from eventsourcing.popo import POPORecorder
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from psycopg.rows import tuple_row

from smsledger.application.jobs import JobLock

log = logging.getLogger("smsledger.jobs")

# The server's own checks of an idle lock connection: a holder whose host vanished
# (power lost, network cut) sends no FIN, and with the operating system's defaults
# the server would keep its session, and the lock, for two hours. With these it
# gives up on it after about 5 + 3 x 2 seconds of silence. A timeout for idle
# sessions, which an operator may set for the pooled ones, must not end this one.
_LOCK_SESSION = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2",
                 "tcp_keepalives_count": "3", "idle_session_timeout": "0"}
_IDLE_SESSION_TIMEOUT_SINCE = 140000  # PostgreSQL 14


def job_lock_for(recorder: Recorder, name: str) -> JobLock | None:
    """The lock of job `name` on the store `recorder` (e.g. `ledger.recorder`) uses;
    None when the store lives in this process alone."""
    if isinstance(recorder, POPORecorder):
        return None
    datastore = getattr(recorder, "datastore", None)
    if isinstance(datastore, PostgresDatastore):
        return PostgresJobLock.beside(datastore, name)
    if isinstance(datastore, SQLiteDatastore):
        if datastore.pool.is_sqlite_memory_mode:
            return None
        return FileJobLock(Path(f"{datastore.pool.db_name}.{name}.lock"))
    raise TypeError(f"no job lock for a {type(recorder).__name__}")


class PostgresJobLock:
    def __init__(self, conninfo: str, kwargs: dict[str, Any], schema: str, name: str) -> None:
        self.key = f"{schema}.job.{name}"
        self._conninfo = conninfo
        # Who holds the lock, for an operator reading pg_stat_activity beside pg_locks.
        holder = f"smsledger job {name} {socket.gethostname()} pid {os.getpid()}"
        self._kwargs = {**kwargs, "autocommit": True, "row_factory": tuple_row,
                        "application_name": holder[:63]}
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._reachable = True

    @classmethod
    def beside(cls, datastore: PostgresDatastore, name: str) -> PostgresJobLock:
        """The lock on the server and database of `datastore`, named by its schema:
        connected as its pool connects (address, credentials, timeouts), as the
        schema lock of adapters/store/recorders.py is."""
        pool = datastore.pool
        conninfo: str = pool.conninfo  # type: ignore[assignment]  # the library's Union
        return cls(conninfo, dict(pool.kwargs or {}),  # type: ignore[arg-type]
                   datastore.schema, name)

    def try_acquire(self) -> bool:
        if self._held:
            return self.holds()
        try:
            conn = self._connection()
            row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                               (self.key,)).fetchone()
        except psycopg.Error as error:
            self._unreachable(error)
            return False
        self._held = bool(row and row[0])
        return self._held

    def holds(self) -> bool:
        if not self._held or self._conn is None:
            return False
        try:
            # The session holds the lock as long as it lives: a connection that
            # still answers is the proof.
            self._conn.execute("SELECT 1")
        except psycopg.Error as error:
            self._unreachable(error)
            return False
        return True

    def release(self) -> None:
        """Closing the session releases its lock, whatever state it is in."""
        self._held = False
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.release()
            conn = psycopg.connect(self._conninfo, **self._kwargs)
            try:
                for setting, value in _LOCK_SESSION.items():
                    if (setting == "idle_session_timeout"
                            and conn.info.server_version < _IDLE_SESSION_TIMEOUT_SINCE):
                        continue
                    conn.execute("SELECT set_config(%s, %s, false)", (setting, value))
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            if not self._reachable:
                log.info("job lock %s: the store answers again", self.key)
            self._reachable = True
        return self._conn

    def _unreachable(self, error: psycopg.Error) -> None:
        """The connection is gone, and the lock with it (the server ends a session
        whose connection broke). Said once per outage, not at every attempt."""
        self.release()
        if self._reachable:
            log.warning("job lock %s: the store cannot be reached (%s: %s)", self.key,
                        type(error).__name__, error)
        self._reachable = False


class FileJobLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return True

    def holds(self) -> bool:
        # The kernel keeps the lock for as long as this descriptor is open.
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
