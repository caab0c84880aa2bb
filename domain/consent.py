"""Consent to receive messages of a category (e.g. `sms_marketing`), per project and
phone number, as an event-sourced aggregate: requested (double opt-in sent),
granted, revoked, expired; each with its source and time."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.domain import Aggregate

from smsledger.domain.errors import DomainError
from smsledger.domain.identifiers import NameBasedIds

_CONSENT_IDS = NameBasedIds("urn:smsledger:consent")


class ConsentSource(str, Enum):
    API = "api"
    KEYWORD = "keyword"
    DOUBLE_OPT_IN = "double_opt_in"


class ConsentStatus(str, Enum):
    NONE = "none"  # never asked
    REQUESTED = "requested"  # double opt-in confirmation sent, awaiting the reply
    GRANTED = "granted"
    REVOKED = "revoked"
    EXPIRED = "expired"  # a double opt-in nobody confirmed in time


class InvalidCategory(DomainError):
    pass


def consent_id(project_id: str, number: str, category: str) -> UUID:
    return _CONSENT_IDS.id_for(project_id, number, category)


# A category: 1-64 letters, digits, '_' or '-', at least one a letter or digit. The
# HTTP service states the same pattern in its OpenAPI document (with ^...$ around it).
CATEGORY_PATTERN = r"[_-]*[^\W_][\w-]*"
CATEGORY_MAX_LENGTH = 64
_CATEGORY = re.compile(CATEGORY_PATTERN)


def validate_category(category: object) -> str:
    if not isinstance(category, str) or len(category) > CATEGORY_MAX_LENGTH \
            or not _CATEGORY.fullmatch(category):
        raise InvalidCategory(f"consent category {category!r} must be 1-64 letters, digits, "
                              "'_' or '-'")
    return category


class NoReplyPath(DomainError):
    """A double opt-in confirmation would go from a sender the customer cannot answer."""

    code = "sender_cannot_receive_replies"


# Digits, as a phone number or a short code: a customer can reply to it. An alphanumeric
# sender ("AcmeShop") cannot be replied to, so a YES to it never arrives.
_NUMERIC_SENDER = re.compile(r"\+?[0-9]+")


def can_receive_replies(sender: str) -> bool:
    return _NUMERIC_SENDER.fullmatch(sender) is not None


def confirmation_sender(chosen: str | None, *, default: str | None,
                        senders: Sequence[str], integration_id: str) -> str | None:
    """The sender of a double opt-in confirmation: `chosen` (already checked to be one
    of the integration's `senders`) when it can receive the YES, else the default
    sender when numeric, else the first numeric sender. With no senders known (an
    embedding whose accounts live elsewhere), the provider's default: None."""
    if chosen is not None:
        if not can_receive_replies(chosen):
            raise NoReplyPath(f"sender {chosen!r} is alphanumeric and cannot receive replies: "
                              "the customer's YES would never arrive; choose a numeric sender "
                              "(a phone number or short code)")
        return chosen
    if not senders:
        return default
    numeric = [s for s in ((default,) if default else ()) + tuple(senders)
               if can_receive_replies(s)]
    if not numeric:
        raise NoReplyPath(f"integration {integration_id!r} has no numeric sender that could "
                          "receive the customer's YES; add a phone number or short code to "
                          "its senders, or name one as `sender`", code="no_numeric_sender")
    return numeric[0]


class Consent(Aggregate):
    class Opened(Aggregate.Created):
        project_id: str
        number: str  # E.164
        category: str

        def apply(self, consent: Consent) -> None:
            consent.project_id, consent.number = self.project_id, self.number
            consent.category = self.category
            consent.status = ConsentStatus.NONE
            consent.expires_at = None

    class Requested(Aggregate.Event):
        expires_at: datetime
        message_id: str  # the confirmation SMS
        customer_id: str | None

        def apply(self, consent: Consent) -> None:
            consent.status = ConsentStatus.REQUESTED
            consent.expires_at = self.expires_at

    class Granted(Aggregate.Event):
        source: str
        customer_id: str | None

        def apply(self, consent: Consent) -> None:
            consent.status = ConsentStatus.GRANTED
            consent.expires_at = None

    class Revoked(Aggregate.Event):
        source: str
        customer_id: str | None

        def apply(self, consent: Consent) -> None:
            consent.status = ConsentStatus.REVOKED
            consent.expires_at = None

    class Expired(Aggregate.Event):
        def apply(self, consent: Consent) -> None:
            consent.status = ConsentStatus.EXPIRED
            consent.expires_at = None

    # State, set only by the events' apply() methods. Declared for the type checker
    # only: annotations seen at run time would make the library treat them as
    # constructor arguments.
    if TYPE_CHECKING:
        project_id: str
        number: str
        category: str
        status: ConsentStatus
        expires_at: datetime | None

    @classmethod
    def open(cls, project_id: str, number: str, category: str, *, at: datetime) -> Consent:
        validate_category(category)
        return cls._create(cls.Opened, id=consent_id(project_id, number, category), timestamp=at,
                           project_id=project_id, number=number, category=category)

    @property
    def is_granted(self) -> bool:
        return self.status is ConsentStatus.GRANTED

    def request(self, *, message_id: str, at: datetime, valid_for: timedelta,
                customer_id: str | None = None) -> None:
        """A double opt-in confirmation was sent; a positive reply in time grants."""
        self.trigger_event(self.Requested, timestamp=at, expires_at=at + valid_for,
                           message_id=message_id, customer_id=customer_id)

    def grant(self, source: ConsentSource, *, at: datetime, customer_id: str | None = None) -> None:
        if self.status is not ConsentStatus.GRANTED:
            self.trigger_event(self.Granted, timestamp=at, source=source.value,
                               customer_id=customer_id)

    def revoke(self, source: ConsentSource, *, at: datetime,
               customer_id: str | None = None) -> None:
        if self.status is not ConsentStatus.REVOKED:
            self.trigger_event(self.Revoked, timestamp=at, source=source.value,
                               customer_id=customer_id)

    def confirm(self, *, at: datetime, customer_id: str | None = None) -> bool:
        """A positive reply: grants a pending double opt-in that has not expired."""
        if self.status is ConsentStatus.REQUESTED and self.expires_at and at <= self.expires_at:
            self.trigger_event(self.Granted, timestamp=at, customer_id=customer_id,
                               source=ConsentSource.DOUBLE_OPT_IN.value)
            return True
        return False

    def expire_if_due(self, now: datetime) -> bool:
        if self.status is ConsentStatus.REQUESTED and self.expires_at and now > self.expires_at:
            self.trigger_event(self.Expired, timestamp=self.expires_at)
            return True
        return False
