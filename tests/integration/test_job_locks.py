"""Job locks on the real stores (adapters/runtime/job_locks.py): of two holders of one
job the second is refused; when the first gives the lock up, or its process dies, the
second gets it. On PostgreSQL a holder whose connection was cut no longer holds it,
and each schema has its own locks; on SQLite the lock is a file beside the database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.runtime.job_locks import FileJobLock, PostgresJobLock, job_lock_for
from support.postgres import connect
from support.serve_process import free_port
from support.waiting import wait_for
from support.wiring import ledger_of
from support.worker_process import postgres_job_sessions

# A process that takes the lock, says so, and holds it until it is killed.
HOLDER = """
import sys, time
from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.runtime.job_locks import job_lock_for
from support.wiring import ledger_of

channel = bootstrap(settings=load_settings(database_url=sys.argv[1], secret_key="l" * 20),
                    sends=False)
lock = job_lock_for(ledger_of(channel).recorder, "projections")
assert lock.try_acquire()
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture
def locks(durable_store_url):
    """Locks of job `name` on the test's store, each as a process of its own would
    make it (one channel, so one pool, per lock)."""
    opened = []

    def lock(name: str = "projections"):
        channel = bootstrap(settings=load_settings(database_url=durable_store_url,
                                                   secret_key="l" * 20), sends=False)
        made = job_lock_for(ledger_of(channel).recorder, name)
        opened.append((channel, made))
        return made

    yield lock
    for channel, made in opened:
        made.release()
        channel.close()


def test_the_second_holder_is_refused_until_the_first_releases(locks):
    first, second = locks(), locks()
    assert first.try_acquire() and first.holds()
    assert first.try_acquire()  # held already: still true
    assert not second.try_acquire() and not second.holds()
    assert locks("maintenance").try_acquire()  # another job, another lock
    first.release()
    assert not first.holds()
    # Released by closing the session: PostgreSQL ends it, and frees its locks, a moment
    # after the client left (a try at once lost that race once, on a loaded machine).
    assert wait_for(second.try_acquire, timeout=5, what="the lock, once the first session ended")
    assert second.holds()
    assert not first.try_acquire()


def test_a_holder_that_dies_leaves_the_lock_to_the_next(locks, durable_store_url, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, durable_store_url], cwd=tmp_path,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    try:
        assert holder.stdout.readline().strip() == "held"
        standby = locks()
        assert not standby.try_acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        started = time.monotonic()
        wait_for(standby.try_acquire, timeout=10, what="the dead holder's lock")
        assert time.monotonic() - started < 5
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_postgres_holder_whose_connection_is_cut_no_longer_holds(postgres_url):
    settings = load_settings(database_url=postgres_url, secret_key="l" * 20)
    with bootstrap(settings=settings, sends=False) as a, bootstrap(settings=settings,
                                                                    sends=False) as b:
        first = job_lock_for(ledger_of(a).recorder, "projections")
        second = job_lock_for(ledger_of(b).recorder, "projections")
        try:
            assert first.try_acquire()
            schema = postgres_url.rsplit("schema=", 1)[1]
            [(backend, name)] = postgres_job_sessions(schema, "projections")
            assert name.startswith("smsledger job projections ") and name.endswith(
                f" pid {os.getpid()}")
            with connect() as admin:  # as a server restart or an operator would
                admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
            assert not first.holds()  # it must stop running the job
            assert second.try_acquire()
            assert not first.try_acquire()  # a fresh connection, refused: the lock is taken
        finally:
            first.release()
            second.release()


def test_each_postgres_schema_has_its_own_locks(postgres_url):
    other = f"t_{os.urandom(8).hex()}"
    with connect() as admin:
        admin.execute(f'CREATE SCHEMA "{other}"')
    try:
        here = load_settings(database_url=postgres_url, secret_key="l" * 20)
        there = load_settings(database_url=postgres_url.rsplit("=", 1)[0] + f"={other}",
                              secret_key="l" * 20)
        with bootstrap(settings=here, sends=False) as a, bootstrap(settings=there,
                                                                    sends=False) as b:
            locks = [job_lock_for(ledger_of(c).recorder, "projections") for c in (a, b)]
            try:
                assert [lock.try_acquire() for lock in locks] == [True, True]
            finally:
                for lock in locks:
                    lock.release()
    finally:
        with connect() as admin:
            admin.execute(f'DROP SCHEMA "{other}" CASCADE')


def test_an_unreachable_postgres_refuses_the_lock_without_raising():
    lock = PostgresJobLock("", {"host": "127.0.0.1", "port": free_port(), "dbname": "nowhere",
                                "user": "postgres", "connect_timeout": 2}, "public", "projections")
    assert not lock.try_acquire() and not lock.holds()
    lock.release()


def test_the_sqlite_lock_is_a_file_beside_the_database_naming_its_holder(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/store.db", secret_key="l" * 20)
    with bootstrap(settings=settings, sends=False) as channel:
        lock = job_lock_for(ledger_of(channel).recorder, "maintenance")
        assert isinstance(lock, FileJobLock)
        assert lock.path == Path(f"{tmp_path}/store.db.maintenance.lock")
        try:
            assert lock.try_acquire()
            assert lock.path.read_text() == f"{os.getpid()}\n"
        finally:
            lock.release()


def test_a_store_in_memory_needs_no_lock():
    with bootstrap(settings=load_settings(database_url="memory://"), sends=False) as channel:
        assert job_lock_for(ledger_of(channel).recorder, "projections") is None

