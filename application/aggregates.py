"""AggregateStore: the one place the use cases load, save and retry.

Each use case loads the aggregates it needs (many in one query), calls their guard
methods and saves everything it changed in one transaction. A concurrent writer (a
webhook and a send answer touching the same message, two admins changing one
project) makes the save fail with IntegrityError; `retrying` then loads and applies
again, so conflicts are retried, never surfaced or lost, until they have happened
MAX_SAVE_ATTEMPTS times in a row (ConcurrencyConflict: try again later).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Notification

from smsledger.application.errors import ConcurrencyConflict
from smsledger.application.ports import EventDecoder, EventRows, NotificationRow

T = TypeVar("T")
A = TypeVar("A", bound=Aggregate)

MAX_SAVE_ATTEMPTS = 10
REPLAY_PAGE = 5000  # notifications per query when replaying: fewer round trips


class AggregateStore:
    def __init__(self, application: Application[UUID]) -> None:
        """The store of `application`, whose recorder and mapper must offer the
        EventRows and EventDecoder ports (smsledger.adapters.runtime.persistence
        configures them for every store)."""
        recorder, mapper = application.recorder, application.mapper
        if not isinstance(recorder, EventRows):
            raise _lacks(recorder, "EventRows")
        if not isinstance(mapper, EventDecoder):
            raise _lacks(mapper, "EventDecoder")
        self.application = application
        self.rows: EventRows = recorder
        self.decoder: EventDecoder = mapper

    # --- loading and saving ---------------------------------------------------------

    def load_many(self, ids: Iterable[UUID]) -> dict[UUID, Any]:
        """The stored aggregates among `ids` (each once, however often it is named),
        rebuilt from one query's rows."""
        event_from_row = self.decoder.event_from_row
        # Keyed by the ids' integers while rebuilding: a UUID's hash and equality are
        # Python code, and every event is looked up and stored again (the ingest's hot loop).
        rebuilt: dict[int, tuple[UUID, Any]] = {}
        for row in self.rows.select_event_rows(list(dict.fromkeys(ids))):
            event = event_from_row(*row)
            key = event.originator_id.int
            found = rebuilt.get(key)
            rebuilt[key] = (event.originator_id,
                            event.mutate(None if found is None else found[1]))
        return dict(rebuilt.values())

    def get(self, aggregate_id: UUID) -> Any | None:
        return self.load_many([aggregate_id]).get(aggregate_id)

    def save(self, *aggregates: Aggregate) -> None:
        """In one transaction; IntegrityError if another writer got there first."""
        self.application.save(*aggregates)

    def retrying(self, attempt: Callable[[], Sequence[Aggregate]]) -> None:
        """Run load-decide-save until the save does not collide with another writer:
        `attempt` loads afresh, decides, and returns what it changed."""
        for _ in range(MAX_SAVE_ATTEMPTS):
            changed = attempt()
            try:
                self.save(*changed)
                return
            except IntegrityError:
                continue
        raise ConcurrencyConflict("gave up after repeated concurrent changes; try again")

    def update(self, ids: Sequence[UUID], command: Callable[[A], None], *,
               missing: Callable[[], Exception]) -> dict[UUID, A]:
        """Apply `command` to each of the aggregates `ids` (all of them stored, else
        `missing()` is raised) and save them together, retried on conflict."""
        result: dict[UUID, A] = {}

        def attempt() -> list[Aggregate]:
            loaded = self.load_many(ids)
            if len(loaded) != len(ids):
                raise missing()
            result.clear()
            for aggregate_id in ids:
                command(loaded[aggregate_id])
                result[aggregate_id] = loaded[aggregate_id]
            return list(result.values())

        self.retrying(attempt)
        return result

    # --- reading the log ------------------------------------------------------------

    def notifications(self, topics: Sequence[str], page: int = 500) -> Iterator[Notification]:
        """The library's notifications with these topics, in store order."""
        recorder = self.application.recorder
        return paged(lambda after: recorder.select_notifications(
            start=after, limit=page, topics=topics, inclusive_of_start=False),
            page, lambda notification: notification.id)

    def notification_rows(self, topics: Sequence[str]) -> Iterator[NotificationRow]:
        """(notification id, originator id, topic, state) of every event with these
        topics, in store order, as plain rows (the replay's reading)."""
        return paged(lambda after: self.rows.select_notification_rows(after, REPLAY_PAGE, topics),
                     REPLAY_PAGE, lambda row: row[0])

    def decode_state(self, state: bytes) -> dict[str, Any]:
        return self.decoder.decode_state(state)


def _lacks(part: object, port: str) -> TypeError:
    return TypeError(f"{type(part).__name__} does not offer the {port} port: configure the "
                     "store with smsledger.adapters.runtime.persistence.persistence_env")


def paged(select: Callable[[int], Sequence[T]], size: int, position: Callable[[T], int]
          ) -> Iterator[T]:
    """Everything `select(after)` pages through: a page of up to `size` items after
    position `after` per call, until a page comes back short."""
    after = 0
    while True:
        page = select(after)
        yield from page
        if len(page) < size:
            return
        after = position(page[-1])
