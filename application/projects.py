"""ProjectDirectory: projects, their API tokens and their Infobip integrations.

A bounded context of its own (its own eventsourcing Application and events table
beside the ledger's): who may do what in a project, and where its messages go.

Tokens look like `sml_<project>.<token id>.<secret>`: the project and token id say
where to look, the secret is checked against its stored hash. Webhook secrets are
not stored at all, only their hashes: each is derived from the service's secret
key and a per-integration nonce (the WebhookSecrets port), so the sender can put it
in the webhook URLs it gives Infobip while the store alone reveals nothing. Infobip
API keys must be sent as they are, so they are sealed (the SecretSealer port, with a
key the store does not hold) and opened only to send; and where they are sent is
checked first (the ProviderAddressPolicy port): no tenant points the service at its
own surroundings.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from copy import deepcopy
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from smsledger.application.aggregates import AggregateStore
from smsledger.application.errors import ProjectExists, ProjectNotFound
from smsledger.application.ports import (
    Clock,
    ProviderAddressPolicy,
    SecretSealer,
    SecretSource,
    WebhookSecrets,
)
from smsledger.domain.campaign_events import DEFAULT_EVENT_NAME
from smsledger.domain.replies import DEFAULT_KEYWORDS
from smsledger.domain.project import (
    Integration,
    TOKEN_PREFIX,
    InvalidSettings,
    ProjectSettings,
    UnknownIntegration,
    project_settings_id,
    secret_hash,
    validate_event_name,
    validate_id,
)

MAX_KEPT_PROJECTS = 1_000  # settings kept per process (see ProjectDirectory.find)


@dataclass(frozen=True)
class Principal:
    project_id: str
    token_id: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Route:
    """Where one message goes: which integration, from which sender."""

    integration_id: str
    sender: str | None


class ProjectDirectory(Application[UUID]):
    name = "projects"

    def __init__(self, *, clock: Clock, secrets: SecretSource, webhook_secrets: WebhookSecrets,
                 sealer: SecretSealer, provider_addresses: ProviderAddressPolicy,
                 event_names: Mapping[str, str] | None = None,
                 require_integrations: bool = False,
                 env: Mapping[str, str] | None = None) -> None:
        """`require_integrations`: as a service, every send must go through an
        integration configured here; embedded with its own account directory, a project
        without integrations passes its integration ids through."""
        super().__init__(env=env)
        self.require_integrations = require_integrations
        self.clock = clock
        self.secrets = secrets
        self.webhook_secrets = webhook_secrets
        self.sealer = sealer
        self.provider_addresses = provider_addresses
        # Campaign event names from the configuration file; a rename made through
        # the application takes precedence.
        self.event_names = dict(event_names or {})
        self._kept: dict[UUID, ProjectSettings] = {}  # see find()
        self._kept_lock = threading.Lock()
        self.store = AggregateStore(self)

    # --- projects and tokens --------------------------------------------------------

    def create_project(self, project_id: str, *, name: str | None = None,
                       changed_by: str = "cli") -> str:
        """Create a project; returns its first admin token."""
        validate_id("project id", project_id)
        now = self.clock.now()
        settings = ProjectSettings.start(project_id, at=now, name=name)
        token = self._issue(settings, "admin", changed_by)
        try:
            self.save(settings)
        except IntegrityError:
            raise ProjectExists(f"project {project_id!r} exists already") from None
        return token

    def issue_token(self, project_id: str, role: str, *, changed_by: str = "cli") -> str:
        holder: list[str] = []

        def issue(settings: ProjectSettings) -> None:
            holder[:] = [self._issue(settings, role, changed_by)]

        self._change(project_id, issue)
        return holder[0]

    def _issue(self, settings: ProjectSettings, role: str, changed_by: str) -> str:
        token_id, secret = self.secrets.new_id(), self.secrets.new_secret()
        settings.issue_token(token_id=token_id, secret=secret, role=role,
                             changed_by=changed_by, at=self.clock.now())
        return f"{TOKEN_PREFIX}{settings.project_id}.{token_id}.{secret}"

    def authenticate(self, token: str) -> Principal | None:
        """The token's project and role, or None for anything that is not a valid token."""
        if not token.startswith(TOKEN_PREFIX) or token.count(".") != 2:
            return None
        project_id, token_id, secret = token[len(TOKEN_PREFIX):].split(".")
        settings = self.find(project_id)
        if settings is None:
            secret_hash(secret)  # same work as a wrong secret
            return None
        role = settings.role_of(token_id, secret)
        return Principal(project_id, token_id, role) if role else None

    def tokens(self, project_id: str) -> list[dict[str, Any]]:
        """The project's tokens, oldest first: ids, roles, times, never a secret."""
        settings = self.settings(project_id)
        return [token.describe(project_id) for token in settings.tokens.values()]

    def revoke_token(self, project_id: str, token_id: str, *, changed_by: str) -> dict[str, Any]:
        """Revoke a token: the next request made with it is refused (every request
        reads the settings' newest events, see find)."""
        settings = self._change(project_id, lambda s: s.revoke_token(
            token_id, changed_by=changed_by, at=self.clock.now()))
        return settings.tokens[token_id].describe(project_id)

    # --- settings -------------------------------------------------------------------

    def settings(self, project_id: str) -> ProjectSettings:
        settings = self.find(project_id)
        if settings is None:
            raise ProjectNotFound(f"no project {project_id!r}")
        return settings

    def configure_integration(self, project_id: str, integration_id: str, *, base_url: str,
                              api_key: str, senders: list[str], default_sender: str | None,
                              rotate_webhook_secret: bool = False,
                              changed_by: str) -> tuple[Integration, str]:
        """Add or change an integration; returns it with its webhook secret. The secret
        stays the same across changes (messages in flight keep their webhook URLs)
        unless a rotation is asked for. The API key is stored sealed."""
        refusal = self.provider_addresses.refusal(base_url)
        if refusal is not None:
            raise InvalidSettings(refusal)

        def configure(settings: ProjectSettings) -> None:
            existing = settings.integrations.get(integration_id)
            nonce = (existing.webhook_nonce if existing and not rotate_webhook_secret
                     else self.secrets.new_id())
            secret = self.webhook_secrets.derive(project_id, integration_id, nonce)
            settings.configure_integration(
                integration_id, base_url=base_url, api_key=api_key,
                seal=lambda key: self.sealer.seal(key, bound_to=_bound(project_id, integration_id)),
                senders=senders, default_sender=default_sender, webhook_nonce=nonce,
                webhook_secret_hash=secret_hash(secret), changed_by=changed_by,
                at=self.clock.now())

        settings = self._change(project_id, configure)
        integration = settings.integrations[integration_id]
        return integration, self.webhook_secret(project_id, integration)

    def api_key(self, project_id: str, integration: Integration) -> str | None:
        """The integration's API key, to send with; None when it was sealed with
        another secret key than the service's (PUT the integration again)."""
        if not integration.api_key_sealed:
            return integration.api_key  # stored before keys were sealed
        return self.sealer.open(integration.api_key,
                                bound_to=_bound(project_id, integration.integration_id))

    def masked_api_key(self, project_id: str, integration: Integration) -> str:
        api_key = self.api_key(project_id, integration)
        if api_key is None:
            return "**** (unreadable with this secret key: PUT the integration again)"
        return "****" + api_key[-4:] if len(api_key) > 8 else "****"

    def webhook_secret(self, project_id: str, integration: Integration) -> str:
        return self.webhook_secrets.derive(project_id, integration.integration_id,
                                           integration.webhook_nonce)

    def verify_webhook(self, project_id: str, integration_id: str, secret: str) -> bool:
        settings = self.find(project_id)
        integration = settings.integrations.get(integration_id) if settings else None
        if integration is None:
            secret_hash(secret)
            return False
        return integration.verify_webhook_secret(secret)

    def choose_default_provider(self, project_id: str, integration_id: str, *,
                                changed_by: str) -> None:
        self._change(project_id, lambda s: s.choose_default_provider(
            integration_id, changed_by=changed_by, at=self.clock.now()))

    def rename_campaign_event(self, project_id: str, name: str, *, changed_by: str) -> None:
        """Map the project's `campaign` event to another name, for events read from now
        on. A project not created yet is created for it (embedded use)."""
        validate_event_name(name)
        self._change(project_id, lambda s: s.rename_campaign_event(
            name, changed_by=changed_by, at=self.clock.now()), create=True)

    def configure_keyword(self, project_id: str, keyword: str, *, action: str,
                          category: str = "sms_marketing", answer: str | None = None,
                          changed_by: str) -> None:
        self._change(project_id, lambda s: s.configure_keyword(
            keyword, action=action, category=category, answer=answer, changed_by=changed_by,
            at=self.clock.now()), create=True)

    def remove_keyword(self, project_id: str, keyword: str, *, changed_by: str) -> None:
        self._change(project_id, lambda s: s.remove_keyword(
            keyword, changed_by=changed_by, at=self.clock.now()), create=True)

    def keywords(self, project_id: str) -> list[dict[str, Any]]:
        settings = self.find(project_id)
        rules = settings.keywords.values() if settings else DEFAULT_KEYWORDS
        return [{"keyword": r.keyword, "action": r.action.value, "category": r.category,
                 "answer": r.answer} for r in sorted(rules, key=lambda r: r.keyword)]

    def mark_nps_survey(self, project_id: str, campaign_id: str, is_survey: bool = True, *,
                        changed_by: str) -> None:
        self._change(project_id, lambda s: s.mark_nps_survey(
            campaign_id, is_survey, changed_by=changed_by, at=self.clock.now()), create=True)

    def campaign_event_name(self, project_id: str) -> str:
        settings = self.find(project_id)
        if settings is not None and settings.campaign_event_renamed:
            return settings.campaign_event_name
        return self.event_names.get(project_id, DEFAULT_EVENT_NAME)

    def route(self, project_id: str, integration_id: str | None,
              sender: str | None) -> Route:
        """Where a message goes. A project with integrations configured here checks the
        integration (default: the default provider) and the sender (default: the
        integration's default sender); one without (embedded with its own account
        directory) passes them through."""
        settings = self.find(project_id)
        if (settings is None or not settings.integrations) and not self.require_integrations:
            return Route(integration_id or "default", sender)
        if settings is None:
            raise UnknownIntegration("the project has no SMS integration configured")
        integration = settings.integration(integration_id)
        return Route(integration.integration_id, settings.resolve_sender(integration, sender))

    def history(self, project_id: str) -> list[dict[str, Any]]:
        """What changed and when, and by whom; secrets and keys left out."""
        entries = []
        for event in self.repository.event_store.get(project_settings_id(project_id)):
            assert isinstance(event, ProjectSettings.Event)
            details = {k: v for k, v in vars(event).items() if k not in _NOT_SHOWN}
            entries.append({"event": type(event).__name__, "timestamp": event.timestamp.isoformat(),
                            **details})
        return entries

    # --- helpers --------------------------------------------------------------------

    def find(self, project_id: str) -> ProjectSettings | None:
        """The project's current settings, to read only: the object is shared with
        other callers (change settings through the commands here).

        Every authenticated request reads them, and a project's history grows with each
        token and change (a thousand events took 23 ms to rebuild). So each process
        keeps the settings it rebuilt, and a read asks the store only for events after
        the kept version: usually none, and the kept object is answered. New events
        are applied to a copy, never to an object a caller may be reading."""
        try:
            aggregate_id = project_settings_id(project_id)
        except ValueError:  # not encodable (a lone surrogate): no such project
            return None
        with self._kept_lock:
            kept = self._kept.pop(aggregate_id, None)
            if kept is not None:
                self._kept[aggregate_id] = kept  # now the most recently used
        current: ProjectSettings | None
        if kept is None:
            try:
                current = self.repository.get(aggregate_id)
            except (AggregateNotFoundError, ValueError):
                return None
        else:
            newer = list(self.repository.event_store.get(aggregate_id, gt=kept.version))
            if not newer:
                return kept
            current = deepcopy(kept)
            for event in newer:
                assert isinstance(event, ProjectSettings.Event)
                current = event.mutate(current)
        assert isinstance(current, ProjectSettings)
        with self._kept_lock:
            known = self._kept.get(aggregate_id)
            if known is None or known.version < current.version:  # another read may be newer
                if known is None and len(self._kept) >= MAX_KEPT_PROJECTS:
                    self._kept.pop(next(iter(self._kept)))  # the least recently used
                self._kept[aggregate_id] = current
        return current

    def _change(self, project_id: str, command: Callable[[ProjectSettings], None], *,
                create: bool = False) -> ProjectSettings:
        changed: list[ProjectSettings] = []

        def attempt() -> list[Aggregate]:
            found = self.find(project_id)
            settings = deepcopy(found) if found is not None else None  # find's is shared
            if settings is None:
                if not create:
                    raise ProjectNotFound(f"no project {project_id!r}")
                settings = ProjectSettings.start(project_id, at=self.clock.now())
            command(settings)
            changed[:] = [settings]
            return [settings]

        self.store.retrying(attempt)  # changed meanwhile: read again and apply again
        return changed[0]


def _bound(project_id: str, integration_id: str) -> str:
    """What a sealed API key is bound to: copied to another integration, it does not open."""
    return f"infobip-api-key\x1f{project_id}\x1f{integration_id}"


_NOT_SHOWN = {"originator_id", "originator_version", "timestamp", "originator_topic",
              "api_key", "token_hash", "webhook_nonce", "webhook_secret_hash"}
