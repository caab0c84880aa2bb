"""The read store in process memory, for the POPO event store (`memory://`).

Documents are kept as JSON text, as the SQL stores keep them, so a document read back
is a fresh copy and anything that would not survive the database fails here too.

One writer at a time (a re-entrant lock held for the whole `write` block, as the
databases serialize writers); readers take a short data lock and never wait for a
writer's block to finish, only for its commit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from eventsourcing.persistence import IntegrityError

from smsledger.adapters.store.views import (
    check_projection,
    check_view,
    decode,
    encode,
    unknown_view,
    view_name,
)
from smsledger.application.ports import Document, ReadStore, ReadWriter

Key = tuple[str, str]  # (kind, key)


@dataclass
class _View:
    projection: str
    live: bool
    position: int = 0
    # (kind, key) -> partition; (kind, partition) -> key -> (position, JSON text)
    where: dict[Key, str] = field(default_factory=dict)
    parts: dict[tuple[str, str], dict[str, tuple[int, str]]] = field(default_factory=dict)

    def get(self, kind: str, key: str) -> str | None:
        partition = self.where.get((kind, key))
        return None if partition is None else self.parts[(kind, partition)][key][1]

    def delete(self, kind: str, key: str) -> None:
        partition = self.where.pop((kind, key), None)
        if partition is not None:
            docs = self.parts[(kind, partition)]
            del docs[key]
            if not docs:
                del self.parts[(kind, partition)]

    def put(self, kind: str, key: str, partition: str, position: int, text: str) -> None:
        self.delete(kind, key)
        self.where[(kind, key)] = partition
        self.parts.setdefault((kind, partition), {})[key] = (position, text)


class _MemoryWriter(ReadWriter):
    def __init__(self, store: MemoryReadStore, view: str) -> None:
        self._store = store
        self._view = view
        # (kind, key) -> (partition, position, JSON text), or None for a delete
        self.pending: dict[Key, tuple[str, int, str] | None] = {}
        self.done = False

    def get(self, kind: str, key: str) -> Document | None:
        if (kind, key) in self.pending:
            change = self.pending[(kind, key)]
            return None if change is None else decode(change[2])
        return self._store.get(self._view, kind, key)

    def put(self, kind: str, key: str, doc: Document, *, partition: str = "",
            position: int = 0) -> None:
        self._check_open()
        self.pending[(kind, key)] = (partition, position, encode(doc))

    def delete(self, kind: str, key: str) -> None:
        self._check_open()
        self.pending[(kind, key)] = None

    def _check_open(self) -> None:
        if self.done:
            raise RuntimeError("this write transaction is over")


class MemoryReadStore(ReadStore):
    def __init__(self) -> None:
        self._writer = threading.RLock()  # held by a whole write block, and by view changes
        self._data = threading.Lock()     # held briefly, by readers and commits
        self._views: dict[str, _View] = {}
        self._versions: dict[str, int] = {}  # projection -> last version named (never reused)

    # --- views and tracking ---------------------------------------------------------

    def live_view(self, projection: str) -> str:
        check_projection(projection)
        with self._data:
            live = self._live(projection)
        if live is not None:
            return live
        with self._writer, self._data:
            return self._live(projection) or self._create(projection, live=True)

    def new_view(self, projection: str) -> str:
        check_projection(projection)
        with self._writer, self._data:
            return self._create(projection, live=False)

    def swap(self, projection: str, view: str) -> None:
        check_projection(projection)
        check_view(view)
        with self._writer, self._data:
            new = self._view(view)
            if new.projection != projection:
                raise ValueError(f"view {view!r} is not a view of {projection!r}")
            old = self._live(projection)
            if old == view:
                return
            if old is not None:
                del self._views[old]
            new.live = True

    def drop(self, view: str) -> None:
        check_view(view)
        with self._writer, self._data:
            if view not in self._views:
                return
            if self._views[view].live:
                raise ValueError(f"view {view!r} is live; swap another in before dropping it")
            del self._views[view]

    def position(self, view: str) -> int:
        check_view(view)
        with self._data:
            return self._view(view).position

    @contextmanager
    def write(self, view: str, tracking_id: int, *, after: int | None = None
              ) -> Iterator[ReadWriter]:
        check_view(view)
        with self._writer:
            with self._data:
                self._advance_check(view, tracking_id, after)
            writer = _MemoryWriter(self, view)
            try:
                yield writer
            finally:
                writer.done = True
            with self._data:
                # The block may have changed views on this thread: check again.
                target = self._advance_check(view, tracking_id, after)
                for (kind, key), change in writer.pending.items():
                    if change is None:
                        target.delete(kind, key)
                    else:
                        target.put(kind, key, *change)
                target.position = tracking_id

    # --- reading ----------------------------------------------------------------------

    def get(self, view: str, kind: str, key: str) -> Document | None:
        check_view(view)
        with self._data:
            text = self._view(view).get(kind, key)
        return None if text is None else decode(text)

    def scan(self, view: str, kind: str, partition: str, *, after: int | None = None,
             upto: int | None = None, limit: int = 1000) -> list[tuple[int, Document]]:
        check_view(view)
        if limit < 1:
            raise ValueError(f"limit must be positive, got {limit}")
        with self._data:
            docs = list(self._view(view).parts.get((kind, partition), {}).items())
        rows = sorted((position, key, text) for key, (position, text) in docs
                      if (after is None or position > after)
                      and (upto is None or position <= upto))
        return [(position, decode(text)) for position, _, text in rows[:limit]]

    # --- helpers (callers hold self._data) ----------------------------------------------

    def _live(self, projection: str) -> str | None:
        return next((name for name, v in self._views.items()
                     if v.live and v.projection == projection), None)

    def _create(self, projection: str, *, live: bool) -> str:
        version = self._versions.get(projection, 0) + 1
        self._versions[projection] = version
        name = view_name(projection, version)
        self._views[name] = _View(projection, live)
        return name

    def _view(self, view: str) -> _View:
        try:
            return self._views[view]
        except KeyError:
            raise unknown_view(view) from None

    def _advance_check(self, view: str, tracking_id: int, after: int | None) -> _View:
        target = self._view(view)
        if tracking_id <= target.position or (after is not None and target.position != after):
            raise IntegrityError(f"view {view!r} is at position {target.position}; "
                                 f"cannot write tracking id {tracking_id}")
        return target
