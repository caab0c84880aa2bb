"""SmsChannel: everything a platform does with smsledger, in one object.

It is the application service (LedgerApplication) with the Infobip adapters a caller
would otherwise wire by hand: raw webhook bodies go in as Infobip sent them, and
reconciliation knows where to ask. `smsledger.bootstrap` builds it; the HTTP
service, the command line and the BDD scenarios use it as an embedding platform
does, so there is one way in.

Errors are smsledger's (smsledger.domain.errors): a store that cannot be reached
raises StoreUnavailable, whichever database is behind it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import IntegrityError, PersistenceError

from smsledger.adapters.infobip.callbacks import parse_delivery_reports, parse_inbound
from smsledger.adapters.runtime.job_locks import job_lock_for
from smsledger.adapters.store.health import HEALTH_CHECK_SECONDS, check_answers, check_ready
from smsledger.adapters.store.refusals import UnstorableValue, refusal_message, refused_a_value
from smsledger.application.audit import CampaignAudit
from smsledger.application.campaign_report import CampaignReport
from smsledger.application.commands import SendRequest
from smsledger.application.ledger import LedgerApplication
from smsledger.application.ports import DeliveryLookup
from smsledger.application.background import BackgroundRun, JobObserver
from smsledger.application.jobs import MAINTENANCE_JOB, PROJECTIONS_JOB, SUBSCRIPTIONS_JOB
from smsledger.application.projection_lag import Lag, LagWatch
from smsledger.application.projects import ProjectDirectory
from smsledger.application.recovery import RecoveryResult
from smsledger.application.subscription_delivery import DeliveryRound, SubscriptionDelivery
from smsledger.application.subscriptions import SubscriptionView
from smsledger.application.two_way import DEFAULT_CONFIRMATION_VALIDITY, ConsentView
from smsledger.application.views import FeedPage, IngestResult, MessageView, SendResult
from smsledger.domain.errors import StoreUnavailable

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("smsledger.maintenance")

# What the databases raise when they cannot be reached or used (IntegrityError, a
# conflict the use cases retry, is never left to escape on its own), or refuse a value
# (adapters.store.refusals: UnstorableValue, not StoreUnavailable).
STORE_FAILURES = (PersistenceError, psycopg.Error, sqlite3.Error)


def _store_failures_as_unavailable(method: F) -> F:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except IntegrityError:
            raise
        except STORE_FAILURES as exc:
            if refused_a_value(exc):  # the input's fault: 422, not "retry later"
                raise UnstorableValue(refusal_message(exc)) from exc
            raise StoreUnavailable(f"the store is unavailable ({type(exc).__name__}: {exc}); "
                                   "try again later") from exc
    return wrapper  # type: ignore[return-value]


class _TranslatesStoreFailures(type):
    """Every public method of the class raises StoreUnavailable for store failures."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
        for attribute, value in list(namespace.items()):
            if inspect.isfunction(value) and not attribute.startswith("_"):
                namespace[attribute] = _store_failures_as_unavailable(value)
        return super().__new__(mcs, name, bases, namespace)


