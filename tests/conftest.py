"""Shared fixtures: the machine's real PostgreSQL, isolated per test by a schema.

In CI (CI=true) a PostgreSQL server that cannot be reached fails the tests that
need it; elsewhere they are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest

from support.postgres import POSTGRES_URL, connect


@pytest.fixture(scope="session")
def postgres_available() -> None:
    try:
        with connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required in CI and unreachable at {POSTGRES_URL}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}")


@pytest.fixture
def postgres_url(postgres_available) -> str:
    """A database URL whose schema is new and empty, dropped after the test."""
    schema = "t_" + uuid.uuid4().hex[:16]
    with connect() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield f"{POSTGRES_URL}?schema={schema}"
    with connect() as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def durable_store_url(request, tmp_path) -> str:
    """An empty durable store: an SQLite file, then a PostgreSQL schema."""
    if request.param == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/store.db"
