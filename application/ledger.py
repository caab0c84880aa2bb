"""LedgerApplication: the application service, one eventsourcing Application.

It owns the event store (messages, replies, consents, number health, parked and
quarantined input: one log), the projections read from it, and the use cases, one
module each: sending, reports, maintenance, queries, audit, two-way messaging and
the send policy. Each use case works through the one AggregateStore (loading many,
saving, retrying on conflict). The methods below are the service's whole surface:
the embedding facade (smsledger.SmsChannel), the HTTP service, the command line and
the scenarios all come through them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from smsledger.application.aggregates import AggregateStore
from smsledger.application.audit import Auditing, CampaignAudit
from smsledger.application.campaign_report import CampaignReport, CampaignReporting
from smsledger.application.commands import InboundSms, ProviderReport, QuarantinedInput, SendRequest
from smsledger.application.funnel import Funnel
from smsledger.application.maintenance import Maintenance
from smsledger.application.policy import SendPolicy
from smsledger.application.ports import Clock, DeliveryLookup, IdSource, ReadStore, SmsProvider
from smsledger.application.projection_runner import ProjectionRunner
from smsledger.application.projections import all_projections
from smsledger.application.projects import ProjectDirectory
from smsledger.application.queries import Queries
from smsledger.application.recovery import Recovery, RecoveryLimits, RecoveryResult
from smsledger.application.reports import ReportIngest
from smsledger.application.sending import Sending
from smsledger.application.two_way import DEFAULT_CONFIRMATION_VALIDITY, ConsentView, TwoWayMessaging
from smsledger.application.views import FeedPage, IngestResult, MessageView, SendResult
from smsledger.domain.errors import InvalidInput
from smsledger.domain.message import DEFAULT_WAITING_WINDOW

MAX_PROVIDER_BATCH = 1000


@dataclass(frozen=True)
class LedgerSettings:
    waiting_window: timedelta = DEFAULT_WAITING_WINDOW
    send_batch_size: int = 500
    recovery: RecoveryLimits = RecoveryLimits()

    def __post_init__(self) -> None:
        if self.waiting_window <= timedelta(0):
            raise InvalidInput(
                f"waiting_window must be positive, got {self.waiting_window}")
        if not 1 <= self.send_batch_size <= MAX_PROVIDER_BATCH:
            raise InvalidInput(
                f"send_batch_size must be 1..{MAX_PROVIDER_BATCH}, got {self.send_batch_size}")


class LedgerApplication(Application[UUID]):
    # The library names the tables after this; a subclass must keep it to share them.
    name = "smsledger"

    def __init__(self, *, provider: SmsProvider, clock: Clock, ids: IdSource,
                 read_store: Callable[[Any], ReadStore], projects: ProjectDirectory,
                 settings: LedgerSettings | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        """`read_store` builds the read-model store for this application's recorder
        (smsledger.adapters.store.read_store_factory.read_store_for); `projects` knows
        each project's integrations, senders and campaign-event name."""
        super().__init__(env=env)
        self.projects = projects
        self.read_store = read_store(self.recorder)
        self.projections = ProjectionRunner(self.recorder, self.mapper, self.read_store,
                                            all_projections())
        self.store = AggregateStore(self)
        self.queries = Queries(self.store, self.read_store, self.projections, projects)
        self.policy = SendPolicy(self.store, clock)
        self.sending = Sending(self.store, provider=provider, clock=clock, ids=ids,
                               projects=projects, settings=settings or LedgerSettings(),
                               policy=self.policy)
        self.reports = ReportIngest(self.store, clock, self.policy)
        self.auditing = Auditing(self.store, self.queries)
        self.reporting = CampaignReporting(self.auditing, projects, clock)
        self.two_way = TwoWayMessaging(self.store, self.queries, projects, clock,
                                       self.sending.send)
        self.recovery = Recovery(self.store, self.queries, self.reports, self.sending.handover,
                                 clock, (settings or LedgerSettings()).recovery)
        self.maintenance = Maintenance(self.store, self.queries, self.reports, self.recovery,
                                       self.two_way.expire_consent_requests, clock)

    def close(self) -> None:
        super().close()
        self.projects.close()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, on the hot path without what nothing here uses: its two
        isinstance checks per object against runtime-checkable Protocols (each walks the
        protocol's attributes) and the Recording objects it builds per event for its
        `_notify`/`notify` hooks, which this application does not override. Together
        about a quarter of a 100-report callback. Anything else (events, None, keyword
        arguments, an aggregate cache or snapshots configured, a subclass with those
        hooks) takes the library's own path."""
        if (kwargs or self.repository.cache or self.snapshots
                or type(self)._notify is not Application._notify
                or type(self).notify is not Application.notify
                or not all(isinstance(obj, Aggregate) for obj in objs)):
            return super().save(*objs, **kwargs)
        events = [event for aggregate in objs for event in aggregate.collect_events()]
        self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events])
        return []  # no Recording objects: nothing reads them

    # --- sending and what comes back (sending, reports, two_way) -----------------------

    def send(self, project_id: str, requests: Sequence[SendRequest], *,
             check_policy: bool = True, report_invalid: bool = False) -> list[SendResult]:
        return self.sending.send(project_id, requests, check_policy=check_policy,
                                 report_invalid=report_invalid)

    def record_reports(self, project_id: str, reports: Sequence[ProviderReport],
                       quarantined: Sequence[QuarantinedInput] = ()) -> IngestResult:
        return self.reports.record_reports(project_id, reports, quarantined)

    def record_inbound(self, project_id: str, integration_id: str,
                       messages: Sequence[InboundSms],
                       quarantined: Sequence[QuarantinedInput] = ()) -> IngestResult:
        return self.two_way.record_inbound(project_id, integration_id, messages, quarantined)

    def quarantined_inputs(self, project_id: str) -> list[dict[str, Any]]:
        return self.reports.quarantined_inputs(project_id)

    # --- consent and list hygiene (two_way, policy) -------------------------------------

    def consent(self, project_id: str, number: str, category: str) -> ConsentView:
        return self.two_way.consent(project_id, number, category)

    def set_consent(self, project_id: str, number: str, category: str, *, granted: bool,
                    customer_id: str | None = None) -> ConsentView:
        return self.two_way.set_consent(project_id, number, category, granted=granted,
                                        customer_id=customer_id)

    def request_double_opt_in(self, project_id: str, number: str, category: str, *,
                              customer_id: str, text: str | None = None,
                              valid_for: timedelta = DEFAULT_CONFIRMATION_VALIDITY,
                              sender: str | None = None) -> ConsentView:
        return self.two_way.request_double_opt_in(project_id, number, category,
                                                  customer_id=customer_id, text=text,
                                                  valid_for=valid_for, sender=sender)

    def number_status(self, project_id: str, number: str) -> dict[str, Any]:
        return self.policy.number_status(project_id, number)

    def revalidate_number(self, project_id: str, number: str, *, changed_by: str
                          ) -> dict[str, Any]:
        return self.policy.revalidate_number(project_id, number, changed_by=changed_by)

    # --- maintenance --------------------------------------------------------------------

    def close_due_windows(self, now: datetime | None = None) -> int:
        return self.maintenance.close_due_windows(now)

    def expire_consent_requests(self, now: datetime | None = None) -> int:
        return self.two_way.expire_consent_requests(now)

    def reconcile(self, lookup: DeliveryLookup, *, older_than: timedelta) -> RecoveryResult:
        """Recovery alone (recovery.py), asking the provider about messages waiting
        longer than `older_than`; the other limits as configured."""
        limits = replace(self.recovery.limits, reconcile_after=older_than)
        return self.recovery.run(lookup, limits)

    def run_maintenance(self, lookup: DeliveryLookup | None, *,
                        older_than: timedelta | None = None) -> dict[str, Any]:
        """One round of all periodic work (maintenance.py); `older_than` overrides
        every waiting time of recovery (0: everything unresolved now)."""
        limits = None if older_than is None else self.recovery.limits.all(older_than)
        return self.maintenance.run_round(lookup, limits)

    # --- reading and auditing (queries, audit) ------------------------------------------

    def message(self, project_id: str, message_id: str) -> MessageView:
        return self.queries.message(project_id, message_id)

    def campaign_events(self, project_id: str, after: int = 0, limit: int = 100) -> FeedPage:
        return self.queries.campaign_events(project_id, after=after, limit=limit)

    def statistics(self, project_id: str, campaign_id: str) -> Funnel:
        return self.queries.statistics(project_id, campaign_id)

    def audit(self, project_id: str, campaign_id: str, as_of: datetime | None = None, *,
              whole_store: bool = False,
              progress: Callable[[int, int], None] | None = None) -> CampaignAudit:
        return self.auditing.audit(project_id, campaign_id, as_of, whole_store=whole_store,
                                   progress=progress)

    def rebuild_projection(self, name: str,
                           progress: Callable[[int, int], None] | None = None) -> str:
        return self.queries.rebuild_projection(name, progress)

    def campaign_report(self, project_id: str, campaign_id: str, as_of: datetime | None = None,
                        *, recipient: str | None = None) -> CampaignReport:
        return self.reporting.report(project_id, campaign_id, as_of, recipient=recipient)

    # --- project settings ---------------------------------------------------------------

    def campaign_event_name(self, project_id: str) -> str:
        return self.projects.campaign_event_name(project_id)

    def rename_campaign_event(self, project_id: str, name: str, *, changed_by: str) -> None:
        """Map the project's `campaign` event to another name, for events read from now on."""
        self.projects.rename_campaign_event(project_id, name, changed_by=changed_by)
