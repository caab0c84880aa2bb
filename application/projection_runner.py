"""Feeding projections from the store's notifications, exactly once, in order.

The projections caught up together share each batch: it is read from the store and
decoded once, from the position of the view furthest behind, and each view is given
the events of its topics after its own position. Each view's share is applied in one
read-store transaction that also moves the view's tracking position to the batch's
last notification id; when another runner (another thread or process) got there
first, the transaction is refused and this runner carries on from the new position.
Polling works on every store, including SQLite, which offers no live subscription.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

from smsledger.application.projections import FEED, Projection
from smsledger.application.ports import ReadStore


# In the background round, the views behind the feed take batches of this fraction of
# the batch size between the feed's catch-ups: smaller ones keep the feed closer to the
# head under load, at more transactions for those views (bench ingest, feed lag).
REST_SHARE = 4
# Decoded events kept by notification id, this many batches' worth: the feed's batches
# and the other views' overlap while both are behind (keep_current), and a read's
# catch-up may run beside the background round in the same process. Notifications
# never change, so a kept event is the event.
RECENT_BATCHES = 4


class ProjectionRunner:
    def __init__(self, recorder: Any, mapper: Any, store: ReadStore,
                 projections: Sequence[Projection], *, batch_size: int = 1000) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.store = store
        self.projections = {p.name: p for p in projections}
        self.batch_size = batch_size
        self._recent: dict[int, Any] = {}  # notification id -> decoded event, oldest first
        self._recent_lock = threading.Lock()

    def projection(self, name: str) -> Projection:
        try:
            return self.projections[name]
        except KeyError:
            raise KeyError(f"no projection {name!r}; there are: "
                           f"{', '.join(self.projections)}") from None

    def catch_up(self, names: Iterable[str] | None = None) -> None:
        """Bring the live views of the named projections (default: all) up to the head,
        as it was when the catch-up began: a read sees what was stored before it, and
        under a stream of webhooks it does not chase the head for as long as they last
        (keeping up is the background round's work)."""
        self._feed([(self.projection(name), self.store.live_view(name))
                    for name in (names if names is not None else self.projections)],
                   chase=False)

    def keep_current(self, first: str = FEED) -> None:
        """The background runner's round: every live view up to the head, `first` (the
        feed, the platform's contract) ahead of the others. The feed is caught up alone,
        to the head it found, then the other views together get one smaller batch, and
        so on until all are at the head: under a burst of webhooks the feed trails the
        last stored event by about one such batch of the other views, not by their whole
        backlog. The price: while both are behind, a notification the feed and another
        view share is read twice (and decoded once: `_decoded`)."""
        lead = ([(self.projections[first], self.store.live_view(first))]
                if first in self.projections else [])
        rest = [(projection, self.store.live_view(name))
                for name, projection in self.projections.items() if name != first]
        while True:
            # Up to the head as found: under a steady stream the feed would otherwise
            # chase the head for as long as the stream lasts, and the other views would
            # get no turn at all (measured: 40,000 events behind after a 4 s burst).
            self._feed(lead, chase=False)
            if self._feed(rest, batches=1, size=max(1, self.batch_size // REST_SHARE)):
                return

    def rebuild(self, name: str, progress: Callable[[int, int], None] | None = None) -> str:
        """Replay the projection from position zero into a new view, then swap it in.
        `progress(position, head)` is called after each batch (the command line's bar),
        `head` being the store's last notification id when the rebuild began."""
        projection = self.projection(name)
        view = self.store.new_view(name)
        head = (self.recorder.max_notification_id() or 0) if progress else 0
        try:
            self._feed([(projection, view)],
                       on_batch=(lambda position: progress(position, head)) if progress else None)
            self.store.swap(name, view)
        except BaseException:
            self.store.drop(view)
            raise
        self._feed([(projection, view)])  # what arrived during the swap
        return view

    def _feed(self, feeds: Sequence[tuple[Projection, str]], batches: int | None = None,
              size: int | None = None, on_batch: Callable[[int], None] | None = None,
              chase: bool = True) -> bool:
        """Feed each (projection, view) up to the head, batch by batch (of `size`
        notifications, default the runner's batch size), or only the first `batches`
        batches; True when they reached the head. Without `chase`, the head is the one
        found after the first full batch (and True means they reached that): events
        stored later are left for later."""
        size = size or self.batch_size
        topics = sorted({topic for projection, _ in feeds for topic in projection.topics})
        if not topics:
            return True
        read = 0
        stop: int | None = None
        while True:
            positions = [self.store.position(view) for _, view in feeds]
            batch = self.recorder.select_notifications(
                start=min(positions), limit=size, stop=stop, topics=topics,
                inclusive_of_start=False)
            if not batch:
                return True
            events = self._decoded(batch)
            overtaken = False
            for (projection, view), position in zip(feeds, positions, strict=True):
                if batch[-1].id > position:
                    overtaken |= not self._apply(projection, view, position, batch, events)
            if on_batch is not None:
                on_batch(batch[-1].id)
            at_head = len(batch) < size or (stop is not None and batch[-1].id >= stop)
            if at_head and not overtaken:
                return True
            if not chase and stop is None:
                stop = self.recorder.max_notification_id() or 0
            read += 1
            if batches is not None and read >= batches:
                return False

    def _decoded(self, batch: Sequence[Any]) -> list[Any]:
        """The batch's events, each decoded once however many feeds read it."""
        recent = self._recent
        events = [recent.get(notification.id) or self.mapper.to_domain_event(notification)
                  for notification in batch]
        with self._recent_lock:
            recent.update((notification.id, event)
                          for notification, event in zip(batch, events, strict=True))
            excess = len(recent) - RECENT_BATCHES * self.batch_size
            for oldest in list(itertools.islice(recent, max(0, excess))):
                del recent[oldest]
        return events

    def _apply(self, projection: Projection, view: str, position: int,
               batch: Sequence[Any], events: Sequence[Any]) -> bool:
        """The batch's events of the projection's topics after `position`, in one
        transaction that moves the view to the batch's end; False when another runner
        had moved the view meanwhile (it is read on from its new position)."""
        wanted = projection.topic_set
        mine = [(notification.id, event) for notification, event in zip(batch, events, strict=True)
                if notification.id > position and notification.topic in wanted]
        try:
            # Only if the view is still at `position`: an overlapping batch another
            # runner committed meanwhile must not be applied twice.
            with self.store.write(view, batch[-1].id, after=position) as writer:
                projection.prefetch(writer, [event for _, event in mine])
                for notification_id, event in mine:
                    projection.handle(writer, event, notification_id)
        except IntegrityError:
            return False
        return True
