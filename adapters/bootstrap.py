"""The composition root: the one place that chooses adapters and wires the core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TypeVar

from eventsourcing.application import Application

from smsledger.adapters.runtime.config import Settings, load_settings
from smsledger.adapters.facade import SmsChannel
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.infobip.accounts import AccountDirectory
from smsledger.adapters.infobip.lookup import InfobipLookup
from smsledger.adapters.infobip.project_accounts import ProjectAccounts
from smsledger.adapters.infobip.provider import InfobipProvider
from smsledger.adapters.runtime.secrets import HmacWebhookSecrets, RandomSecrets, SecretKey
from smsledger.adapters.store.read_store_factory import read_store_for
from smsledger.adapters.store.upgrade import upgrade_old_topics
from smsledger.adapters.runtime.system import SystemClock, UuidMessageIds
from smsledger.application.ledger import LedgerSettings, LedgerApplication
from smsledger.application.ports import Clock, IdSource, OutgoingMessage, SendOutcome, SmsProvider
from smsledger.application.projects import ProjectDirectory

A = TypeVar("A", bound=Application)  # type: ignore[type-arg]


class ReadOnlyProvider(SmsProvider):
    """For commands that read and maintain the store (audit, replay): they send nothing."""

    def send(self, messages: Sequence[OutgoingMessage]) -> Sequence[SendOutcome]:
        raise RuntimeError("this smsledger was started to read the store; it sends nothing")


def build_projects(settings: Settings, *, clock: Clock | None = None,
                   require_integrations: bool = False) -> ProjectDirectory:
    key = SecretKey(settings.secret_key.get_secret_value() if settings.secret_key else None,
                    settings.secret_key_file)
    return _upgraded(ProjectDirectory(
        clock=clock or SystemClock(), secrets=RandomSecrets(),
        webhook_secrets=HmacWebhookSecrets(key), event_names=dict(settings.campaign_event_names),
        require_integrations=require_integrations, env=settings.store_env()))


def build_ledger(settings: Settings, *, provider: SmsProvider | None = None,
                 clock: Clock | None = None, ids: IdSource | None = None,
                 projects: ProjectDirectory | None = None) -> LedgerApplication:
    """The application (and its project directory): with the caller's provider, or
    one that sends nothing."""
    clock = clock or SystemClock()
    return _upgraded(LedgerApplication(
        provider=provider or ReadOnlyProvider(),
        clock=clock,
        ids=ids or UuidMessageIds(),
        read_store=read_store_for,
        projects=projects or build_projects(settings, clock=clock),
        settings=LedgerSettings(
            waiting_window=timedelta(days=settings.waiting_window_days),
            send_batch_size=settings.send_batch_size,
        ),
        env=settings.store_env(),
    ))


def _upgraded(application: A) -> A:
    """The application, on a store whose events a 0.1.0 smsledger wrote renamed first
    (adapters/store/upgrade.py): nothing has read the store yet."""
    upgrade_old_topics(application.recorder, application.mapper)
    return application


def bootstrap(accounts: AccountDirectory, settings: Settings | None = None, *,
              clock: Clock | None = None, provider: SmsProvider | None = None) -> SmsChannel:
    """smsledger wired to Infobip: sends through `accounts` (or another `provider`),
    stores per `settings`."""
    settings = settings or load_settings()
    provider = provider or InfobipProvider(accounts)
    ledger = build_ledger(settings, provider=provider, clock=clock)
    closers = [provider] if isinstance(provider, InfobipProvider) else []
    return SmsChannel(ledger, lookup=InfobipLookup(accounts), closers=closers)


def bootstrap_service(settings: Settings, *, public_url: str, clock: Clock | None = None,
                      provider: SmsProvider | None = None) -> tuple[SmsChannel, ServiceContext]:
    """smsledger as a service: integrations come from the projects' settings, and the
    webhook URLs given to Infobip point at `public_url`."""
    clock = clock or SystemClock()
    projects = build_projects(settings, clock=clock, require_integrations=True)
    accounts = ProjectAccounts(projects, public_url)
    provider = provider or InfobipProvider(accounts)
    ledger = build_ledger(settings, provider=provider, clock=clock, projects=projects)
    closers = [provider] if isinstance(provider, InfobipProvider) else []
    facade = SmsChannel(ledger, lookup=InfobipLookup(accounts), closers=closers)
    return facade, ServiceContext(ledger=ledger, public_url=public_url.rstrip("/"),
                                  max_body_bytes=settings.max_body_bytes)
