"""From a database URL to the eventsourcing library's persistence settings.

    memory://                         in-process, gone on exit (tests)
    sqlite:///relative/or/abs.db      the embedded default: a file, nothing to install
    postgresql://user:pw@host:port/db production (`?schema=name` for another schema)
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlparse


MAPPING = {"TRANSCODER_TOPIC": "smsledger.adapters.store.transcoder:OrjsonTranscoder",
           "MAPPER_TOPIC": "smsledger.adapters.store.mapper:RowMapper"}

# The settings that put our classes in place of the library's (the benchmark's naive
# baseline leaves them out, to measure the library as it comes).
OUR_PERSISTENCE = ("APPLICATION_RECORDER_TOPIC", *MAPPING)


def persistence_env(database_url: str) -> dict[str, str]:
    return {**_store(database_url), **MAPPING}


def _store(database_url: str) -> dict[str, str]:
    parsed = urlparse(database_url)
    if parsed.scheme == "memory":
        return {"PERSISTENCE_MODULE": "smsledger.adapters.store.memory:MemoryFactory"}
    if parsed.scheme == "sqlite":
        # sqlite:///./x.db -> "./x.db"; sqlite:////abs/x.db -> "/abs/x.db"
        path = database_url[len("sqlite:///"):] if database_url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"{database_url!r} names no file; use sqlite:///path/file.db")
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path,
                "APPLICATION_RECORDER_TOPIC": "smsledger.adapters.store.recorders:SQLiteBatchRecorder"}
    if parsed.scheme in ("postgresql", "postgres"):
        dbname = parsed.path.lstrip("/")
        if not parsed.hostname or not dbname:
            raise ValueError(f"{database_url!r} needs a host and a database name")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(dbname),
            "POSTGRES_HOST": parsed.hostname,
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_SCHEMA": parse_qs(parsed.query).get("schema", ["public"])[0],
            "CREATE_TABLE": "y",
            "APPLICATION_RECORDER_TOPIC": "smsledger.adapters.store.recorders:PostgresBatchRecorder",
            # The library waits 30 s per attempt (and retries): a store that is down
            # would be noticed after minutes, long after Infobip and load balancers
            # gave up. Fail fast instead; the webhook's 503 makes Infobip retry.
            "POSTGRES_CONNECT_TIMEOUT": "5",
        }
    raise ValueError(f"unsupported scheme in {database_url!r}; "
                     "use memory://, sqlite:///path/file.db or postgresql://user@host/db")
