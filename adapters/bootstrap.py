"""The composition root: the one place that chooses adapters and wires the core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from adapters.config import Settings, load_settings
from adapters.facade import Smsledger
from adapters.http.context import ServiceContext
from adapters.infobip.accounts import AccountDirectory
from adapters.infobip.lookup import InfobipLookup
from adapters.infobip.project_accounts import ProjectAccounts
from adapters.infobip.provider import InfobipProvider
from adapters.secrets import HmacWebhookSecrets, RandomSecrets, SecretKey
from adapters.store.read_store_factory import read_store_for
from adapters.system import SystemClock, UuidMessageIds
from application.ledger import LedgerSettings, SmsLedger
from application.ports import Clock, IdSource, OutgoingMessage, SendOutcome, SmsProvider
from application.projects import ProjectDirectory


class ReadOnlyProvider(SmsProvider):
    """For commands that read and maintain the store (audit, replay): they send nothing."""

    def send(self, messages: Sequence[OutgoingMessage]) -> Sequence[SendOutcome]:
        raise RuntimeError("this smsledger was started to read the store; it sends nothing")


def build_projects(settings: Settings, *, clock: Clock | None = None,
                   require_integrations: bool = False) -> ProjectDirectory:
    key = SecretKey(settings.secret_key.get_secret_value() if settings.secret_key else None,
                    settings.secret_key_file)
    return ProjectDirectory(clock=clock or SystemClock(), secrets=RandomSecrets(),
                            webhook_secrets=HmacWebhookSecrets(key),
                            event_names=dict(settings.campaign_event_names),
                            require_integrations=require_integrations,
                            env=settings.store_env())


def build_ledger(settings: Settings, *, provider: SmsProvider | None = None,
                 clock: Clock | None = None, ids: IdSource | None = None,
                 projects: ProjectDirectory | None = None) -> SmsLedger:
    """The application (and its project directory): with the caller's provider, or
    one that sends nothing."""
    clock = clock or SystemClock()
    return SmsLedger(
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
    )


def bootstrap(accounts: AccountDirectory, settings: Settings | None = None, *,
              clock: Clock | None = None, provider: SmsProvider | None = None) -> Smsledger:
    """smsledger wired to Infobip: sends through `accounts` (or another `provider`),
    stores per `settings`."""
    settings = settings or load_settings()
    provider = provider or InfobipProvider(accounts)
    ledger = build_ledger(settings, provider=provider, clock=clock)
    closers = [provider] if isinstance(provider, InfobipProvider) else []
    return Smsledger(ledger, lookup=InfobipLookup(accounts), closers=closers)


def bootstrap_service(settings: Settings, *, public_url: str, clock: Clock | None = None,
                      provider: SmsProvider | None = None) -> tuple[Smsledger, ServiceContext]:
    """smsledger as a service: integrations come from the projects' settings, and the
    webhook URLs given to Infobip point at `public_url`."""
    clock = clock or SystemClock()
    projects = build_projects(settings, clock=clock, require_integrations=True)
    accounts = ProjectAccounts(projects, public_url)
    provider = provider or InfobipProvider(accounts)
    ledger = build_ledger(settings, provider=provider, clock=clock, projects=projects)
    closers = [provider] if isinstance(provider, InfobipProvider) else []
    facade = Smsledger(ledger, lookup=InfobipLookup(accounts), closers=closers)
    return facade, ServiceContext(ledger=ledger, public_url=public_url.rstrip("/"),
                                  max_body_bytes=settings.max_body_bytes)
