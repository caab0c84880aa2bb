"""A reply a customer sent: an inbound SMS, kept once however often it is delivered,
with what it was read as: the message it answers, its keyword, its NPS score."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from smsledger.domain.identifiers import NameBasedIds

_INBOUND_IDS = NameBasedIds("urn:smsledger:inbound")


def inbound_id(project_id: str, provider_message_id: str) -> UUID:
    return _INBOUND_IDS.id_for(project_id, provider_message_id)


class InboundMessage(Aggregate):
    class Received(Aggregate.Created):
        project_id: str
        integration_id: str
        provider_message_id: str
        sender: str  # the customer's number, E.164
        to: str  # our number that received it, digits
        text: str
        parts: int
        # What it answers: the latest message sent in the project to that number from
        # that number of ours (None: unattributed, still recorded).
        message_id: str | None
        customer_id: str | None
        campaign_id: str | None
        action_id: str | None
        keyword: str | None  # a configured keyword it starts with
        nps_score: int | None  # for an NPS survey campaign, the score it starts with

        def apply(self, inbound: InboundMessage) -> None:
            for name in ("project_id", "integration_id", "provider_message_id", "sender", "to",
                         "text", "parts", "message_id", "customer_id", "campaign_id",
                         "action_id", "keyword", "nps_score"):
                setattr(inbound, name, getattr(self, name))

    # State, set only by the events' apply() methods. Declared for the type checker
    # only: annotations seen at run time would make the library treat them as
    # constructor arguments.
    if TYPE_CHECKING:
        project_id: str
        integration_id: str
        provider_message_id: str
        sender: str
        to: str
        text: str
        parts: int
        message_id: str | None
        customer_id: str | None
        campaign_id: str | None
        action_id: str | None
        keyword: str | None
        nps_score: int | None

    @classmethod
    def receive(cls, *, project_id: str, integration_id: str, provider_message_id: str,
                sender: str, to: str, text: str, parts: int, received_at: datetime,
                message_id: str | None = None, customer_id: str | None = None,
                campaign_id: str | None = None, action_id: str | None = None,
                keyword: str | None = None, nps_score: int | None = None) -> InboundMessage:
        return cls._create(cls.Received, id=inbound_id(project_id, provider_message_id),
                           timestamp=received_at, project_id=project_id,
                           integration_id=integration_id,
                           provider_message_id=provider_message_id, sender=sender, to=to,
                           text=text, parts=parts, message_id=message_id,
                           customer_id=customer_id, campaign_id=campaign_id,
                           action_id=action_id, keyword=keyword, nps_score=nps_score)
