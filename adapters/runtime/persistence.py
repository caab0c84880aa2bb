"""From a database URL to the eventsourcing library's persistence settings.

    memory://                         in-process, gone on exit (tests)
    sqlite:///relative/or/abs.db      the embedded default: a file, nothing to install
    postgresql://user:pw@host:port/db production (`?schema=name` for another schema)
"""

from __future__ import annotations

import math
from urllib.parse import parse_qs, unquote, urlparse

from smsledger.adapters.store.bounded_postgres import STORE_TIMEOUT_SECONDS


MAPPING = {"TRANSCODER_TOPIC": "smsledger.adapters.store.transcoder:OrjsonTranscoder",
           "MAPPER_TOPIC": "smsledger.adapters.store.mapper:RowMapper"}

# The settings that put our classes in place of the library's (the benchmark's naive
# baseline leaves them out, to measure the library as it comes).
OUR_PERSISTENCE = ("APPLICATION_RECORDER_TOPIC", *MAPPING)

# How long a request may wait for the store before it answers 503 (seconds).
DEFAULT_STORE_TIMEOUT = 5.0


def persistence_env(database_url: str, store_timeout: float = DEFAULT_STORE_TIMEOUT
                    ) -> dict[str, str]:
    return {**_store(database_url, store_timeout), **MAPPING}


def _store(database_url: str, store_timeout: float) -> dict[str, str]:
    parsed = urlparse(database_url)
    if parsed.scheme == "memory":
        return {"PERSISTENCE_MODULE": "smsledger.adapters.store.memory:MemoryFactory"}
    if parsed.scheme == "sqlite":
        # sqlite:///./x.db -> "./x.db"; sqlite:////abs/x.db -> "/abs/x.db"
        path = database_url[len("sqlite:///"):] if database_url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"{database_url!r} names no file; use sqlite:///path/file.db")
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "APPLICATION_RECORDER_TOPIC": "smsledger.adapters.store.recorders:SQLiteBatchRecorder",
                # The busy timeout: a write waits this long for a file another process
                # has locked, then fails (503), instead of the library's 5 s. Whole
                # seconds only.
                "SQLITE_LOCK_TIMEOUT": str(max(1, math.ceil(store_timeout)))}
    if parsed.scheme in ("postgresql", "postgres"):
        dbname = parsed.path.lstrip("/")
        if not parsed.hostname or not dbname:
            raise ValueError(f"{database_url!r} needs a host and a database name")
        return {
            # The library's, bounded by the budget (adapters/store/bounded_postgres.py).
            "PERSISTENCE_MODULE": "smsledger.adapters.store.bounded_postgres:BoundedPostgresFactory",
            "POSTGRES_DBNAME": unquote(dbname),
            "POSTGRES_HOST": parsed.hostname,
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_SCHEMA": parse_qs(parsed.query).get("schema", ["public"])[0],
            "CREATE_TABLE": "y",
            "APPLICATION_RECORDER_TOPIC": "smsledger.adapters.store.recorders:PostgresBatchRecorder",
            # The library waits 30 s per attempt for a connection, and retries: a
            # store that is down would be noticed after minutes, long after Infobip
            # and load balancers gave up. Answer 503 within the budget instead
            # (Infobip retries). The factory applies it; the library's own setting
            # (whole seconds) says the same to anything reading only that.
            STORE_TIMEOUT_SECONDS: repr(float(store_timeout)),
            "POSTGRES_CONNECT_TIMEOUT": str(max(1, math.ceil(store_timeout))),
        }
    raise ValueError(f"unsupported scheme in {database_url!r}; "
                     "use memory://, sqlite:///path/file.db or postgresql://user@host/db")
