"""The read models, as projections of the store's notifications.

- feed: each project's campaign events, by notification id (the feed's cursor);
- statistics: each message's funnel state, each campaign's funnel totals, and the
  work lists of messages due for attention (still requested, pending, windows to
  close), by time;
- history: each message's events, oldest first;
- campaign_index: each campaign's messages and the replies attributed to it, by the
  notification id of their creation: what the campaign audit replays.

A projection only says which documents an event changes; the runner feeds it
events in order, and the read store keeps documents and tracking together.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from eventsourcing.utils import get_topic

from smsledger.application.funnel import Funnel, MessageState
from smsledger.application.ports import ReadWriter
from smsledger.domain.campaign_events import (
    CampaignEvent,
    campaign_event_for,
    consent_event,
    reply_event,
)
from smsledger.domain.consent import Consent
from smsledger.domain.inbound import InboundMessage
from smsledger.domain.message import Message, MessageIdentity

FEED, STATISTICS, HISTORY, CAMPAIGN_INDEX = "feed", "statistics", "history", "campaign_index"

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

_STATUS_EVENTS = (Message.Enqueued, Message.EnqueueFailed, Message.Delivered, Message.Rejected,
                  Message.Failed)
_FUNNEL_EVENTS = (Message.Requested, *_STATUS_EVENTS, Message.WindowClosed)
_ALL_MESSAGE_EVENTS = (*_FUNNEL_EVENTS, Message.HandedOver, Message.ReportNoted,
                       Message.SendAnswerIgnored)

# Work lists kept by the statistics projection: partition -> (is the message on it,
# the time it is listed by).
DUE_REQUESTED, DUE_PENDING, DUE_WINDOW = "requested", "pending", "window"


def microseconds(moment: datetime) -> int:
    """A time as a scan position."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Projection(ABC):
    name: str
    event_classes: tuple[type, ...]

    @property
    def topics(self) -> tuple[str, ...]:
        return tuple(get_topic(cls) for cls in self.event_classes)

    @functools.cached_property
    def topic_set(self) -> frozenset[str]:
        return frozenset(self.topics)

    @abstractmethod
    def handle(self, writer: ReadWriter, event: Any, position: int) -> None:
        """Apply one event, at notification id `position`, inside the writer's transaction."""

    def prefetch(self, writer: ReadWriter, events: Sequence[Any]) -> None:
        """Before a batch is handled: name the documents its events will `get`, so the
        store can read them together (ReadWriter.prefetch)."""


class FeedProjection(Projection):
    name = FEED
    event_classes = (Message.Requested, *_STATUS_EVENTS, InboundMessage.Received,
                     Consent.Opened, Consent.Requested, Consent.Granted, Consent.Revoked,
                     Consent.Expired)

    def prefetch(self, writer: ReadWriter, events: Sequence[Any]) -> None:
        writer.prefetch("identity", {str(e.originator_id) for e in events
                                     if isinstance(e, Message.Event)
                                     and not isinstance(e, Message.Requested)})
        writer.prefetch("consent", {str(e.originator_id) for e in events
                                    if isinstance(e, Consent.Event)
                                    and not isinstance(e, Consent.Opened)})

    def handle(self, writer: ReadWriter, event: Any, position: int) -> None:
        key = str(event.originator_id)
        if isinstance(event, InboundMessage.Received):
            self._publish(writer, reply_event(event, position), position)
            return
        if isinstance(event, Consent.Opened):
            writer.put("consent", key, {"project_id": event.project_id, "number": event.number,
                                        "category": event.category, "customer_id": None})
            return
        if isinstance(event, Consent.Event):
            consent = writer.get("consent", key)
            if consent is None:
                return
            customer_id = getattr(event, "customer_id", None)
            if customer_id:
                consent["customer_id"] = customer_id
                writer.put("consent", key, consent)
            published = consent_event(event, consent["project_id"], consent["number"],
                                      consent["category"], consent["customer_id"], position)
            if published is not None:
                self._publish(writer, published, position)
            return
        if isinstance(event, Message.Requested):
            # Its fields are plain values, and the identity is made here for this alone:
            # its own attribute dict serves (asdict would deep-copy every value).
            writer.put("identity", key, vars(event.identity()))
            return
        identity = writer.get("identity", key)
        if identity is None:
            return  # the store has a status event without its creation: nothing to name
        campaign_event = campaign_event_for(event, MessageIdentity(**identity), position)
        if campaign_event is not None:
            self._publish(writer, campaign_event, position)

    @staticmethod
    def _publish(writer: ReadWriter, event: CampaignEvent, position: int) -> None:
        writer.put("event", event.event_id, event.to_record(), partition=event.project_id,
                   position=position)


