"""The ports: every capability the application uses from an adapter, declared here.

Adapters implement them (Infobip over HTTP, the system clock, uuid ids, the stores);
tests and scenarios plug in their own (a scripted provider, a clock they move by hand,
tests/unit/test_ports.py's fakes). The event store itself is the eventsourcing
Application, whose persistence module is chosen by configuration; what the application
needs beyond the library's recorder and mapper (loading many aggregates in one query,
the replay's plain rows) are the ports EventRows and EventDecoder, which every store
configured by smsledger.adapters.runtime.persistence provides.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

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
    # An earlier hand-over may have reached the provider: an answer that it already
    # has this message id means it did, not that this message is refused.
    resend: bool = False


# What the provider answered for one message of a send request.
@dataclass(frozen=True)
class Accepted:
    message_id: str
    parts: int | None = None


@dataclass(frozen=True)
class SendRefused:
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


SendOutcome = Accepted | SendRefused | StatusInAnswer | Unknown


class SmsProvider(ABC):
    @abstractmethod
    def send(self, messages: Sequence[OutgoingMessage]) -> Sequence[SendOutcome]:
        """Send a batch; one outcome per message (a missing one counts as Unknown)."""

    def reaches(self, project_id: str, integration_id: str) -> bool:
        """Whether the provider has an account to send the project's messages through
        this integration; a message it cannot reach is refused before it is stored."""
        return True


class DeliveryLookup(ABC):
    """Asking the provider what it knows of messages whose fate we do not know:
    recovery after lost answers or lost callbacks. Two questions, so that what the
    first hands out (the provider gives each pulled report once only) is stored
    before the second can fail."""

    @abstractmethod
    def pulled_reports(self, project_id: str, integration_id: str, message_ids: Sequence[str],
                       *, kind: str) -> Iterator[Sequence[ProviderReport]]:
        """Reports the provider still holds for these messages of one `kind` ("sms" or
        "mms"), which it will not hand out again: one group per request to it, each
        to be stored by the caller before the next is asked for (a later request that
        fails must not take the earlier ones' reports with it)."""

    @abstractmethod
    def logs(self, project_id: str, integration_id: str, message_ids: Sequence[str], *,
             kind: str) -> Sequence[ProviderReport]:
        """The provider's current status of each message of `kind` it knows (a message
        in its logs was accepted); unknown ids are absent. A provider without logs for
        a kind answers with nothing."""


class SecretSource(ABC):
    @abstractmethod
    def new_secret(self) -> str:
        """A random, URL-safe secret of at least 128 bits."""

    @abstractmethod
    def new_id(self) -> str:
        """A short random identifier (not secret)."""


class WebhookSecrets(ABC):
    @abstractmethod
    def derive(self, project_id: str, integration_id: str, nonce: str) -> str:
        """The integration's webhook secret; the same inputs give the same secret."""


class SecretSealer(ABC):
    """Keeps secrets the store must hold but never show (the integrations' provider API
    keys) sealed: encrypted and authenticated with a key the store does not hold, and
    bound to what they belong to, so a sealed value copied elsewhere does not open."""

    @abstractmethod
    def seal(self, secret: str, *, bound_to: str) -> str:
        """The secret sealed, as text fit for an event."""

    @abstractmethod
    def open(self, sealed: str, *, bound_to: str) -> str | None:
        """The secret; None when it was sealed with another key or bound to another."""


class ProviderAddressPolicy(ABC):
    @abstractmethod
    def refusal(self, base_url: str, *, field: str = "base_url") -> str | None:
        """Why the provider (or a subscription's receiver) may not be called at this URL
        (naming the rule and the `field` it came in), or None: the URL itself and, for
        a name, where it resolves to now."""


# --- the event store, beyond the library's recorder and mapper --------------------------

EventRow = tuple[Any, int, str, bytes]  # originator id, version, topic, state
NotificationRow = tuple[int, Any, str, bytes]  # notification id, originator id, topic, state


@runtime_checkable
class EventRows(Protocol):
    """The recorder's batch reads (smsledger.adapters.store.recorders)."""

    def select_event_rows(self, originator_ids: Sequence[UUID]) -> Sequence[EventRow]:
        """Every event of every given aggregate, each aggregate's in version order."""

    def select_notification_rows(self, after: int, limit: int, topics: Sequence[str]
                                 ) -> Sequence[NotificationRow]:
        """Up to `limit` events with these topics (at least one) after notification
        `after`, in notification order."""


@runtime_checkable
class EventDecoder(Protocol):
    """The mapper's reads from plain rows (smsledger.adapters.store.mapper)."""

    def event_from_row(self, originator_id: Any, originator_version: int, topic: str,
                       state: bytes) -> Any:
        """The domain event stored in this row, as the library's mapper would make it."""

    def decode_state(self, state: bytes) -> dict[str, Any]:
        """A stored state's attributes without building the event: deciphered and
        decompressed, `timestamp` a datetime, every other value as stored."""


# --- the read-model store ---------------------------------------------------------------
#The read-model store port: documents kept by projections, with tracking.
#
# A projection turns the store's notifications (in order) into documents. Every
# write happens in a transaction that also advances the view's tracking position
# to the notification id of the last event it covers, so each event is processed
# exactly once: writing a position that is not beyond the current one raises
# IntegrityError and writes nothing.
#
# A projection's documents live in a *view*. Rebuilding a projection creates a new,
# empty view, fills it from position zero, and swaps it in; readers always read the
# live view of a projection.
#
# Documents are JSON objects. Each has a kind and a key (unique together) and
# optionally a partition and a position, by which `scan` lists documents in order
# (e.g. a project's campaign events by notification id, or open waiting windows
# by closing time).

Document = dict[str, Any]


class ReadWriter(ABC):
    """One write transaction on one view. Reads see the transaction's own writes."""

    @abstractmethod
    def get(self, kind: str, key: str) -> Document | None: ...

    @abstractmethod
    def put(self, kind: str, key: str, doc: Document, *, partition: str = "",
            position: int = 0) -> None: ...

    @abstractmethod
    def delete(self, kind: str, key: str) -> None:
        """Remove the document if it exists; no error otherwise."""

    def prefetch(self, kind: str, keys: Collection[str]) -> None:
        """Read these documents ahead, together: a projection about to `get` one per
        event of a batch says so first, and a store across a network reads them in
        one round trip instead of one each. Only a hint: `get` answers the same
        either way. Here (a store in the same process) there is nothing to gain."""


class ReadStore(ABC):
    """Projection names become table names: 1 to 40 letters, digits or underscores
    (ValueError otherwise). Views are named `<projection>_v<N>`, N growing with every
    new view and never reused. Naming a view that does not exist (never created,
    dropped, or swapped out) raises ValueError."""

    # --- views and tracking ---------------------------------------------------------

    @abstractmethod
    def live_view(self, projection: str) -> str:
        """The name of the projection's live view, creating an empty one (position 0)
        the first time a projection is named."""

    @abstractmethod
    def new_view(self, projection: str) -> str:
        """A new empty view for a rebuild (position 0); not live until swapped in."""

    @abstractmethod
    def swap(self, projection: str, view: str) -> None:
        """Make `view` the projection's live view and drop the previous one, in one
        transaction. ValueError if `view` is not one of the projection's views."""

    @abstractmethod
    def drop(self, view: str) -> None:
        """Remove a view that is not live (an abandoned rebuild); ValueError for the
        live view; nothing to do for a view already gone."""

    @abstractmethod
    def position(self, view: str) -> int:
        """The notification id the view has processed up to; 0 when empty."""

    @abstractmethod
    def write(self, view: str, tracking_id: int, *, after: int | None = None
              ) -> AbstractContextManager[ReadWriter]:
        """A transaction: on a clean exit, commits every put and delete together with
        the view's new position `tracking_id`. Raises
        eventsourcing.persistence.IntegrityError, writing nothing, when `tracking_id`
        is not greater than the view's position (another runner got there first), or,
        given `after` (the position the batch was read after), when the view is no
        longer there: a runner that read a shorter batch from the same place committed
        it, and this batch holds its events again. It is raised on entering, so the
        block does not run. Writers of one view queue:
        the next sees the previous one's documents and position. An exception inside
        the block rolls everything back.

        Inside the block, read and write through the ReadWriter only: a nested write
        to the same view (or, on SQLite, any write, including the application saving
        events) from the same thread would wait for this one to end, which it cannot."""

    # --- reading ----------------------------------------------------------------------

    @abstractmethod
    def get(self, view: str, kind: str, key: str) -> Document | None: ...

    @abstractmethod
    def scan(self, view: str, kind: str, partition: str, *, after: int | None = None,
             upto: int | None = None, limit: int = 1000) -> list[tuple[int, Document]]:
        """(position, doc) of the partition's documents of that kind with
        after < position <= upto (either bound optional), by position ascending
        (then key), at most `limit` (which must be positive)."""

    def scan_all(self, view: str, kind: str, partition: str, *, after: int | None = None,
                 upto: int | None = None, page: int = 1000) -> Iterator[tuple[int, Document]]:
        """Every matching document, read page by page.

        Pages continue after the previous page's last position, so this relies on
        positions being unique within a kind and partition (the projections' design):
        documents sharing a position across a page boundary would be skipped."""
        while True:
            rows = self.scan(view, kind, partition, after=after, upto=upto, limit=page)
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1][0]

    def close(self) -> None:
        """Release connections the store opened itself."""


# --- event subscriptions (application/subscriptions.py) -------------------------------------

class SubscriptionPoster(ABC):
    @abstractmethod
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> str | None:
        """POST a signed batch (JSON); None when the receiver answered 2xx, else why not
        in words for the project's admin (a status, a timeout, a redirect, a refused address)."""


class SubscriptionStates(ABC):
    """Each subscription's delivery state, durable beside the event store. Every write
    bumps the row's version: a writer naming the version it read never overwrites a
    newer state (a replay, a re-creation) with an older one."""

    @abstractmethod
    def all(self) -> list[tuple[str, str, int, Document]]:
        """(project id, subscription name, version, state) of every row."""

    @abstractmethod
    def get(self, project_id: str, name: str) -> tuple[int, Document] | None: ...

    @abstractmethod
    def put(self, project_id: str, name: str, state: Document, *,
            version: int | None = None) -> bool:
        """Store `state` over any row (`version` None) or only over the row at `version`
        (0: only where there is none); whether it was stored."""

    @abstractmethod
    def delete(self, project_id: str, name: str) -> None: ...
