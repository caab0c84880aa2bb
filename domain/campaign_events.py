"""Campaign events: what smsledger tells the marketing platform.

A campaign event is derived from one status-changing domain event of a message,
by a pure function, so a replay of the store re-derives exactly the same events.
Its id is deterministic (project, message, status): replays and retries can never
duplicate an event on the platform's side. The event name is applied when events
are read, so a renamed mapping covers everything read after the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smsledger.domain.identifiers import NameBasedIds
from smsledger.domain.message import Message, MessageIdentity
from smsledger.domain.outcome import DeliveryOutcome

DEFAULT_EVENT_NAME = "campaign"
ACTION_TYPE = "sms"

_CAMPAIGN_EVENT_IDS = NameBasedIds("urn:smsledger:campaign-event")

# The properties every campaign event carries, in the contract's order; a value
# that does not apply is None rather than missing, so consumers see one shape.
PROPERTY_NAMES = (
    "action_type", "status", "status_code", "error", "comment", "number_of_message_parts",
    "campaign_id", "action_id", "message_id", "recipient", "sender", "integration_id",
)


@dataclass(frozen=True)
class CampaignEvent:
    event_id: str
    customer_id: str | None
    timestamp: datetime
    properties: dict[str, Any]
    position: int = 0  # where in the store's log it came from: the feed's cursor
    name: str = DEFAULT_EVENT_NAME
    project_id: str = field(default="", compare=False)

    @property
    def status(self) -> str:
        status: str = self.properties["status"]
        return status

    def named(self, name: str) -> CampaignEvent:
        return CampaignEvent(self.event_id, self.customer_id, self.timestamp, self.properties,
                             self.position, name, self.project_id)

    def to_record(self) -> dict[str, Any]:
        """For storage: everything but the name, which is applied when read."""
        return {"event_id": self.event_id, "customer_id": self.customer_id,
                "timestamp": self.timestamp.isoformat(), "properties": dict(self.properties),
                "project_id": self.project_id}

    @classmethod
    def from_record(cls, record: dict[str, Any], position: int) -> CampaignEvent:
        return cls(event_id=record["event_id"], customer_id=record["customer_id"],
                   timestamp=datetime.fromisoformat(record["timestamp"]),
                   properties=record["properties"], position=position,
                   project_id=record["project_id"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event": self.name,
            "customer_id": self.customer_id,
            "timestamp": self.timestamp.isoformat(),
            "properties": dict(self.properties),
        }


def campaign_event_id(project_id: str, message_id: str, status: str) -> str:
    return str(_CAMPAIGN_EVENT_IDS.id_for(project_id, message_id, status))


def campaign_event_for(domain_event: object, identity: MessageIdentity,
                       position: int = 0) -> CampaignEvent | None:
    """The campaign event a message's domain event stands for, if the platform cares."""
    if isinstance(domain_event, Message.Enqueued):
        return _build(identity, domain_event.timestamp, position, "enqueued",
                      parts=domain_event.parts or identity.local_parts)
    if isinstance(domain_event, Message.EnqueueFailed):
        return _build(identity, domain_event.timestamp, position, "enqueue_failed",
                      status_code=domain_event.status_code, error=domain_event.error,
                      comment=domain_event.comment, parts=identity.local_parts)
    if isinstance(domain_event, Message.FinalReportApplied):
        outcome = DeliveryOutcome.from_dict(domain_event.outcome)
        final_status = outcome.final_status
        assert final_status is not None  # a final report's group has a final status
        status = final_status.value
        if outcome.has_error:
            error, comment = outcome.error_name, outcome.error_description
        else:
            # No error id: the status itself says why (e.g. REJECTED_NETWORK), or,
            # for a delivery, describes it.
            error = None if status == "delivered" else outcome.status_name
            comment = outcome.status_description
        return _build(identity, domain_event.timestamp, position, status,
                      status_code=outcome.error_id, error=error, comment=comment,
                      parts=outcome.parts or identity.local_parts)
    return None


def _build(identity: MessageIdentity, timestamp: datetime, position: int, status: str, *,
           parts: int, status_code: int | None = None, error: str | None = None,
           comment: str | None = None) -> CampaignEvent:
    properties = {
        "action_type": ACTION_TYPE,
        "status": status,
        "status_code": status_code,
        "error": error,
        "comment": comment,
        "number_of_message_parts": parts,
        "campaign_id": identity.campaign_id,
        "action_id": identity.action_id,
        "message_id": identity.message_id,
        "recipient": identity.recipient,
        "sender": identity.sender,
        "integration_id": identity.integration_id,
    }
    return CampaignEvent(
        event_id=campaign_event_id(identity.project_id, identity.message_id, status),
        customer_id=identity.customer_id,
        timestamp=timestamp,
        properties=properties,
        position=position,
        project_id=identity.project_id,
    )


def reply_event(event: Any, position: int = 0) -> CampaignEvent:
    """The `incoming_message` campaign event for a customer's reply (InboundMessage.Received).
    `recipient` stays the customer's number and `sender` ours, as in outbound events."""
    properties = {
        "action_type": ACTION_TYPE, "status": "incoming_message", "status_code": None,
        "error": None, "comment": None, "number_of_message_parts": event.parts,
        "campaign_id": event.campaign_id, "action_id": event.action_id,
        "message_id": event.message_id, "recipient": event.sender, "sender": event.to,
        "integration_id": event.integration_id, "message": event.text,
    }
    if event.keyword is not None:
        properties["keyword"] = event.keyword
    if event.nps_score is not None:
        properties["nps_score"] = event.nps_score
    return CampaignEvent(
        event_id=str(_CAMPAIGN_EVENT_IDS.id_for(event.project_id, "inbound",
                                                event.provider_message_id)),
        customer_id=event.customer_id, timestamp=event.timestamp, properties=properties,
        position=position, project_id=event.project_id)


CONSENT_STATUSES = {"Requested": "consent_requested", "Granted": "consent_granted",
                    "Revoked": "consent_revoked", "Expired": "consent_expired"}


def consent_event(event: Any, project_id: str, number: str, category: str,
                  customer_id: str | None, position: int = 0) -> CampaignEvent | None:
    """A campaign event for each step of a consent (double opt-in included)."""
    status = CONSENT_STATUSES.get(type(event).__name__)
    if status is None:
        return None
    properties = {
        "action_type": ACTION_TYPE, "status": status, "consent_category": category,
        "recipient": number, "source": getattr(event, "source", None),
        "message_id": getattr(event, "message_id", None),
        "expires_at": event.expires_at.isoformat() if getattr(event, "expires_at", None) else None,
    }
    return CampaignEvent(
        event_id=str(_CAMPAIGN_EVENT_IDS.id_for(project_id, "consent", number, category,
                                                str(event.originator_version))),
        customer_id=customer_id, timestamp=event.timestamp, properties=properties,
        position=position, project_id=project_id)
