"""Feeding projections from the store's notifications, exactly once, in order.

Each batch of notifications is applied in one read-store transaction that also
moves the view's tracking position to the batch's last notification id; when
another runner (another thread or process) got there first, the transaction is
refused and this runner carries on from the new position. Polling works on every
store, including SQLite, which offers no live subscription.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

from smsledger.application.background import BackgroundRun
from smsledger.application.projections import Projection
from smsledger.application.ports import ReadStore


class ProjectionRunner:
    def __init__(self, recorder: Any, mapper: Any, store: ReadStore,
                 projections: Sequence[Projection], *, batch_size: int = 1000) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size

    def projection(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            raise KeyError(f"no projection {name!r}; there are: "
                           f"{', '.join(self.projections)}") from None

    def catch_up(self, names: Iterable[str] | None = None) -> None:
        """Bring the live views of the named projections (default: all) up to the head."""
        for name in names if names is not None else self.projections:
            projection = self.projection(name)
            self._feed(projection, self.store.live_view(name))

    def rebuild(self, name: str) -> str:
        """Replay the projection from position zero into a new view, then swap it in."""
        projection = self.projection(name)
        view = self.store.new_view(name)
        try:
            self._feed(projection, view)
            self.store.swap(name, view)
        except BaseException:
            self.store.drop(view)
            raise
        self._feed(projection, view)  # what arrived during the swap
        return view

    def _feed(self, projection: Projection, view: str) -> None:
        while True:
            position = self.store.position(view)
            batch = self.recorder.select_notifications(
                start=position, limit=self.batch_size, topics=projection.topics,
                inclusive_of_start=False)
            if not batch:
                return
            events = [self.mapper.to_domain_event(notification) for notification in batch]
            try:
                # Only if the view is still at `position`: an overlapping batch another
                # runner committed meanwhile must not be applied twice.
                with self.store.write(view, batch[-1].id, after=position) as writer:
                    projection.prefetch(writer, events)
                    for notification, event in zip(batch, events, strict=True):
                        projection.handle(writer, event, notification.id)
            except IntegrityError:
                continue  # another runner processed it; read on from its position
            if len(batch) < self.batch_size:
                return

    def run_in_background(self, interval: float = 0.2) -> BackgroundRun:
        """Keep every projection caught up, polling, until the result is stopped."""
        return BackgroundRun("projections", self.catch_up, interval)
