"""The ports: what the core needs from the world, as abstract interfaces.

Adapters implement them (Infobip over HTTP, the system clock, uuid ids); tests and
scenarios plug in their own (a scripted provider, a clock they move by hand).
The event store is not a port here: it is the eventsourcing Application itself,
whose persistence module is chosen by configuration.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from smsledger.application.commands import ProviderReport
from smsledger.domain.content import Content
from smsledger.domain.outcome import DeliveryOutcome


class Clock(ABC):
    @abstractmethod
    def now(self) -> datetime:
        """The current time, timezone-aware."""


class IdSource(ABC):
    @abstractmethod
    def new_message_id(self) -> str:
        """A message id nobody has used: we pass it to the provider as its messageId."""


@dataclass(frozen=True)
class OutgoingMessage:
    project_id: str
    integration_id: str
    message_id: str
    to: str  # E.164, "+41793026727"
    sender: str | None
    content: Content
    campaign_id: str | None = None


# What the provider answered for one message of a send request.
@dataclass(frozen=True)
class Accepted:
    message_id: str
    parts: int | None = None


@dataclass(frozen=True)
class Refused:
    """A definite refusal of the request (an HTTP 4xx): the message was not sent."""

    message_id: str
    status_code: int
    error: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class StatusInAnswer:
    """The answer already carries a status for the message (e.g. REJECTED at once)."""

    message_id: str
    outcome: DeliveryOutcome


@dataclass(frozen=True)
class Unknown:
    """No definite answer (timeouts, dropped connections, exhausted retries): the
    message may or may not have been accepted, so it stays requested until a report
    or reconciliation settles it. Never guessed."""

    message_id: str
    reason: str


SendOutcome = Accepted | Refused | StatusInAnswer | Unknown


class SmsProvider(ABC):
    @abstractmethod
    def send(self, messages: Sequence[OutgoingMessage]) -> Sequence[SendOutcome]:
        """Send a batch; one outcome per message (a missing one counts as Unknown)."""


class DeliveryLookup(ABC):
    """Asking the provider what it knows of messages whose fate we do not know:
    reconciliation after lost answers or lost callbacks."""

    @abstractmethod
    def lookup(self, project_id: str, integration_id: str,
               message_ids: Sequence[str]) -> Sequence[ProviderReport]:
        """The provider's current status of each message it knows; unknown ids are absent."""
