"""Event recorders that load many aggregates' events in one query.

The library's recorders select one aggregate's events per query; a callback of
2,000 reports would be 2,000 round trips. These add `select_events_for(ids)`,
which the application uses when the recorder offers it. They are selected
through the library's APPLICATION_RECORDER_TOPIC setting (adapters/persistence.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg.sql import SQL, Identifier

SQLITE_MAX_PARAMETERS = 900  # below SQLite's historical limit of 999 host parameters


class PostgresBatchRecorder(PostgresApplicationRecorder):
    def select_events_for(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        """Every event of every given aggregate, each aggregate's in version order."""
        if not originator_ids:
            return []
        statement = SQL(
            "SELECT originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, [list(originator_ids)], prepare=True)
            return [StoredEvent(originator_id=row["originator_id"],
                                originator_version=row["originator_version"],
                                topic=row["topic"], state=bytes(row["state"]))
                    for row in curs.fetchall()]


class SQLiteBatchRecorder(SQLiteApplicationRecorder):
    def select_events_for(self, originator_ids: Sequence[UUID]) -> list[StoredEvent]:
        found: list[StoredEvent] = []
        ids = [i.hex if isinstance(i, UUID) else i for i in originator_ids]
        with self.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(ids), SQLITE_MAX_PARAMETERS):
                chunk = ids[start:start + SQLITE_MAX_PARAMETERS]
                cursor.execute(
                    f"SELECT originator_id, originator_version, topic, state "  # noqa: S608
                    f"FROM {self.events_table_name} "
                    f"WHERE originator_id IN ({','.join('?' * len(chunk))}) "
                    "ORDER BY originator_id, originator_version", chunk)
                found += [StoredEvent(originator_id=self.convert_originator_id(row["originator_id"]),
                                      originator_version=row["originator_version"],
                                      topic=row["topic"], state=row["state"])
                          for row in cursor.fetchall()]
        return found
