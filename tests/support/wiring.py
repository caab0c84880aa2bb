"""What tests need of smsledger's wiring beyond the public API."""

from smsledger.adapters.facade import SmsChannel
from smsledger.application.ledger import LedgerApplication


def ledger_of(channel: SmsChannel) -> LedgerApplication:
    """The application service behind a channel: tests look at the store through it
    (positions, stored rows) where a platform would not."""
    return channel._ledger

