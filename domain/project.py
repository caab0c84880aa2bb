"""Project settings as an event-sourced aggregate: what changed, when, and by whom.

A project holds its API tokens, its Infobip integrations (each with its senders and
its webhook secret), its default SMS provider and its campaign-event name. Secrets
are never stored in the clear: tokens and webhook secrets are kept as SHA-256 hashes
(they are random and long, so a fast hash is enough) and compared in constant time;
the Infobip API key, which must be sent as it is, is stored sealed (encrypted by the
application with a key the store does not hold; only events written before sealing
hold it in plain text). Every change records `changed_by`, the id of the token (or
"cli") that made it. It also holds the project's event subscriptions (their URL,
filter, whether enabled and why not, and their secret's generation: the secret
itself is derived, never stored; smsledger.domain.subscriptions).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlparse
from uuid import UUID

from eventsourcing.domain import Aggregate

from smsledger.domain.campaign_events import DEFAULT_EVENT_NAME
from smsledger.domain.consent import validate_category
from smsledger.domain.errors import DomainError, InvalidEventName, NotFound
from smsledger.domain.identifiers import NameBasedIds
from smsledger.domain.replies import (
    DEFAULT_KEYWORDS,
    KeywordAction,
    KeywordRule,
    normalise_keyword,
)
from smsledger.domain.subscriptions import (
    MAX_SUBSCRIPTIONS,
    InvalidSubscription,
    Subscription,
    UnknownSubscription,
    validate_subscription,
)

_PROJECT_IDS = NameBasedIds("urn:smsledger:project-settings")

# Names other platforms use look like "campaign", "users.messages.sms.Delivery" or
# "SMS Delivered": letters, digits, spaces and a little punctuation, at most 128.
# ASCII only, so a JSON Schema (ECMA-262) reader of the OpenAPI document matches the same.
EVENT_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.:\- ]{0,126}[A-Za-z0-9_]$|^[A-Za-z0-9_]$"
_EVENT_NAME = re.compile(EVENT_NAME_PATTERN)
# Ids appear in URLs and tokens: keep them plain.
ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
_ID = re.compile(ID_PATTERN)
MAX_SENDERS = 100
TOKEN_PREFIX = "sml_"  # tokens read `sml_<project>.<token id>.<secret>`
ROLES = ("admin", "member")


class InvalidSettings(DomainError):
    pass


class UnknownIntegration(DomainError):
    pass


class UnknownToken(NotFound):
    public_message = "no such token"


def project_settings_id(project_id: str) -> UUID:
    return _PROJECT_IDS.id_for(project_id)


def validate_event_name(name: object) -> str:
    if not isinstance(name, str) or not _EVENT_NAME.match(name):
        raise InvalidEventName(
            f"campaign event name {name!r} must be 1-128 letters, digits, spaces or '_.:-', "
            "not starting or ending with a space or punctuation"
        )
    return name


def validate_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InvalidSettings(f"{kind} {value!r} must be 1-63 lowercase letters, digits, '-' "
                              "or '_', starting with a letter or digit")
    return value


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _matches(secret: str, expected_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(secret), expected_hash)


@dataclass(frozen=True)
class Token:
    """An API token as the store knows it: its id and role, never its secret."""

    token_id: str
    token_hash: str = field(repr=False)
    role: str
    issued_at: datetime
    issued_by: str
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def describe(self, project_id: str) -> dict[str, Any]:
        """What may be shown of it: the token's public prefix, never its secret."""
        return {"token_id": self.token_id, "role": self.role,
                "token": f"{TOKEN_PREFIX}{project_id}.{self.token_id}.****",
                "issued_at": self.issued_at.isoformat(), "issued_by": self.issued_by,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "revoked_by": self.revoked_by}


@dataclass(frozen=True)
class Integration:
    integration_id: str
    base_url: str
    # The API key as stored: sealed (api_key_sealed), or in plain text in events
    # written before keys were sealed. The application opens it.
    api_key: str = field(repr=False)
    api_key_sealed: bool
    senders: tuple[str, ...]
    default_sender: str | None
    webhook_nonce: str = field(repr=False)  # the webhook secret is derived from it
    webhook_secret_hash: str = field(repr=False)

    def verify_webhook_secret(self, secret: str) -> bool:
        return _matches(secret, self.webhook_secret_hash)


