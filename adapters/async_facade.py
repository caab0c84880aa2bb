"""AsyncSmsChannel: the SmsChannel's operations as awaitables, for platforms on asyncio.

smsledger's store and Infobip calls are blocking I/O (psycopg, sqlite3, httpx). Each
operation here runs the SmsChannel's own method in a worker thread of a pool this
object owns, so the event loop never waits on the store or on Infobip, and the
results and errors are the SmsChannel's exactly. The pool is bounded (`max_workers`):
the store serves only so many calls at once (its connection pool), and the loop's
default executor stays free for the platform's own work.

An awaited operation that is cancelled stops being awaited, not being done: a thread
cannot be interrupted, so a send already started is completed and recorded (ask for
the message by its id to learn its fate).

    channel = await smsledger.bootstrap_async(accounts, settings)
    async with channel:
        [sent] = await channel.send("acme", [smsledger.SendRequest(...)])
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.facade import SmsChannel
from smsledger.adapters.infobip.accounts import AccountDirectory
from smsledger.adapters.infobip.observer import InfobipObserver
from smsledger.adapters.runtime.config import Settings
from smsledger.adapters.store.health import HEALTH_CHECK_SECONDS
from smsledger.application.audit import CampaignAudit
from smsledger.application.campaign_report import CampaignReport
from smsledger.application.background import BackgroundRun, JobObserver
from smsledger.application.commands import SendRequest
from smsledger.application.ports import Clock, SmsProvider
from smsledger.application.projection_lag import Lag
from smsledger.application.recovery import RecoveryResult
from smsledger.application.subscription_delivery import DeliveryRound
from smsledger.application.subscriptions import SubscriptionView
from smsledger.application.two_way import DEFAULT_CONFIRMATION_VALIDITY, ConsentView
from smsledger.application.views import FeedPage, IngestResult, MessageView, SendResult

P = ParamSpec("P")
R = TypeVar("R")

# Threads of the pool by default: the store's PostgreSQL pool serves 5 connections
# (growing to 15 under load) and SQLite one writer at a time, so more threads would
# mostly wait for a connection.
DEFAULT_MAX_WORKERS = 8


class AsyncSmsChannel:
    """Every public operation of SmsChannel (smsledger.adapters.facade), awaitable, with
    the same parameters, results and errors (tests/unit/test_async_facade.py keeps them
    in step). Build it with `smsledger.bootstrap_async`, or around a channel you have."""

    def __init__(self, channel: SmsChannel, *, max_workers: int = DEFAULT_MAX_WORKERS) -> None:
        _check_max_workers(max_workers)
        self._channel = channel
        self._executor = ThreadPoolExecutor(max_workers, thread_name_prefix="smsledger-async")
        self._closed = False

    @property
    def channel(self) -> SmsChannel:
        """The blocking channel underneath, for what has no awaitable form here (its
        `projects` administration): call it off the event loop, e.g. with
        `asyncio.to_thread`."""
        return self._channel

    async def _run(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        if self._closed:
            raise RuntimeError("this AsyncSmsChannel is closed")
        # The caller's context variables (a request id for the logs, say) go along,
        # as with asyncio.to_thread.
        context = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, lambda: context.run(call, *args, **kwargs))

    # --- sending and what comes back (docstrings: SmsChannel's, copied below) -----------

    async def send(self, project_id: str, requests: Sequence[SendRequest], *,
                   report_invalid: bool = False) -> list[SendResult]:
        return await self._run(self._channel.send, project_id, requests,
                               report_invalid=report_invalid)

    async def ingest_delivery_reports(self, project_id: str, body: bytes | str) -> IngestResult:
        return await self._run(self._channel.ingest_delivery_reports, project_id, body)

    async def ingest_inbound(self, project_id: str, integration_id: str, body: bytes | str
                             ) -> IngestResult:
        return await self._run(self._channel.ingest_inbound, project_id, integration_id, body)

    async def quarantined_inputs(self, project_id: str) -> list[dict[str, Any]]:
        return await self._run(self._channel.quarantined_inputs, project_id)

    # --- consent, keywords and list hygiene ---------------------------------------------

    async def consent(self, project_id: str, number: str, category: str = "sms_marketing"
                      ) -> ConsentView:
        return await self._run(self._channel.consent, project_id, number, category)

    async def grant_consent(self, project_id: str, number: str,
                            category: str = "sms_marketing",
                            customer_id: str | None = None) -> ConsentView:
        return await self._run(self._channel.grant_consent, project_id, number, category,
                               customer_id)

    async def revoke_consent(self, project_id: str, number: str,
                             category: str = "sms_marketing",
                             customer_id: str | None = None) -> ConsentView:
        return await self._run(self._channel.revoke_consent, project_id, number, category,
                               customer_id)

    async def request_double_opt_in(self, project_id: str, number: str, category: str, *,
                                    customer_id: str, text: str | None = None,
                                    valid_for: timedelta = DEFAULT_CONFIRMATION_VALIDITY,
                                    sender: str | None = None) -> ConsentView:
        return await self._run(self._channel.request_double_opt_in, project_id, number,
                               category, customer_id=customer_id, text=text,
                               valid_for=valid_for, sender=sender)

    async def configure_keyword(self, project_id: str, keyword: str, *, action: str,
                                category: str = "sms_marketing", answer: str | None = None,
                                changed_by: str = "embedded") -> None:
        await self._run(self._channel.configure_keyword, project_id, keyword, action=action,
                        category=category, answer=answer, changed_by=changed_by)

    async def mark_nps_survey(self, project_id: str, campaign_id: str, is_survey: bool = True,
                              *, changed_by: str = "embedded") -> None:
        await self._run(self._channel.mark_nps_survey, project_id, campaign_id, is_survey,
                        changed_by=changed_by)

    async def number_status(self, project_id: str, number: str) -> dict[str, Any]:
        return await self._run(self._channel.number_status, project_id, number)

    async def revalidate_number(self, project_id: str, number: str, *,
                                changed_by: str = "embedded") -> dict[str, Any]:
        return await self._run(self._channel.revalidate_number, project_id, number,
                               changed_by=changed_by)

    # --- reading ------------------------------------------------------------------------

    async def campaign_events(self, project_id: str, after: int = 0, limit: int = 100
                              ) -> FeedPage:
        return await self._run(self._channel.campaign_events, project_id, after, limit)

    async def message(self, project_id: str, message_id: str) -> MessageView:
        return await self._run(self._channel.message, project_id, message_id)

    async def audit(self, project_id: str, campaign_id: str, as_of: datetime | None = None, *,
                    whole_store: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> CampaignAudit:
        return await self._run(self._channel.audit, project_id, campaign_id, as_of,
                               whole_store=whole_store, progress=progress)

    async def campaign_report(self, project_id: str, campaign_id: str,
                              as_of: datetime | None = None, *,
                              recipient: str | None = None) -> CampaignReport:
        return await self._run(self._channel.campaign_report, project_id, campaign_id, as_of,
                               recipient=recipient)

    async def campaign_event_name(self, project_id: str) -> str:
        return await self._run(self._channel.campaign_event_name, project_id)

    async def rename_campaign_event(self, project_id: str, name: str, *,
                                    changed_by: str = "embedded") -> None:
        await self._run(self._channel.rename_campaign_event, project_id, name,
                        changed_by=changed_by)

    # --- event subscriptions (push) -----------------------------------------------------

    async def put_subscription(self, project_id: str, name: str, *, url: str,
                               statuses: Sequence[str] = (), enabled: bool = True,
                               changed_by: str = "embedded") -> SubscriptionView:
        return await self._run(self._channel.put_subscription, project_id, name, url=url,
                               statuses=statuses, enabled=enabled, changed_by=changed_by)

    async def subscriptions(self, project_id: str) -> list[SubscriptionView]:
        return await self._run(self._channel.subscriptions, project_id)

    async def subscription(self, project_id: str, name: str) -> SubscriptionView:
        return await self._run(self._channel.subscription, project_id, name)

    async def delete_subscription(self, project_id: str, name: str, *,
                                  changed_by: str = "embedded") -> None:
        await self._run(self._channel.delete_subscription, project_id, name,
                        changed_by=changed_by)

    async def rotate_subscription_secret(self, project_id: str, name: str, *,
                                         previous_valid_for: timedelta = timedelta(0),
                                         changed_by: str = "embedded") -> SubscriptionView:
        return await self._run(self._channel.rotate_subscription_secret, project_id, name,
                               previous_valid_for=previous_valid_for, changed_by=changed_by)

    async def replay_subscription(self, project_id: str, name: str, after: int
                                  ) -> SubscriptionView:
        return await self._run(self._channel.replay_subscription, project_id, name, after)

    async def deliver_subscriptions(self) -> DeliveryRound:
        return await self._run(self._channel.deliver_subscriptions)

    # --- keeping it current -------------------------------------------------------------

    async def close_due_windows(self) -> int:
        return await self._run(self._channel.close_due_windows)

    async def reconcile(self, older_than: timedelta = timedelta(minutes=15)) -> RecoveryResult:
        return await self._run(self._channel.reconcile, older_than)

    async def run_maintenance(self, older_than: timedelta | None = None) -> dict[str, Any]:
        return await self._run(self._channel.run_maintenance, older_than)

    async def projection_names(self) -> list[str]:
        return await self._run(self._channel.projection_names)

    async def rebuild_projection(self, name: str,
                                 progress: Callable[[int, int], None] | None = None) -> str:
        return await self._run(self._channel.rebuild_projection, name, progress)

    async def projection_lag(self) -> dict[str, Lag]:
        return await self._run(self._channel.projection_lag)

    # The background runs work in threads of their own; their `stop()` waits for the
    # round under way, so call it off the loop too: `await asyncio.to_thread(run.stop)`.

    async def keep_projections_current(self, interval: float = 0.2, *,
                                       observer: JobObserver | None = None) -> BackgroundRun:
        return await self._run(self._channel.keep_projections_current, interval, observer=observer)

    async def keep_maintenance_running(self, interval: float = 60.0, *,
                                       observer: JobObserver | None = None) -> BackgroundRun:
        return await self._run(self._channel.keep_maintenance_running, interval, observer=observer)

    async def keep_subscriptions_delivering(self, interval: float = 0.5, *,
                                            observer: JobObserver | None = None) -> BackgroundRun:
        return await self._run(self._channel.keep_subscriptions_delivering, interval, observer=observer)

    async def check_store(self, within: float = HEALTH_CHECK_SECONDS) -> None:
        await self._run(self._channel.check_store, within)

    async def check_ready(self, within: float = HEALTH_CHECK_SECONDS) -> None:
        await self._run(self._channel.check_ready, within)

    # --- lifecycle ----------------------------------------------------------------------

    async def close(self) -> None:
        """Wait for the operations under way, then close the channel (its store and
        Infobip connections), off the event loop. Operations after it raise
        RuntimeError; closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        # Not in our own pool: waiting for it from one of its threads would never end.
        await asyncio.to_thread(self._close_blocking)

    def _close_blocking(self) -> None:
        self._executor.shutdown(wait=True)
        self._channel.close()

    async def __aenter__(self) -> AsyncSmsChannel:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


