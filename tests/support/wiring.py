"""What tests need of smsledger's wiring beyond the public API."""

from smsledger.adapters.facade import SmsChannel
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.runtime.config import Settings
from smsledger.application.ledger import LedgerApplication


def ledger_of(channel: SmsChannel) -> LedgerApplication:
    """The application service behind a channel: tests look at the store through it
    (positions, stored rows) where a platform would not."""
    return channel._ledger


def service_context(channel: SmsChannel, public_url: str, settings: Settings) -> ServiceContext:
    """What the HTTP service is built from, as `smsledger serve` builds it."""
    return ServiceContext(channel, public_url=public_url.rstrip("/"),
                          max_body_bytes=settings.max_body_bytes)