class SmsChannel(metaclass=_TranslatesStoreFailures):
    def __init__(self, ledger: LedgerApplication, lookup: DeliveryLookup | None = None,
                 closers: Sequence[Any] = (),
                 subscriptions: SubscriptionDelivery | None = None) -> None:
        self._ledger = ledger
        self._lookup = lookup
        self._delivery = subscriptions
        self._closers = closers
        self._lag_watch = LagWatch(ledger.projections)

    @property
    def projects(self) -> ProjectDirectory:
        """Project administration (projects, API tokens, Infobip integrations, keywords):
        what the HTTP service's admin endpoints and `smsledger projects` use. Its store
        failures are the database's own exceptions (STORE_FAILURES), not StoreUnavailable."""
        return self._ledger.projects

    # --- sending and what comes back ----------------------------------------------------

    def send(self, project_id: str, requests: Sequence[SendRequest], *,
             report_invalid: bool = False) -> list[SendResult]:
        """Store each message as requested, send them to Infobip in batches and record
        the answers; one result per request, in order. InvalidSendRequest (nothing
        stored) when one is invalid, unless `report_invalid`: then an invalid one has
        the status `invalid` and its `error`, and the others are sent. A message the
        send policy refuses has the status `refused` and the reason in `detail`. A
        `message_id` already used for another request is `invalid` with the error
        `message_id_reused` (MessageIdReused when it is the only request); repeating
        a request under its id is answered with its status and not sent twice.
        ProjectNotFound for a project that does not exist."""
        return self._ledger.send(project_id, requests, report_invalid=report_invalid)

    def ingest_delivery_reports(self, project_id: str, body: bytes | str) -> IngestResult:
        """An Infobip delivery-report POST body, as received. Raises InvalidCallback
        when the body is unusable; bad items inside it (a shape we do not know, or a
        value the store could not hold: adapters.infobip.untrusted_json) are
        quarantined with the reason, and the rest is recorded."""
        parsed = parse_delivery_reports(body)
        return self._ledger.record_reports(project_id, parsed.reports, parsed.malformed)

    def ingest_inbound(self, project_id: str, integration_id: str, body: bytes | str
                       ) -> IngestResult:
        """An Infobip inbound-SMS POST body, as received: replies become
        `incoming_message` campaign events, keywords change consent and answer. Bad
        items are quarantined as in `ingest_delivery_reports`."""
        parsed = parse_inbound(body)
        return self._ledger.record_inbound(project_id, integration_id, parsed.messages,
                                           parsed.malformed)

    def quarantined_inputs(self, project_id: str) -> list[dict[str, Any]]:
        """Provider input kept because it could not be used, oldest first."""
        return self._ledger.quarantined_inputs(project_id)

    # --- consent, keywords and list hygiene ---------------------------------------------

    def consent(self, project_id: str, number: str, category: str = "sms_marketing"
                ) -> ConsentView:
        return self._ledger.consent(project_id, number, category)

    def grant_consent(self, project_id: str, number: str, category: str = "sms_marketing",
                      customer_id: str | None = None) -> ConsentView:
        return self._ledger.set_consent(project_id, number, category, granted=True,
                                        customer_id=customer_id)

    def revoke_consent(self, project_id: str, number: str, category: str = "sms_marketing",
                       customer_id: str | None = None) -> ConsentView:
        return self._ledger.set_consent(project_id, number, category, granted=False,
                                        customer_id=customer_id)

    def request_double_opt_in(self, project_id: str, number: str, category: str, *,
                              customer_id: str, text: str | None = None,
                              valid_for: timedelta = DEFAULT_CONFIRMATION_VALIDITY,
                              sender: str | None = None) -> ConsentView:
        """Send the confirmation SMS from `sender` (a numeric sender of the integration,
        the YES must reach it; default: one is chosen); a YES within `valid_for` grants
        the consent, otherwise it expires."""
        return self._ledger.request_double_opt_in(project_id, number, category,
                                                  customer_id=customer_id, text=text,
                                                  valid_for=valid_for, sender=sender)

    def configure_keyword(self, project_id: str, keyword: str, *, action: str,
                          category: str = "sms_marketing", answer: str | None = None,
                          changed_by: str = "embedded") -> None:
        self._ledger.projects.configure_keyword(project_id, keyword, action=action,
                                                category=category, answer=answer,
                                                changed_by=changed_by)

    def mark_nps_survey(self, project_id: str, campaign_id: str, is_survey: bool = True, *,
                        changed_by: str = "embedded") -> None:
        self._ledger.projects.mark_nps_survey(project_id, campaign_id, is_survey,
                                              changed_by=changed_by)

    def number_status(self, project_id: str, number: str) -> dict[str, Any]:
        return self._ledger.number_status(project_id, number)

    def revalidate_number(self, project_id: str, number: str, *,
                          changed_by: str = "embedded") -> dict[str, Any]:
        return self._ledger.revalidate_number(project_id, number, changed_by=changed_by)

    # --- reading ------------------------------------------------------------------------

    def campaign_events(self, project_id: str, after: int = 0, limit: int = 100) -> FeedPage:
        return self._ledger.campaign_events(project_id, after=after, limit=limit)

    def message(self, project_id: str, message_id: str) -> MessageView:
        return self._ledger.message(project_id, message_id)

    def audit(self, project_id: str, campaign_id: str, as_of: datetime | None = None, *,
              whole_store: bool = False,
              progress: Callable[[int, int], None] | None = None) -> CampaignAudit:
        """The campaign's funnel replayed from its stored events; `whole_store` replays
        every message event of the store instead (slow: a check that the campaign
        index missed nothing). `progress(messages read, messages)` after each read."""
        return self._ledger.audit(project_id, campaign_id, as_of=as_of,
                                  whole_store=whole_store, progress=progress)

    def campaign_report(self, project_id: str, campaign_id: str, as_of: datetime | None = None,
                        *, recipient: str | None = None) -> CampaignReport:
        """The campaign's audit and, from the same replay, its breakdowns: final
        reports over time, error reasons, countries, replies and opt-outs (the
        report page: smsledger.adapters.report); with `recipient` (E.164), also its
        messages to that number."""
        return self._ledger.campaign_report(project_id, campaign_id, as_of,
                                            recipient=recipient)

    def campaign_event_name(self, project_id: str) -> str:
        return self._ledger.campaign_event_name(project_id)

    def rename_campaign_event(self, project_id: str, name: str, *,
                              changed_by: str = "embedded") -> None:
        self._ledger.rename_campaign_event(project_id, name, changed_by=changed_by)

    # --- event subscriptions (push; application/subscriptions.py) ----------------------

    def put_subscription(self, project_id: str, name: str, *, url: str,
                         statuses: Sequence[str] = (), enabled: bool = True,
                         changed_by: str = "embedded") -> SubscriptionView:
        """Create or change a subscription (the answer to a creation holds its
        `whsec_` secret, shown this once); a change makes it due at once."""
        return self._push().subscriptions.put(project_id, name, url=url,
                                              statuses=list(statuses), enabled=enabled,
                                              changed_by=changed_by)

    def subscriptions(self, project_id: str) -> list[SubscriptionView]:
        return self._push().subscriptions.list(project_id)

    def subscription(self, project_id: str, name: str) -> SubscriptionView:
        """Its configuration and where its delivery stands: position, lag, last error."""
        return self._push().subscriptions.get(project_id, name)

    def delete_subscription(self, project_id: str, name: str, *,
                            changed_by: str = "embedded") -> None:
        self._push().subscriptions.delete(project_id, name, changed_by=changed_by)

    def rotate_subscription_secret(self, project_id: str, name: str, *,
                                   previous_valid_for: timedelta = timedelta(0),
                                   changed_by: str = "embedded") -> SubscriptionView:
        return self._push().subscriptions.rotate_secret(
            project_id, name, previous_valid_for=previous_valid_for, changed_by=changed_by)

    def replay_subscription(self, project_id: str, name: str, after: int) -> SubscriptionView:
        """Deliver the feed again from the cursor `after`."""
        return self._push().subscriptions.replay(project_id, name, after)

    def deliver_subscriptions(self) -> DeliveryRound:
        """One delivery round, as the background job runs it."""
        return self._push().run_round()

    def _push(self) -> SubscriptionDelivery:
        if self._delivery is None:
            raise RuntimeError("no event subscriptions configured (build it with bootstrap)")
        return self._delivery

    # --- keeping it current -------------------------------------------------------------

    def close_due_windows(self) -> int:
        """Close waiting windows that have passed and expire unconfirmed double opt-ins."""
        self._ledger.expire_consent_requests()
        return self._ledger.close_due_windows()

    def reconcile(self, older_than: timedelta = timedelta(minutes=15)) -> RecoveryResult:
        """Recovery alone: send what was never handed to Infobip, ask Infobip about
        messages whose answer or report was lost for longer than `older_than`, send
        again or give up on what it never accepted (README, "Reliability")."""
        if self._lookup is None:
            raise RuntimeError("no provider lookup configured for reconciliation")
        return self._ledger.reconcile(self._lookup, older_than=older_than)

    def run_maintenance(self, older_than: timedelta | None = None) -> dict[str, Any]:
        """One round of all periodic work, as the service's background work runs it:
        double opt-ins expired, parked reports released, waiting windows closed,
        recovery; returns what it did. `older_than` overrides every waiting time of
        recovery (0: everything unresolved now)."""
        return self._ledger.run_maintenance(self._lookup, older_than=older_than)

    def projection_names(self) -> list[str]:
        return list(self._ledger.projections.projections)

    def rebuild_projection(self, name: str,
                           progress: Callable[[int, int], None] | None = None) -> str:
        """Replay one projection from position zero into fresh tables and swap it in;
        returns the new view's name. KeyError for a name that is not a projection.
        `progress(position, head)` after each batch of notifications."""
        return self._ledger.rebuild_projection(name, progress)

    def projection_lag(self) -> dict[str, Lag]:
        """Each projection's lag behind the store, events and seconds
        (smsledger.application.projection_lag)."""
        return self._lag_watch.measure()

    def keep_projections_current(self, interval: float = 0.2, *,
                                 observer: JobObserver | None = None) -> BackgroundRun:
        """Catch the projections up in a background thread until the result is stopped,
        the feed ahead of the others (ProjectionRunner.keep_current; reads catch up
        anyway, this keeps them quick), while this process holds the
        store's `projections` job: of all processes on a store that call this, one
        runs it, and another takes over within seconds when that one dies. `observer`
        hears of every run (the service's metrics)."""
        return BackgroundRun(PROJECTIONS_JOB, self._ledger.projections.keep_current, interval,
                             lock=job_lock_for(self._ledger.recorder, PROJECTIONS_JOB),
                             observer=observer)

    def keep_maintenance_running(self, interval: float = 60.0, *,
                                 observer: JobObserver | None = None) -> BackgroundRun:
        """A round of `run_maintenance` at once and then every `interval` seconds, in a
        background thread until the result is stopped, while this process holds the
        store's `maintenance` job (as `keep_projections_current`). Each round's
        result is logged."""
        return BackgroundRun(MAINTENANCE_JOB, self._logged_maintenance_round, interval,
                             lock=job_lock_for(self._ledger.recorder, MAINTENANCE_JOB),
                             observer=observer)

    def keep_subscriptions_delivering(self, interval: float = 0.5, *,
                                      observer: JobObserver | None = None) -> BackgroundRun:
        """A delivery round of the event subscriptions every `interval` seconds, in a
        background thread until the result is stopped, while this process holds the
        store's `subscriptions` job (as `keep_projections_current`)."""
        return BackgroundRun(SUBSCRIPTIONS_JOB, self._push().run_round, interval,
                             lock=job_lock_for(self._ledger.recorder, SUBSCRIPTIONS_JOB),
                             observer=observer)

    def _logged_maintenance_round(self) -> None:
        log.info("maintenance", extra={"fields": self.run_maintenance()})

    def check_store(self, within: float = HEALTH_CHECK_SECONDS) -> None:
        """Raises StoreUnavailable when the store does not answer within `within`
        seconds (default: fit for a load balancer's health check)."""
        check_answers((self._ledger.recorder, self._ledger.projects.recorder), within)

    def check_ready(self, within: float = HEALTH_CHECK_SECONDS) -> None:
        """`check_store`, and the store has its tables: raises StoreUnavailable
        (TablesMissing, naming them, when it answers without them)."""
        check_ready((self._ledger.recorder, self._ledger.projects.recorder), within)

    # --- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        for closer in self._closers:
            closer.close()
        self._ledger.close()

    def __enter__(self) -> SmsChannel:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
