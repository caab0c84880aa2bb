"""A reply a customer sent: an inbound SMS, kept once however often it is delivered."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

_INBOUND_NAMESPACE = uuid5(NAMESPACE_URL, "urn:smsledger:inbound")


def inbound_id(project_id: str, provider_message_id: str) -> UUID:
    return uuid5(_INBOUND_NAMESPACE, f"{project_id}\x1f{provider_message_id}")


class InboundMessage(Aggregate):
    class Received(Aggregate.Created):
        project_id: str
        integration_id: str
        provider_message_id: str
        sender: str  # the customer's number
        to: str  # our number that received it
        text: str
        keyword: str | None
        parts: int

        def apply(self, inbound: InboundMessage) -> None:
            for name in ("project_id", "integration_id", "provider_message_id", "sender", "to",
                         "text", "keyword", "parts"):
                setattr(inbound, name, getattr(self, name))

    @classmethod
    def receive(cls, *, project_id: str, integration_id: str, provider_message_id: str,
                sender: str, to: str, text: str, keyword: str | None, parts: int,
                received_at: datetime) -> InboundMessage:
        return cls._create(cls.Received, id=inbound_id(project_id, provider_message_id),
                           timestamp=received_at, project_id=project_id,
                           integration_id=integration_id,
                           provider_message_id=provider_message_id, sender=sender, to=to,
                           text=text, keyword=keyword, parts=parts)
