"""Shared fixtures: the machine's real PostgreSQL, isolated per test by a schema.

In CI (CI=true) a PostgreSQL server that cannot be reached fails the tests that
need it; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import time
import uuid

import psycopg
import pytest

POSTGRES_URL = os.environ.get("SMSLEDGER_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


def _connect() -> psycopg.Connection:
    return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def postgres_available() -> None:
    try:
        with _connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}")


@pytest.fixture
def postgres_url(postgres_available) -> str:
    """A database URL whose schema is new and empty, dropped after the test."""
    schema = "t_" + uuid.uuid4().hex[:16]
    with _connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{POSTGRES_URL}?schema={schema}"
    with _connect() as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def durable_store_url(request, tmp_path) -> str:
    """An empty durable store: an SQLite file, then a PostgreSQL schema."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/store.db"


def wait_for(condition, timeout: float = 15) -> None:
    """Poll until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