def digits(number: str) -> str:
    return number.replace("+", "").replace(" ", "")


def latest_key(project_id: str, customer_number: str, our_number: str) -> str:
    return f"{project_id}\x1f{digits(customer_number)}\x1f{digits(our_number)}"


def campaign_key(project_id: str, campaign_id: str | None) -> str:
    return f"{project_id}\x1f{campaign_id or ''}"


class StatisticsProjection(Projection):
    name = STATISTICS
    event_classes = _FUNNEL_EVENTS

    def prefetch(self, writer: ReadWriter, events: Sequence[Any]) -> None:
        writer.prefetch("message", {str(e.originator_id) for e in events
                                    if not isinstance(e, Message.Requested)})

    def handle(self, writer: ReadWriter, event: Any, position: int) -> None:
        key = str(event.originator_id)
        if isinstance(event, Message.Requested):
            before, after = None, MessageState.requested(event)
            if event.sender and digits(event.sender).isdigit():
                # Replies are attributed to the latest message to a number from a number.
                writer.put("latest", latest_key(event.project_id, event.recipient, event.sender),
                           {"message_id": event.message_id, "customer_id": event.customer_id,
                            "campaign_id": event.campaign_id, "action_id": event.action_id})
        else:
            doc = writer.get("message", key)
            if doc is None:
                return
            before = MessageState.from_doc(doc)
            after = before.after(event)
        writer.put("message", key, after.to_doc())
        self._count(writer, before, after)
        self._list(writer, key, before, after)

    @staticmethod
    def _count(writer: ReadWriter, before: MessageState | None, after: MessageState) -> None:
        campaign = campaign_key(after.project_id, after.campaign_id)
        doc = writer.get("campaign", campaign)
        funnel = Funnel.from_doc(doc) if doc else Funnel.empty()
        if before is not None:
            funnel.remove(before)
        funnel.add(after)
        writer.put("campaign", campaign, funnel.to_doc())

    @staticmethod
    def _list(writer: ReadWriter, key: str, before: MessageState | None,
              after: MessageState) -> None:
        for partition, listed_by in _WORK_LISTS.items():
            was = before is not None and listed_by(before) is not None
            moment = listed_by(after)
            if moment is not None:
                writer.put("due", f"{partition}:{key}", {
                    "project_id": after.project_id, "message_id": after.message_id,
                    "integration_id": after.integration_id, "message": key,
                }, partition=partition, position=microseconds(moment))
            elif was:
                writer.delete("due", f"{partition}:{key}")


_WORK_LISTS: dict[str, Callable[[MessageState], datetime | None]] = {
    DUE_REQUESTED: lambda s: s.requested_at if s.status.value == "requested" else None,
    DUE_PENDING: lambda s: s.enqueued_at if s.is_pending else None,
    DUE_WINDOW: lambda s: s.window_closes_at if s.is_pending else None,
}


_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def event_details(event: Any) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value
            for key, value in vars(event).items() if key not in _ENVELOPE}


class HistoryProjection(Projection):
    name = HISTORY
    event_classes = _ALL_MESSAGE_EVENTS

    def handle(self, writer: ReadWriter, event: Any, position: int) -> None:
        key = str(event.originator_id)
        writer.put("entry", f"{key}:{event.originator_version:010d}", {
            "event": type(event).__name__, "timestamp": event.timestamp.isoformat(),
            "details": event_details(event),
        }, partition=key, position=position)


class CampaignIndexProjection(Projection):
    """Which aggregates the audit of a campaign replays: the campaign's messages
    (`member`) and the replies attributed to it (`reply`), in the partition of the
    campaign, at the notification id of their creation. Only ids: the audit reads the
    stored events themselves, never this view's documents."""

    name = CAMPAIGN_INDEX
    event_classes = (Message.Requested, InboundMessage.Received)

    def handle(self, writer: ReadWriter, event: Any, position: int) -> None:
        if event.campaign_id is None:
            return
        kind = "member" if isinstance(event, Message.Requested) else "reply"
        key = str(event.originator_id)
        writer.put(kind, key, {"id": key},
                   partition=campaign_key(event.project_id, event.campaign_id),
                   position=position)


def all_projections() -> list[Projection]:
    return [FeedProjection(), StatisticsProjection(), HistoryProjection(),
            CampaignIndexProjection()]
