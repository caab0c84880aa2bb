"""Inputs to the use cases, as plain data the adapters build."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.outcome import DeliveryOutcome


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
    sender: str | None = None
    integration_id: str = "default"
    message_id: str | None = None


@dataclass(frozen=True)
class ProviderReport:
    """One delivery report, already translated from the provider's wire format."""

    message_id: str
    outcome: DeliveryOutcome
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