# help() on an operation says what SmsChannel's says: one text to keep current.
for _name, _operation in vars(AsyncSmsChannel).items():
    if not _name.startswith("_") and inspect.iscoroutinefunction(_operation) and _name != "close":
        _operation.__doc__ = getattr(SmsChannel, _name).__doc__
del _name, _operation


def _check_max_workers(max_workers: int) -> None:
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, not {max_workers}")


async def bootstrap_async(accounts: AccountDirectory | None = None,
                          settings: Settings | None = None, *, public_url: str | None = None,
                          clock: Clock | None = None, provider: SmsProvider | None = None,
                          sends: bool = True, observer: InfobipObserver | None = None,
                          max_workers: int = DEFAULT_MAX_WORKERS) -> AsyncSmsChannel:
    """`smsledger.bootstrap`, awaitable: the store is opened (and upgraded, if it must
    be) in a worker thread, not on the event loop. The same arguments, and
    `max_workers`, the threads the operations run in (see AsyncSmsChannel)."""
    _check_max_workers(max_workers)  # before a store is opened for nothing
    loop = asyncio.get_running_loop()
    opening = loop.run_in_executor(None, lambda: bootstrap(
        accounts, settings, public_url=public_url, clock=clock, provider=provider, sends=sends,
        observer=observer))
    try:
        channel = await asyncio.shield(opening)
    except asyncio.CancelledError:
        # The thread opens the store all the same: close what it opens, off the loop.
        opening.add_done_callback(_close_abandoned)
        raise
    return AsyncSmsChannel(channel, max_workers=max_workers)


def _close_abandoned(opening: asyncio.Future[SmsChannel]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        asyncio.get_running_loop().run_in_executor(None, opening.result().close)
