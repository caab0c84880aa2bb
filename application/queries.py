"""Reads: a message and its history, the campaign-event feed, campaign statistics and
the projections' work lists. Each read catches its projection up first, so it sees
every event stored before it was asked."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from smsledger.application.aggregates import AggregateStore
from smsledger.application.errors import MessageNotFound
from smsledger.application.funnel import Funnel
from smsledger.application.ports import Document, ReadStore
from smsledger.application.projection_runner import ProjectionRunner
from smsledger.application.projections import (
    CAMPAIGN_INDEX,
    FEED,
    HISTORY,
    STATISTICS,
    campaign_key,
    latest_key,
    microseconds,
)
from smsledger.application.projects import ProjectDirectory
from smsledger.application.views import FeedPage, HistoryEntry, MessageView
from smsledger.domain.campaign_events import CampaignEvent
from smsledger.domain.errors import InvalidInput
from smsledger.domain.message import Message, message_aggregate_id

T = TypeVar("T")


class Queries:
    def __init__(self, store: AggregateStore, read_store: ReadStore,
                 projections: ProjectionRunner, projects: ProjectDirectory) -> None:
        self.store = store
        self.read_store = read_store
        self.projections = projections
        self.projects = projects

    def message(self, project_id: str, message_id: str) -> MessageView:
        message_uuid = message_aggregate_id(project_id, message_id)
        message = self.store.get(message_uuid)
        if not isinstance(message, Message):
            raise MessageNotFound(f"no message {message_id!r} in project {project_id!r}")
        entries = self.read(HISTORY, lambda view: list(
            self.read_store.scan_all(view, "entry", str(message_uuid))))
        history = [
            HistoryEntry(event=doc["event"], timestamp=datetime.fromisoformat(doc["timestamp"]),
                         details=doc["details"])
            for _, doc in entries
        ]
        identity = message.identity
        return MessageView(
            project_id=identity.project_id, message_id=identity.message_id,
            status=message.status.value, recipient=identity.recipient, country=message.country,
            customer_id=identity.customer_id, campaign_id=identity.campaign_id,
            action_id=identity.action_id, sender=identity.sender,
            integration_id=identity.integration_id, number_of_message_parts=message.parts,
            encoding=message.encoding, window_closes_at=message.window_closes_at,
            window_closed=message.window_closed.value if message.window_closed else None,
            late=message.late, history=history,
        )

    def campaign_events(self, project_id: str, after: int = 0, limit: int = 100) -> FeedPage:
        """The project's campaign events after the cursor, oldest first, under the
        event name in force now."""
        if limit < 1:
            raise InvalidInput("limit must be at least 1")
        name = self.projects.campaign_event_name(project_id)
        rows = self.read(FEED, lambda view: self.read_store.scan(
            view, "event", project_id, after=after, limit=limit))
        events = [CampaignEvent.from_record(doc, position).named(name) for position, doc in rows]
        return FeedPage(events=events, next=rows[-1][0] if rows else after)

    def statistics(self, project_id: str, campaign_id: str) -> Funnel:
        """The campaign's funnel as the statistics projection keeps it, live."""
        doc = self.read(STATISTICS, lambda view: self.read_store.get(
            view, "campaign", campaign_key(project_id, campaign_id)))
        return Funnel.from_doc(doc) if doc else Funnel.empty()

    def campaign_members(self, project_id: str, campaign_id: str
                         ) -> tuple[list[UUID], list[UUID]]:
        """The aggregate ids of the campaign's messages and of the replies attributed
        to it, each in the order they were stored (campaign_index projection)."""
        partition = campaign_key(project_id, campaign_id)

        def ids(view: str, kind: str) -> list[UUID]:
            return [UUID(doc["id"]) for _, doc in
                    self.read_store.scan_all(view, kind, partition, page=10_000)]
        return self.read(CAMPAIGN_INDEX, lambda view: (ids(view, "member"), ids(view, "reply")))

    def is_unknown_project(self, project_id: str) -> bool:
        """A service knows its projects; an embedding platform may send for projects it
        never registered here, so for it no project is unknown."""
        return self.projects.require_integrations and self.projects.find(project_id) is None

    def due(self, work_list: str, *, upto: datetime, limit: int = 1000
            ) -> list[tuple[int, Document]]:
        """Messages on a work list of the statistics projection, listed up to `upto`."""
        return self.read(STATISTICS, lambda view: self.read_store.scan(
            view, "due", work_list, upto=microseconds(upto), limit=limit))

    def all_due(self, work_list: str, *, upto: datetime) -> list[tuple[int, Document]]:
        return self.read(STATISTICS, lambda view: list(
            self.read_store.scan_all(view, "due", work_list, upto=microseconds(upto))))

    def latest_messages(self, project_id: str, numbers: list[tuple[str, str, str]]
                        ) -> dict[str, Document | None]:
        """Per (key, customer's number, our number): the latest message sent in the
        project to that number from ours, read after one catch-up."""
        return self.read(STATISTICS, lambda view: {
            key: self.read_store.get(view, "latest", latest_key(project_id, customer, ours))
            for key, customer, ours in numbers})

    def read(self, projection: str, read: Callable[[str], T]) -> T:
        """Catch the projection up, then read its live view; once more if a rebuild
        swapped the view out between finding it and reading it."""
        self.projections.catch_up([projection])
        try:
            return read(self.read_store.live_view(projection))
        except ValueError:
            return read(self.read_store.live_view(projection))

    def rebuild_projection(self, name: str,
                           progress: Callable[[int, int], None] | None = None) -> str:
        """Replay one projection from position zero into fresh tables and swap it in;
        `progress(position, head)` after each batch."""
        return self.projections.rebuild(name, progress)