def validate_integration(base_url: object, api_key: object, senders: object,
                         default_sender: object) -> tuple[str, str, tuple[str, ...], str | None]:
    parsed = urlparse(base_url) if isinstance(base_url, str) else None
    if not isinstance(base_url, str) or parsed is None \
            or parsed.scheme not in ("http", "https") or not parsed.netloc \
            or parsed.username or parsed.query:
        raise InvalidSettings(f"base_url {base_url!r} must be the account's http(s) base URL, "
                              "e.g. https://xyz.api.infobip.com")
    if not isinstance(api_key, str) or len(api_key.strip()) < 8:
        raise InvalidSettings("api_key must be the Infobip API key (at least 8 characters)")
    if not isinstance(senders, (list, tuple)) or not all(
            isinstance(s, str) and 0 < len(s.strip()) <= 20 for s in senders):
        raise InvalidSettings("senders must be a list of sender names or numbers, "
                              "1-20 characters each")
    if len(senders) > MAX_SENDERS:
        raise InvalidSettings(f"at most {MAX_SENDERS} senders, got {len(senders)}")
    if len(set(senders)) != len(senders):
        raise InvalidSettings("senders must not repeat")
    if default_sender is not None and default_sender not in senders:
        raise InvalidSettings(f"default_sender {default_sender!r} is not one of the senders")
    # default_sender is None or one of the senders, all of them strings.
    return base_url.rstrip("/"), api_key, tuple(senders), cast("str | None", default_sender)


