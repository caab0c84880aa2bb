"""Event subscriptions: the project's campaign events pushed to the platform's URL.

A subscription is a tracked reader of the project's campaign-event feed: it reads
on from its position (the feed's cursor), posts what it read in batches, in feed
order, and moves its position only once the receiver answered 2xx, so it never
skips and never reorders; a crash or a lost answer sends a batch again (at least
once: the receiver drops repeats by their deterministic `event_id`).

Here, pure: the subscription as configured (kept by the project's settings), where
its delivery stands, the retry schedule, and the signature of a request as the
Standard Webhooks specification (standardwebhooks.com) has it:
`webhook-signature: v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`,
the key being the base64-decoded part of the `whsec_...` secret after its prefix.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from smsledger.domain.campaign_events import CONSENT_STATUSES
from smsledger.domain.errors import DomainError, NotFound
from smsledger.domain.identifiers import NameBasedIds
from smsledger.domain.status import MessageStatus

MAX_BATCH = 100  # events per request, as the specification of the push asks
MAX_SUBSCRIPTIONS = 20  # per project: each is a reader of the feed in the background
MAX_URL_LENGTH = 2000
SECRET_PREFIX = "whsec_"
# Every status a campaign event of the feed can have: a filter naming another would
# silently match nothing.
FEED_STATUSES = frozenset(
    [s.value for s in MessageStatus if s is not MessageStatus.REQUESTED]
    + ["incoming_message", *CONSENT_STATUSES.values()])

_DELIVERY_IDS = NameBasedIds("urn:smsledger:subscription-delivery")


class InvalidSubscription(DomainError):
    pass


class UnknownSubscription(NotFound):
    public_message = "no such subscription"


@dataclass(frozen=True)
class Subscription:
    """As the project's settings keep it. The signing secret is not here: it is derived
    from the service's secret key and `secret_generation` (each new secret of the
    project takes the next generation, so none is ever derived twice). After a
    rotation the previous generation may stay valid for a while: requests then carry
    both signatures, and receivers switch secrets without losing a request."""

    name: str
    url: str
    statuses: tuple[str, ...]  # only events with these statuses; empty: all
    enabled: bool
    disabled_reason: str | None  # why the delivery gave up, when it did
    secret_generation: int
    previous_generation: int | None = None
    previous_valid_until: datetime | None = None

    def wants(self, status: str) -> bool:
        return not self.statuses or status in self.statuses

    def signing_generations(self, at: datetime) -> list[int]:
        """The generations whose secrets sign a request sent at `at`: the current one,
        and the previous one while it stays valid."""
        previous = self.previous_generation
        if previous is not None and self.previous_valid_until is not None \
                and at < self.previous_valid_until:
            return [self.secret_generation, previous]
        return [self.secret_generation]


def validate_subscription(url: object, statuses: object) -> tuple[str, tuple[str, ...]]:
    """The URL and statuses, checked: an absolute http(s) URL without credentials or
    fragment (whether its address may be called is the address policy's to say), and
    statuses the feed knows, each once."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if not isinstance(url, str) or parts is None or parts.scheme not in ("http", "https") \
            or not parts.hostname or parts.username is not None or parts.fragment \
            or len(url) > MAX_URL_LENGTH or any(c.isspace() for c in url):
        raise InvalidSubscription(
            f"url {url!r} must be an absolute http(s) URL (https on a public address unless "
            f"the operator allows private networks), without credentials or fragment, "
            f"at most {MAX_URL_LENGTH} characters")
    if not isinstance(statuses, (list, tuple)) or not all(isinstance(s, str) for s in statuses):
        raise InvalidSubscription("statuses must be a list of campaign-event statuses")
    unknown = sorted(set(statuses) - FEED_STATUSES)
    if unknown:
        raise InvalidSubscription(f"unknown status(es) {', '.join(map(repr, unknown))}; the "
                                  f"feed's statuses are {', '.join(sorted(FEED_STATUSES))}")
    if len(set(statuses)) != len(statuses):
        raise InvalidSubscription("statuses must not repeat")
    return url, tuple(statuses)


# --- signing (Standard Webhooks) -----------------------------------------------------------

def secret_text(key: bytes) -> str:
    """The secret as receivers configure it: `whsec_` and the key in base64."""
    return SECRET_PREFIX + base64.b64encode(key).decode()


def masked_secret(key: bytes) -> str:
    """Enough to tell secrets apart, nothing to sign with."""
    return f"{SECRET_PREFIX}****{secret_text(key).rstrip('=')[-4:]}"


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = b".".join((message_id.encode(), str(timestamp).encode(), body))
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(keys: list[bytes], message_id: str, timestamp: int, body: bytes
                   ) -> dict[str, str]:
    """The request's Standard Webhooks headers: one signature per key, space-separated
    (a receiver accepts the request when any of them verifies)."""
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(k, message_id, timestamp, body)
                                          for k in keys)}


