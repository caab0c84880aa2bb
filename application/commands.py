"""Inputs to the use cases, as plain data the adapters build."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from smsledger.domain.outcome import DeliveryOutcome


@dataclass(frozen=True)
class SendRequest:
    """One message a campaign wants sent. `message_id` is optional: a platform that
    passes its own id gets idempotent sends (the same id is never sent twice)."""

    customer_id: str
    to: str
    text: str = ""
    title: str | None = None  # set for an MMS
    media_urls: tuple[str, ...] = ()
    campaign_id: str | None = None
    action_id: str | None = None
    sender: str | None = None  # default: the integration's default sender
    integration_id: str | None = None  # default: the project's default SMS provider
    message_id: str | None = None
    # Marketing messages name the consent they need; transactional ones leave it None.
    consent_category: str | None = None


@dataclass(frozen=True)
class ProviderReport:
    """One delivery report, already translated from the provider's wire format."""

    message_id: str
    outcome: DeliveryOutcome
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class InboundSms:
    """A reply a customer sent, as the provider delivered it to our inbound webhook."""

    message_id: str
    sender: str  # the customer's number
    to: str  # our number that received it
    text: str
    keyword: str | None = None
    received_at: datetime | None = None
    parts: int = 1
    price: float | None = None
    currency: str | None = None


@dataclass(frozen=True)
class QuarantinedInput:
    """Input from the provider we could not use: kept with the reason, for inspection."""

    source: str  # e.g. "infobip.delivery-report"
    reason: str
    raw: Any
