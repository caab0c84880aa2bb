"""The read-model store port: documents kept by projections, with tracking.

A projection turns the store's notifications (in order) into documents. Every
write happens in a transaction that also advances the view's tracking position
to the notification id of the last event it covers, so each event is processed
exactly once: writing a position that is not beyond the current one raises
IntegrityError and writes nothing.

A projection's documents live in a *view*. Rebuilding a projection creates a new,
empty view, fills it from position zero, and swaps it in; readers always read the
live view of a projection.

Documents are JSON objects. Each has a kind and a key (unique together) and
optionally a partition and a position, by which `scan` lists documents in order
(e.g. a project's campaign events by notification id, or open waiting windows
by closing time).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from typing import Any

Document = dict[str, Any]


class ReadWriter(ABC):
    """One write transaction on one view. Reads see the transaction's own writes."""

    @abstractmethod
    def get(self, kind: str, key: str) -> Document | None: ...

    @abstractmethod
    def put(self, kind: str, key: str, doc: Document, *, partition: str = "",
            position: int = 0) -> None: ...

    @abstractmethod
    def delete(self, kind: str, key: str) -> None:
        """Remove the document if it exists; no error otherwise."""

    def prefetch(self, kind: str, keys: Collection[str]) -> None:
        """Read these documents ahead, together: a projection about to `get` one per
        event of a batch says so first, and a store across a network reads them in
        one round trip instead of one each. Only a hint: `get` answers the same
        either way. Here (a store in the same process) there is nothing to gain."""


class ReadStore(ABC):
    """Projection names become table names: 1 to 40 letters, digits or underscores
    (ValueError otherwise). Views are named `<projection>_v<N>`, N growing with every
    new view and never reused. Naming a view that does not exist (never created,
    dropped, or swapped out) raises ValueError."""

    # --- views and tracking ---------------------------------------------------------

    @abstractmethod
    def live_view(self, projection: str) -> str:
        """The name of the projection's live view, creating an empty one (position 0)
        the first time a projection is named."""

    @abstractmethod
    def new_view(self, projection: str) -> str:
        """A new empty view for a rebuild (position 0); not live until swapped in."""

    @abstractmethod
    def swap(self, projection: str, view: str) -> None:
        """Make `view` the projection's live view and drop the previous one, in one
        transaction. ValueError if `view` is not one of the projection's views."""

    @abstractmethod
    def drop(self, view: str) -> None:
        """Remove a view that is not live (an abandoned rebuild); ValueError for the
        live view; nothing to do for a view already gone."""

    @abstractmethod
    def position(self, view: str) -> int:
        """The notification id the view has processed up to; 0 when empty."""

    @abstractmethod
    def write(self, view: str, tracking_id: int) -> AbstractContextManager[ReadWriter]:
        """A transaction: on a clean exit, commits every put and delete together with
        the view's new position `tracking_id`. Raises
        eventsourcing.persistence.IntegrityError, writing nothing, when `tracking_id`
        is not greater than the view's position (another runner got there first); it
        is raised on entering, so the block does not run. Writers of one view queue:
        the next sees the previous one's documents and position. An exception inside
        the block rolls everything back.

        Inside the block, read and write through the ReadWriter only: a nested write
        to the same view (or, on SQLite, any write, including the application saving
        events) from the same thread would wait for this one to end, which it cannot."""

    # --- reading ----------------------------------------------------------------------

    @abstractmethod
    def get(self, view: str, kind: str, key: str) -> Document | None: ...

    @abstractmethod
    def scan(self, view: str, kind: str, partition: str, *, after: int | None = None,
             upto: int | None = None, limit: int = 1000) -> list[tuple[int, Document]]:
        """(position, doc) of the partition's documents of that kind with
        after < position <= upto (either bound optional), by position ascending
        (then key), at most `limit` (which must be positive)."""

    def scan_all(self, view: str, kind: str, partition: str, *, after: int | None = None,
                 upto: int | None = None, page: int = 1000) -> Iterator[tuple[int, Document]]:
        """Every matching document, read page by page.

        Pages continue after the previous page's last position, so this relies on
        positions being unique within a kind and partition (the projections' design):
        documents sharing a position across a page boundary would be skipped."""
        while True:
            rows = self.scan(view, kind, partition, after=after, upto=upto, limit=page)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def close(self) -> None:
        """Release connections the store opened itself."""