def delivery_id(project_id: str, name: str, epoch: str, after: int, upto: int) -> str:
    """`webhook-id` of the batch of feed events after `after` up to `upto`: the same
    for every retry of that batch, another after a replay or a re-creation (a new
    `epoch`), so a receiver that drops repeated ids drops only true repeats."""
    return "msg_" + _DELIVERY_IDS.id_for(project_id, name, epoch, str(after), str(upto)).hex


# --- retrying ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetrySchedule:
    """Capped exponential backoff: `first_delay` after the first failure, doubled after
    each further one up to `max_delay`; once failures have gone on for `budget`, the
    subscription is disabled."""

    first_delay: timedelta = timedelta(seconds=5)
    max_delay: timedelta = timedelta(hours=1)
    budget: timedelta = timedelta(days=3)

    def __post_init__(self) -> None:
        if self.first_delay <= timedelta(0) or self.max_delay < self.first_delay \
                or self.budget < timedelta(0):
            raise InvalidSubscription(
                f"retry schedule: need 0 < first_delay <= max_delay and budget >= 0, got "
                f"{self.first_delay}, {self.max_delay}, {self.budget}")

    def delay(self, failures: int) -> timedelta:
        """The wait after the `failures`-th failure in a row (1 for the first)."""
        doublings = min(max(failures - 1, 0), 40)  # 2**40 first delays exceed any cap
        return min(self.max_delay, self.first_delay * (1 << doublings))

    def exhausted(self, failing_since: datetime, now: datetime) -> bool:
        return now - failing_since >= self.budget


@dataclass(frozen=True)
class DeliveryState:
    """Where a subscription's delivery stands. Written only after the receiver
    answered (or a failure was recorded): the position moves only past events
    acknowledged or filtered out."""

    position: int = 0  # the feed's cursor, delivered up to
    epoch: str = ""  # changes at a (re-)creation and at every replay: see delivery_id
    delivered: int = 0  # events acknowledged by the receiver
    failures: int = 0  # attempts failed in a row
    failing_since: datetime | None = None
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    last_success_at: datetime | None = None
    # The end of the batch that failed: its retries carry the same events (and so the
    # same webhook-id), however many have come since.
    retrying_upto: int | None = None

    def due(self, now: datetime) -> bool:
        return self.next_attempt_at is None or self.next_attempt_at <= now

    def advanced(self, upto: int, acknowledged: int, at: datetime, *, posted: bool
                 ) -> DeliveryState:
        """Past every event up to `upto`: `acknowledged` of them posted and answered 2xx
        (`posted`), the others filtered out."""
        return replace(self, position=upto, delivered=self.delivered + acknowledged,
                       failures=0, failing_since=None, next_attempt_at=None,
                       last_success_at=at if posted else self.last_success_at,
                       retrying_upto=None)

    def failed(self, error: str, at: datetime, schedule: RetrySchedule, upto: int
               ) -> DeliveryState:
        """The batch of events after the position up to `upto` was not acknowledged."""
        failures = self.failures + 1
        return replace(self, failures=failures, failing_since=self.failing_since or at,
                       next_attempt_at=at + schedule.delay(failures), last_error=error,
                       last_error_at=at, retrying_upto=upto)

    def batch_end(self, page_end: int) -> int:
        """Where the batch read now ends: the failed batch's end while it is retried."""
        return page_end if self.retrying_upto is None else min(page_end, self.retrying_upto)

    def restarted(self) -> DeliveryState:
        """Due at once, its retry budget afresh (a changed or re-enabled subscription),
        the next batch read as it comes; the last error stays, for the record."""
        return replace(self, failures=0, failing_since=None, next_attempt_at=None,
                       retrying_upto=None)

    def replayed(self, after: int, epoch: str) -> DeliveryState:
        return replace(self.restarted(), position=after, epoch=epoch)

    def to_doc(self) -> dict[str, Any]:
        return {key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in vars(self).items()}

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> DeliveryState:
        def moment(key: str) -> datetime | None:
            value = doc.get(key)
            return datetime.fromisoformat(value) if value else None

        return cls(position=int(doc.get("position", 0)), epoch=str(doc.get("epoch", "")),
                   delivered=int(doc.get("delivered", 0)), failures=int(doc.get("failures", 0)),
                   failing_since=moment("failing_since"), next_attempt_at=moment("next_attempt_at"),
                   last_error=doc.get("last_error"), last_error_at=moment("last_error_at"),
                   last_success_at=moment("last_success_at"),
                   retrying_upto=doc.get("retrying_upto"))
