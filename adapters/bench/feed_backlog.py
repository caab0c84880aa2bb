"""The feed's backlog, read from the store as a running service left it: the soak
samples it, and bench ingest times how long after the last webhook answer it empties."""

from __future__ import annotations

from typing import Any


class FeedBacklog:
    """Feed-projection events stored but not yet in the feed view, read from the store
    as the service left it (reading through the service would catch the view up)."""

    def __init__(self, ledger: Any) -> None:
        from smsledger.application.projections import FEED, FeedProjection

        self.ledger = ledger
        self.feed = FEED
        self.topics = list(FeedProjection().topics)

    def head(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    def position(self) -> int:
        read_store = self.ledger.read_store
        return int(read_store.position(read_store.live_view(self.feed)))

    def behind(self) -> int:
        return len(self.pending())

    def pending(self) -> list[int]:
        """The ids of the feed events not yet in the view, oldest first."""
        position, pending = self.position(), []
        while True:
            page = self.ledger.recorder.select_notifications(
                start=position, limit=5000, topics=self.topics, inclusive_of_start=False)
            pending += [notification.id for notification in page]
            if len(page) < 5000:
                return pending
            position = page[-1].id
