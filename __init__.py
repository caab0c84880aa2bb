"""smsledger: SMS/MMS delivery tracking for Infobip, embedded in a marketing platform.

This module is the whole public API: what a platform imports is `import smsledger`
and the names below. Everything under smsledger.domain, smsledger.application and
smsledger.adapters is internal and may change between versions.

    import smsledger

    settings = smsledger.load_settings(database_url="sqlite:///./smsledger.db")
    with smsledger.bootstrap(accounts, settings) as channel:
        [sent] = channel.send("acme", [smsledger.SendRequest(...)])

The repository's root folder is this package (pyproject.toml maps it), so its
folders domain/, application/ and adapters/ are its subpackages.
"""

from smsledger.adapters.async_facade import AsyncSmsChannel, bootstrap_async
from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.runtime.config import ConfigurationError, Settings, load_settings
from smsledger.adapters.facade import SmsChannel
from smsledger.adapters.infobip.accounts import AccountDirectory, InfobipAccount, StaticAccounts
from smsledger.adapters.infobip.callbacks import InvalidCallback
from smsledger.adapters.infobip_simulator import InfobipSimulator, SimulatorConfig
from smsledger.application.audit import CampaignAudit
from smsledger.application.commands import SendRequest
from smsledger.application.ports import (
    Accepted,
    Clock,
    OutgoingMessage,
    SendOutcome,
    SendRefused,
    SmsProvider,
    Unknown,
)
from smsledger.application.errors import (
    ConcurrencyConflict,
    InvalidSendRequest,
    MessageNotFound,
    ProjectExists,
    ProjectNotFound,
)
from smsledger.application.two_way import ConsentView
from smsledger.application.views import FeedPage, HistoryEntry, IngestResult, MessageView, SendResult
from smsledger.domain.campaign_events import CampaignEvent
from smsledger.domain.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    Refused,
    SmsledgerError,
    StoreUnavailable,
)

__version__ = "0.5.5"

__all__ = [
    "__version__",
    # building and running it
    "bootstrap", "SmsChannel", "load_settings", "Settings",
    "bootstrap_async", "AsyncSmsChannel",  # the same, awaitable, for asyncio
    "AccountDirectory", "InfobipAccount", "StaticAccounts",
    # what goes in
    "SendRequest",
    # what comes out
    "SendResult", "IngestResult", "MessageView", "HistoryEntry", "FeedPage", "CampaignEvent",
    "CampaignAudit", "ConsentView",
    # errors: one tree, by kind (see smsledger.domain.errors), then the cases
    "SmsledgerError", "NotFound", "Conflict", "Refused", "InvalidInput", "StoreUnavailable",
    "DomainError", "InvalidSendRequest", "InvalidCallback", "ConfigurationError",
    "MessageNotFound", "ProjectNotFound", "ProjectExists", "ConcurrencyConflict",
    # Infobip's stand-in, for a platform's own tests and demos (speaks Infobip's wire format)
    "InfobipSimulator", "SimulatorConfig",
    # bootstrap(provider=..., clock=...): another provider than Infobip, another clock
    "SmsProvider", "OutgoingMessage", "SendOutcome", "Accepted", "SendRefused", "Unknown",
    "Clock",
]
