"""The embedding facade: everything a platform does with smsledger, in one object.

It is the application (LedgerApplication) plus the Infobip adapters a caller would
otherwise wire by hand: raw webhook bodies go in as Infobip sent them, and
reconciliation knows where to ask. Built by `smsledger.adapters.bootstrap.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from smsledger.adapters.infobip.callbacks import parse_delivery_reports, parse_inbound
from smsledger.application.audit import CampaignAudit
from smsledger.application.commands import SendRequest
from smsledger.application.ledger import LedgerApplication
from smsledger.application.ports import DeliveryLookup
from smsledger.application.two_way import ConsentView
from smsledger.application.views import FeedPage, IngestResult, MessageView, SendResult


class SmsChannel:
    def __init__(self, ledger: LedgerApplication, lookup: DeliveryLookup | None = None,
                 closers: Sequence[object] = ()) -> None:
        self.ledger = ledger
        self.lookup = lookup
        self._closers = closers

    def send(self, project_id: str, requests: Sequence[SendRequest]) -> list[SendResult]:
        return self.ledger.send(project_id, requests)

    def ingest_delivery_reports(self, project_id: str, body: bytes | str) -> IngestResult:
        """An Infobip delivery-report POST body, as received. Raises InvalidCallback
        when the body is unusable; bad items inside it are quarantined."""
        parsed = parse_delivery_reports(body)
        return self.ledger.record_reports(project_id, parsed.reports, parsed.malformed)

    def ingest_inbound(self, project_id: str, integration_id: str, body: bytes | str
                       ) -> IngestResult:
        """An Infobip inbound-SMS POST body, as received: replies become
        `incoming_message` campaign events, keywords change consent and answer."""
        parsed = parse_inbound(body)
        return self.ledger.record_inbound(project_id, integration_id, parsed.messages,
                                          parsed.malformed)

    # --- consent, keywords and list hygiene -------------------------------------------

    def consent(self, project_id: str, number: str, category: str = "sms_marketing"
                ) -> ConsentView:
        return self.ledger.consent(project_id, number, category)

    def grant_consent(self, project_id: str, number: str, category: str = "sms_marketing",
                      customer_id: str | None = None) -> ConsentView:
        return self.ledger.set_consent(project_id, number, category, granted=True,
                                       customer_id=customer_id)

    def revoke_consent(self, project_id: str, number: str, category: str = "sms_marketing",
                       customer_id: str | None = None) -> ConsentView:
        return self.ledger.set_consent(project_id, number, category, granted=False,
                                       customer_id=customer_id)

    def request_double_opt_in(self, project_id: str, number: str, category: str, *,
                              customer_id: str, text: str | None = None) -> ConsentView:
        return self.ledger.request_double_opt_in(project_id, number, category,
                                                 customer_id=customer_id, text=text)

    def configure_keyword(self, project_id: str, keyword: str, *, action: str,
                          category: str = "sms_marketing", answer: str | None = None,
                          changed_by: str = "embedded") -> None:
        self.ledger.projects.configure_keyword(project_id, keyword, action=action,
                                               category=category, answer=answer,
                                               changed_by=changed_by)

    def revalidate_number(self, project_id: str, number: str, *,
                          changed_by: str = "embedded") -> dict:
        return self.ledger.revalidate_number(project_id, number, changed_by=changed_by)

    def campaign_events(self, project_id: str, after: int = 0, limit: int = 100) -> FeedPage:
        return self.ledger.campaign_events(project_id, after=after, limit=limit)

    def message(self, project_id: str, message_id: str) -> MessageView:
        return self.ledger.message(project_id, message_id)

    def audit(self, project_id: str, campaign_id: str,
              as_of: datetime | None = None) -> CampaignAudit:
        return self.ledger.audit(project_id, campaign_id, as_of=as_of)

    def rename_campaign_event(self, project_id: str, name: str, *, changed_by: str) -> None:
        self.ledger.rename_campaign_event(project_id, name, changed_by=changed_by)

    def close_due_windows(self) -> int:
        """Close waiting windows that have passed and expire unconfirmed double opt-ins."""
        self.ledger.expire_consent_requests()
        return self.ledger.close_due_windows()

    def reconcile(self, older_than: timedelta = timedelta(minutes=15)) -> IngestResult:
        if self.lookup is None:
            raise RuntimeError("no provider lookup configured for reconciliation")
        return self.ledger.reconcile(self.lookup, older_than=older_than)

    def close(self) -> None:
        for closer in self._closers:
            closer.close()  # type: ignore[attr-defined]
        self.ledger.close()

    def __enter__(self) -> SmsChannel:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
