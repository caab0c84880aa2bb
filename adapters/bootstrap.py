"""The composition root: the one place that chooses adapters and wires the core."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from eventsourcing.application import Application

from smsledger.adapters.runtime.config import ConfigurationError, Settings, load_settings
from smsledger.adapters.facade import STORE_FAILURES, SmsChannel
from smsledger.adapters.infobip.accounts import AccountDirectory
from smsledger.adapters.infobip.addresses import ProviderAddresses
from smsledger.adapters.infobip.lookup import InfobipLookup
from smsledger.adapters.infobip.observer import InfobipObserver
from smsledger.adapters.infobip.project_accounts import ProjectAccounts
from smsledger.adapters.infobip.provider import InfobipProvider
from smsledger.adapters.push.poster import HttpPoster
from smsledger.adapters.runtime.secrets import (
    AesGcmSealer,
    HmacWebhookSecrets,
    RandomSecrets,
    SecretKey,
)
from smsledger.adapters.store.read_store_factory import read_store_for
from smsledger.adapters.store.subscription_states import subscription_states_for
from smsledger.adapters.store.upgrade import upgrade_old_topics
from smsledger.adapters.runtime.system import SystemClock, UuidMessageIds
from smsledger.application.ledger import LedgerSettings, LedgerApplication
from smsledger.application.recovery import RecoveryLimits
from smsledger.application.ports import (
    Clock,
    IdSource,
    OutgoingMessage,
    SendOutcome,
    SmsProvider,
    SubscriptionPoster,
)
from smsledger.application.projects import ProjectDirectory
from smsledger.application.subscription_delivery import SubscriptionDelivery
from smsledger.application.subscriptions import Subscriptions
from smsledger.domain.subscriptions import RetrySchedule
from smsledger.domain.errors import StoreUnavailable

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
        webhook_secrets=HmacWebhookSecrets(key), sealer=AesGcmSealer(key),
        provider_addresses=ProviderAddresses(settings.allow_private_networks),
        event_names=dict(settings.campaign_event_names),
        require_integrations=require_integrations, env=settings.store_env()))


def build_ledger(settings: Settings, *, provider: SmsProvider | None = None,
                 clock: Clock | None = None, ids: IdSource | None = None,
                 projects: ProjectDirectory | None = None) -> LedgerApplication:
    """The application service (and its project directory, unless given): with the
    caller's provider, or one that sends nothing. A part of `bootstrap`, and what the
    application tests build directly."""
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
            recovery=RecoveryLimits(
                send_unsent_after=timedelta(seconds=settings.send_unsent_after_seconds),
                reconcile_after=timedelta(seconds=settings.reconcile_after_seconds),
                resend_after=timedelta(seconds=settings.resend_after_seconds),
                max_send_attempts=settings.max_send_attempts),
        ),
        env=settings.store_env(),
    ))


def build_subscription_delivery(settings: Settings, ledger: LedgerApplication,
                                poster: SubscriptionPoster, *,
                                clock: Clock | None = None) -> SubscriptionDelivery:
    """The event subscriptions of `ledger`'s projects and their delivery through
    `poster`, their states in the ledger's store, retried as `settings` say. A part of
    `bootstrap`, and what the application tests build directly."""
    first = settings.subscription_backoff_first_seconds
    if settings.subscription_backoff_max_seconds < first:
        raise ConfigurationError(
            f"setting subscription_backoff_max_seconds: must be at least "
            f"subscription_backoff_first_seconds ({first:g})")
    clock = clock or SystemClock()
    subscriptions = Subscriptions(ledger.projects, ledger.queries,
                                  subscription_states_for(ledger.recorder), clock)
    schedule = RetrySchedule(
        first_delay=timedelta(seconds=first),
        max_delay=timedelta(seconds=settings.subscription_backoff_max_seconds),
        budget=timedelta(seconds=settings.subscription_retry_budget_seconds))
    return SubscriptionDelivery(subscriptions, poster, clock, schedule)


def _upgraded(application: A) -> A:
    """The application, on a store whose events a 0.1.0 smsledger wrote renamed first
    (adapters/store/upgrade.py): nothing has read the store yet."""
    try:
        upgrade_old_topics(application.recorder, application.mapper)
    except BaseException:
        application.close()
        raise
    return application


def bootstrap(accounts: AccountDirectory | None = None, settings: Settings | None = None, *,
              public_url: str | None = None, clock: Clock | None = None,
              provider: SmsProvider | None = None, sends: bool = True,
              observer: InfobipObserver | None = None) -> SmsChannel:
    """smsledger, wired: the one composition root of every way it runs.

    Embedded, a platform passes its Infobip `accounts`. Without them (the HTTP
    service, the command line) each project's integrations, configured through the
    service, are its accounts, and the webhook URLs given to Infobip point at
    `public_url` (default: the settings' `public_url`). `provider` replaces Infobip
    (tests, scenarios); `sends=False` is for commands that only read and maintain the
    store (audit, replay, administration): they send nothing. `observer` hears of every
    request to Infobip (the HTTP service's metrics). Stores per `settings` (default:
    the environment's, see load_settings)."""
    settings = settings or load_settings()
    clock = clock or SystemClock()
    public_url = public_url or settings.public_url
    if accounts is None and sends and provider is None and not public_url:
        raise ConfigurationError(
            "public_url is needed to send through the projects' integrations: it is where "
            "Infobip posts the delivery reports (SMSLEDGER_PUBLIC_URL or --public-url)")
    opened: list[Any] = []  # closed again if wiring fails half way
    try:
        projects = build_projects(settings, clock=clock, require_integrations=accounts is None)
        opened.append(projects)
        if accounts is None:
            accounts = ProjectAccounts(projects, public_url or "")
        addresses = ProviderAddresses(settings.allow_private_networks)
        provider = provider or (InfobipProvider(accounts, addresses=addresses,
                                                observer=observer) if sends
                                else ReadOnlyProvider())
        closers: list[Any] = [provider] if isinstance(provider, InfobipProvider) else []
        poster = HttpPoster(addresses, timeout=settings.subscription_timeout_seconds)
        closers.append(poster)
        opened += closers
        ledger = build_ledger(settings, provider=provider, clock=clock, projects=projects)
        opened[opened.index(projects)] = ledger  # closing the ledger closes the projects
        delivery = build_subscription_delivery(settings, ledger, poster, clock=clock)
    except BaseException as exc:
        for part in reversed(opened):
            part.close()
        if isinstance(exc, STORE_FAILURES):
            raise StoreUnavailable(f"cannot open the store at "
                                   f"{settings.redacted_database_url()}: {exc}") from exc
        raise
    return SmsChannel(ledger, lookup=InfobipLookup(accounts, addresses=addresses,
                                                   observer=observer),
                      closers=closers, subscriptions=delivery)
