"""The composition root: the one place that chooses adapters and wires the core."""

from __future__ import annotations

from datetime import timedelta

from adapters.config import Settings, load_settings
from adapters.facade import Smsledger
from adapters.infobip.accounts import AccountDirectory
from adapters.infobip.lookup import InfobipLookup
from adapters.infobip.provider import InfobipProvider
from adapters.persistence import persistence_env
from adapters.system import SystemClock, UuidMessageIds
from application.ledger import LedgerSettings, SmsLedger
from application.ports import Clock, IdSource, SmsProvider


def build_ledger(settings: Settings, *, provider: SmsProvider, clock: Clock | None = None,
                 ids: IdSource | None = None) -> SmsLedger:
    """The application alone, for callers that bring their own provider."""
    return SmsLedger(
        provider=provider,
        clock=clock or SystemClock(),
        ids=ids or UuidMessageIds(),
        settings=LedgerSettings(
            waiting_window=timedelta(days=settings.waiting_window_days),
            send_batch_size=settings.send_batch_size,
            event_names=dict(settings.campaign_event_names),
        ),
        env=persistence_env(settings.database_url),
    )


def bootstrap(accounts: AccountDirectory, settings: Settings | None = None, *,
              clock: Clock | None = None, provider: InfobipProvider | None = None) -> Smsledger:
    """smsledger wired to Infobip: sends through `accounts`, stores per `settings`."""
    settings = settings or load_settings()
    provider = provider or InfobipProvider(accounts)
    ledger = build_ledger(settings, provider=provider, clock=clock)
    return Smsledger(ledger, lookup=InfobipLookup(accounts), closers=[provider])
