"""The machine's PostgreSQL server, as the tests reach it."""

import os

import psycopg

POSTGRES_URL = os.environ.get("SMSLEDGER_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")


def connect() -> psycopg.Connection:
    return psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