class ProjectSettings(Aggregate):
    class Started(Aggregate.Created):
        project_id: str
        name: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.project_id = self.project_id
            settings.name = self.name
            settings.campaign_event_name = DEFAULT_EVENT_NAME
            settings.campaign_event_renamed = False
            settings.tokens = {}  # token id -> Token
            settings.integrations = {}  # integration id -> Integration
            settings.default_provider = None
            settings.keywords = {rule.keyword: rule for rule in DEFAULT_KEYWORDS}
            settings.nps_campaigns = set()
            settings.subscriptions = {}  # name -> Subscription
            settings.secret_generations = 0  # the last subscription secret generation used

    class CampaignEventRenamed(Aggregate.Event):
        name: str
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.campaign_event_name = self.name
            settings.campaign_event_renamed = True

    class TokenIssued(Aggregate.Event):
        token_id: str
        token_hash: str
        role: str
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.tokens[self.token_id] = Token(
                self.token_id, self.token_hash, self.role, issued_at=self.timestamp,
                issued_by=self.changed_by)

    class TokenRevoked(Aggregate.Event):
        token_id: str
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.tokens[self.token_id] = replace(
                settings.tokens[self.token_id], revoked_at=self.timestamp,
                revoked_by=self.changed_by)

    class IntegrationConfigured(Aggregate.Event):
        """Version 2 stores the API key sealed (`api_key_sealed`); version 1 events,
        written before, hold it in plain text and are read as such."""

        class_version = 2
        integration_id: str
        base_url: str
        api_key: str
        api_key_sealed: bool
        senders: list[str]
        default_sender: str | None
        webhook_nonce: str
        webhook_secret_hash: str
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.integrations[self.integration_id] = Integration(
                integration_id=self.integration_id, base_url=self.base_url,
                api_key=self.api_key, api_key_sealed=self.api_key_sealed,
                senders=tuple(self.senders), default_sender=self.default_sender,
                webhook_nonce=self.webhook_nonce, webhook_secret_hash=self.webhook_secret_hash)

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["api_key_sealed"] = False

    class DefaultProviderChosen(Aggregate.Event):
        integration_id: str
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.default_provider = self.integration_id

    class KeywordConfigured(Aggregate.Event):
        keyword: str
        action: str
        category: str
        answer: str | None
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.keywords[self.keyword] = KeywordRule(
                self.keyword, KeywordAction(self.action), self.category, self.answer)

    class KeywordRemoved(Aggregate.Event):
        keyword: str
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.keywords.pop(self.keyword, None)

    class NpsSurveyMarked(Aggregate.Event):
        campaign_id: str
        is_survey: bool
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            if self.is_survey:
                settings.nps_campaigns.add(self.campaign_id)
            else:
                settings.nps_campaigns.discard(self.campaign_id)

    class SubscriptionConfigured(Aggregate.Event):
        """Created (with a new `secret_generation`) or changed (keeping it). Enabling
        clears the reason the delivery gave up for."""

        name: str
        url: str
        statuses: list[str]
        enabled: bool
        secret_generation: int
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            existing = settings.subscriptions.get(self.name)
            kept_reason = existing.disabled_reason if existing and not self.enabled else None
            configured = Subscription(
                self.name, self.url, tuple(self.statuses), self.enabled, kept_reason,
                self.secret_generation)
            if existing is not None:
                configured = replace(configured,
                                     previous_generation=existing.previous_generation,
                                     previous_valid_until=existing.previous_valid_until)
            settings.subscriptions[self.name] = configured
            settings.secret_generations = max(settings.secret_generations,
                                              self.secret_generation)

    class SubscriptionSecretRotated(Aggregate.Event):
        name: str
        secret_generation: int
        previous_valid_until: datetime | None  # the old secret signs too until then
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            old = settings.subscriptions[self.name]
            settings.subscriptions[self.name] = replace(
                old, secret_generation=self.secret_generation,
                previous_generation=old.secret_generation,
                previous_valid_until=self.previous_valid_until)
            settings.secret_generations = max(settings.secret_generations,
                                              self.secret_generation)

    class SubscriptionDisabled(Aggregate.Event):
        name: str
        reason: str
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.subscriptions[self.name] = replace(
                settings.subscriptions[self.name], enabled=False, disabled_reason=self.reason)

    class SubscriptionDeleted(Aggregate.Event):
        name: str
        changed_by: str

        def apply(self, settings: ProjectSettings) -> None:
            settings.subscriptions.pop(self.name, None)

    # State, set only by the events' apply() methods. Declared for the type checker
    # only: annotations seen at run time would make the library treat them as
    # constructor arguments.
    if TYPE_CHECKING:
        project_id: str
        name: str
        campaign_event_name: str
        campaign_event_renamed: bool
        tokens: dict[str, Token]
        integrations: dict[str, Integration]
        default_provider: str | None  # an integration id
        keywords: dict[str, KeywordRule]
        nps_campaigns: set[str]
        subscriptions: dict[str, Subscription]
        secret_generations: int

    @classmethod
    def start(cls, project_id: str, *, at: datetime, name: str | None = None) -> ProjectSettings:
        validate_id("project id", project_id)
        return cls._create(cls.Started, id=project_settings_id(project_id), timestamp=at,
                           project_id=project_id, name=name or project_id)

    # --- commands ------------------------------------------------------------------

    def rename_campaign_event(self, name: str, *, changed_by: str, at: datetime) -> None:
        validate_event_name(name)
        if name != self.campaign_event_name or not self.campaign_event_renamed:
            self.trigger_event(self.CampaignEventRenamed, timestamp=at, name=name,
                               changed_by=changed_by)

    def issue_token(self, *, token_id: str, secret: str, role: str, changed_by: str,
                    at: datetime) -> None:
        if role not in ROLES:
            raise InvalidSettings(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if token_id in self.tokens:
            raise InvalidSettings(f"token id {token_id!r} is taken")
        self.trigger_event(self.TokenIssued, timestamp=at, token_id=token_id,
                           token_hash=secret_hash(secret), role=role, changed_by=changed_by)

    def revoke_token(self, token_id: str, *, changed_by: str, at: datetime) -> None:
        """Revoke the token: from now on it authenticates nothing. Revoking it again
        changes nothing."""
        token = self.tokens.get(token_id)
        if token is None:
            raise UnknownToken(f"no token {token_id!r} in this project")
        if token.revoked_at is None:
            self.trigger_event(self.TokenRevoked, timestamp=at, token_id=token_id,
                               changed_by=changed_by)

    def configure_integration(self, integration_id: str, *, base_url: str, api_key: str,
                              seal: Callable[[str], str],
                              senders: list[str], default_sender: str | None,
                              webhook_nonce: str, webhook_secret_hash: str, changed_by: str,
                              at: datetime) -> None:
        """`seal` turns the (valid) API key into the form the store keeps."""
        validate_id("integration id", integration_id)
        base_url, api_key, senders_tuple, default_sender = validate_integration(
            base_url, api_key, senders, default_sender)
        self.trigger_event(self.IntegrationConfigured, timestamp=at,
                           integration_id=integration_id, base_url=base_url,
                           api_key=seal(api_key), api_key_sealed=True,
                           senders=list(senders_tuple), default_sender=default_sender,
                           webhook_nonce=webhook_nonce, webhook_secret_hash=webhook_secret_hash,
                           changed_by=changed_by)

    def choose_default_provider(self, integration_id: str, *, changed_by: str,
                                at: datetime) -> None:
        if integration_id not in self.integrations:
            raise UnknownIntegration(f"no integration {integration_id!r} in this project")
        if integration_id != self.default_provider:
            self.trigger_event(self.DefaultProviderChosen, timestamp=at,
                               integration_id=integration_id, changed_by=changed_by)

    def configure_keyword(self, keyword: str, *, action: str, category: str,
                          answer: str | None, changed_by: str, at: datetime) -> None:
        keyword = normalise_keyword(keyword)
        try:
            action = KeywordAction(action).value
        except ValueError:
            raise InvalidSettings(f"keyword action must be one of "
                                  f"{', '.join(a.value for a in KeywordAction)}, got {action!r}"
                                  ) from None
        validate_category(category)
        if answer is not None and not (0 < len(answer.strip()) <= 1600):
            raise InvalidSettings("an automatic answer must be 1-1600 characters")
        self.trigger_event(self.KeywordConfigured, timestamp=at, keyword=keyword, action=action,
                           category=category, answer=answer, changed_by=changed_by)

    def remove_keyword(self, keyword: str, *, changed_by: str, at: datetime) -> None:
        keyword = normalise_keyword(keyword)
        if keyword in self.keywords:
            self.trigger_event(self.KeywordRemoved, timestamp=at, keyword=keyword,
                               changed_by=changed_by)

    def mark_nps_survey(self, campaign_id: str, is_survey: bool, *, changed_by: str,
                        at: datetime) -> None:
        if (campaign_id in self.nps_campaigns) != is_survey:
            self.trigger_event(self.NpsSurveyMarked, timestamp=at, campaign_id=campaign_id,
                               is_survey=is_survey, changed_by=changed_by)

    def configure_subscription(self, name: str, *, url: str, statuses: list[str],
                               enabled: bool, changed_by: str, at: datetime) -> bool:
        """Create or change the subscription; True when it was created (with a secret
        of a generation never used before)."""
        validate_id("subscription name", name)
        url, statuses_tuple = validate_subscription(url, statuses)
        existing = self.subscriptions.get(name)
        if existing is None and len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            raise InvalidSubscription(f"a project has at most {MAX_SUBSCRIPTIONS} subscriptions")
        generation = existing.secret_generation if existing else self.secret_generations + 1
        if existing is None or (url, statuses_tuple, enabled) != (
                existing.url, existing.statuses, existing.enabled):
            self.trigger_event(self.SubscriptionConfigured, timestamp=at, name=name, url=url,
                               statuses=list(statuses_tuple), enabled=enabled,
                               secret_generation=generation, changed_by=changed_by)
        return existing is None

    def rotate_subscription_secret(self, name: str, *, previous_valid_until: datetime | None,
                                   changed_by: str, at: datetime) -> None:
        self.subscription(name)
        self.trigger_event(self.SubscriptionSecretRotated, timestamp=at, name=name,
                           secret_generation=self.secret_generations + 1,
                           previous_valid_until=previous_valid_until, changed_by=changed_by)

    def disable_subscription(self, name: str, *, reason: str, changed_by: str,
                             at: datetime) -> None:
        if self.subscription(name).enabled:
            self.trigger_event(self.SubscriptionDisabled, timestamp=at, name=name,
                               reason=reason, changed_by=changed_by)

    def delete_subscription(self, name: str, *, changed_by: str, at: datetime) -> None:
        self.subscription(name)
        self.trigger_event(self.SubscriptionDeleted, timestamp=at, name=name,
                           changed_by=changed_by)

    # --- queries -------------------------------------------------------------------

    def subscription(self, name: str) -> Subscription:
        try:
            return self.subscriptions[name]
        except KeyError:
            raise UnknownSubscription(f"no subscription {name!r} in this project") from None

    def role_of(self, token_id: str, secret: str) -> str | None:
        """The token's role when the secret is right; None otherwise."""
        token = self.tokens.get(token_id)
        if token is None:
            _matches(secret, "0" * 64)  # same work either way: timing tells nothing
            return None
        if not _matches(secret, token.token_hash):
            return None
        return token.role if token.revoked_at is None else None

    def integration(self, integration_id: str | None) -> Integration:
        """The named integration, or the default provider when none is named."""
        chosen = integration_id or self.default_provider
        if chosen is None:
            raise UnknownIntegration("the project has no default SMS provider; name an "
                                     "integration or choose a default provider")
        try:
            return self.integrations[chosen]
        except KeyError:
            raise UnknownIntegration(f"no integration {chosen!r} in this project") from None

    def resolve_sender(self, integration: Integration, sender: str | None) -> str | None:
        if sender is None:
            return integration.default_sender
        if sender not in integration.senders:
            raise InvalidSettings(f"sender {sender!r} is not one of integration "
                                  f"{integration.integration_id!r}'s senders")
        return sender

    def describe(self) -> dict[str, Any]:
        return {"project_id": self.project_id, "name": self.name,
                "default_provider": self.default_provider,
                "campaign_event_name": self.campaign_event_name}
