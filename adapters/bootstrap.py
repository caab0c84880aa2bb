"""The composition root: the one place that chooses adapters and wires the core."""

from __future__ import annotations

from datetime import timedelta

from adapters.config import Settings, load_settings
from adapters.persistence import persistence_env
from adapters.system import SystemClock, UuidMessageIds
from application.ledger import LedgerSettings, SmsLedger
from application.ports import Clock, IdSource, SmsProvider


def bootstrap(
    settings: Settings | None = None,
    *,
    provider: SmsProvider,
    clock: Clock | None = None,
    ids: IdSource | None = None,
) -> SmsLedger:
    settings = settings or load_settings()
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
