"""Two-way SMS: replies, consent by keyword and double opt-in, NPS answers.

A collaborator of LedgerApplication, built from its parts: the aggregate store, the
reads, the project directory and the sending use case (for automatic answers and
double opt-in requests).

- A reply is attributed to the latest message sent in the project to that number
  from that number of ours (the statistics projection keeps that index); with none,
  it is still recorded, unattributed.
- A keyword matches the first word only. Its action changes consent: revoke and grant
  (STOP, START) that of its category; confirm (YES) only grants the double opt-ins the
  number is waiting on, so a "yes please" nobody asked for grants nothing and is not
  answered. The automatic answer goes back through the project's default provider,
  from the number the customer wrote to, under a message id derived from the reply's:
  a callback Infobip repeats never answers twice.
- A double opt-in confirmation goes from a numeric sender of the integration (the one
  asked for, else the default sender if numeric, else the first numeric one): an
  alphanumeric sender cannot receive the YES, so it is refused.
- A permanent delivery error marks the number invalid in the project (see
  smsledger.application.policy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from smsledger.application.aggregates import AggregateStore
from smsledger.application.commands import InboundSms, QuarantinedInput, SendRequest
from smsledger.application.ports import Clock
from smsledger.application.projects import ProjectDirectory
from smsledger.application.queries import Queries
from smsledger.application.views import IngestResult, SendResult
from smsledger.domain.consent import (
    Consent,
    ConsentSource,
    ConsentStatus,
    confirmation_sender,
    consent_id,
    validate_category,
)
from smsledger.domain.errors import InvalidInput
from smsledger.domain.inbound import InboundMessage, inbound_id
from smsledger.domain.phone import PhoneNumber
from smsledger.domain.quarantine import QuarantinedPayload, quarantine_id
from smsledger.domain.replies import (
    DEFAULT_KEYWORDS,
    KeywordAction,
    KeywordRule,
    first_word,
    nps_score,
)

DEFAULT_CONFIRMATION_VALIDITY = timedelta(hours=24)
Send = Callable[..., list[SendResult]]  # Sending.send


@dataclass(frozen=True)
class ConsentView:
    number: str
    category: str
    status: str
    expires_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "category": self.category, "status": self.status,
                "expires_at": self.expires_at.isoformat() if self.expires_at else None}


class TwoWayMessaging:
    def __init__(self, store: AggregateStore, queries: Queries, projects: ProjectDirectory,
                 clock: Clock, send: Send) -> None:
        self.store = store
        self.queries = queries
        self.projects = projects
        self.clock = clock
        self.send = send

    # --- replies --------------------------------------------------------------------

    def record_inbound(self, project_id: str, integration_id: str,
                       messages: Sequence[InboundSms],
                       quarantined: Sequence[QuarantinedInput] = ()) -> IngestResult:
        """Keep each reply once, read it (attribution, keyword, NPS), apply its consent
        change in the same transaction, then send its automatic answer."""
        now = self.clock.now()
        settings = self.projects.find(project_id)
        keywords = settings.keywords if settings else {r.keyword: r for r in DEFAULT_KEYWORDS}
        nps_campaigns = settings.nps_campaigns if settings else set()
        latest = self._attributions(project_id, messages)
        readings = {inbound_id(project_id, m.message_id): (m, latest[m.message_id])
                    for m in messages}
        quarantine_ids = {quarantine_id(project_id, q.source, q.raw): q for q in quarantined}
        counts = {"applied": 0}
        asked: set[Any] = set()  # consents that ever had a double opt-in request
        unanswered: set[str] = set()  # confirmations that confirmed nothing

        def receive(known: dict[Any, Aggregate]) -> list[Aggregate]:
            changed: list[Aggregate] = []
            consents: dict[Any, Consent] = {}
            unanswered.clear()
            for aggregate_id, (sms, latest) in readings.items():
                rule = keywords.get(first_word(sms.text) or "")
                if aggregate_id in known:  # a repeated delivery of a reply already kept:
                    # answered again (the answer's id makes it once) if it confirmed.
                    if rule and rule.action is KeywordAction.CONFIRM and not any(
                            c.is_granted for c in _asked_of(known, asked, project_id,
                                                           _e164(sms.sender))):
                        unanswered.add(sms.message_id)
                    continue
                campaign = latest.get("campaign_id") if latest else None
                reply = InboundMessage.receive(
                    project_id=project_id, integration_id=integration_id,
                    provider_message_id=sms.message_id, sender=_e164(sms.sender), to=sms.to,
                    text=sms.text, parts=sms.parts, received_at=sms.received_at or now,
                    message_id=latest["message_id"] if latest else None,
                    customer_id=latest["customer_id"] if latest else None, campaign_id=campaign,
                    action_id=latest["action_id"] if latest else None,
                    keyword=rule.keyword if rule else None,
                    nps_score=nps_score(sms.text) if campaign in nps_campaigns else None)
                changed.append(reply)
                if rule and rule.action is KeywordAction.CONFIRM:
                    # Confirms the number's waiting double opt-ins (of any category); with
                    # none waiting (or all expired) it grants nothing.
                    confirmed = [c for c in _asked_of(known, asked, project_id, reply.sender)
                                 if c.confirm(at=now, customer_id=reply.customer_id)]
                    consents.update({c.id: c for c in confirmed})
                    if not confirmed:
                        unanswered.add(sms.message_id)
                elif rule and rule.action is KeywordAction.GRANT:
                    consent = self._consent_for(consents, known, project_id, reply.sender,
                                                rule.category, now)
                    consent.grant(ConsentSource.KEYWORD, at=now, customer_id=reply.customer_id)
                elif rule and rule.action is KeywordAction.REVOKE:
                    consent = self._consent_for(consents, known, project_id, reply.sender,
                                                rule.category, now)
                    consent.revoke(ConsentSource.KEYWORD, at=now, customer_id=reply.customer_id)
            changed += consents.values()
            changed += [QuarantinedPayload.keep(project_id, source=q.source, reason=q.reason,
                                                raw=q.raw, received_at=now)
                        for q_id, q in quarantine_ids.items() if q_id not in known]
            counts["applied"] = sum(isinstance(a, InboundMessage) for a in changed)
            return changed

        def load() -> dict[Any, Aggregate]:
            ids = [*readings, *quarantine_ids]
            rules = [(sms, keywords.get(first_word(sms.text) or ""))
                     for sms, _ in readings.values()]
            ids += [consent_id(project_id, _e164(sms.sender), rule.category)
                    for sms, rule in rules if rule and rule.action is not KeywordAction.CONFIRM]
            asked.clear()
            if any(rule and rule.action is KeywordAction.CONFIRM for _, rule in rules):
                asked.update(self._waiting_consent_ids())
            return self.store.load_many([*ids, *asked])

        self.store.retrying(lambda: receive(load()))
        self._answer(project_id, [(sms, latest) for sms, latest in readings.values()
                                  if sms.message_id not in unanswered], keywords)
        return IngestResult(applied=counts["applied"], noted=len(messages) - counts["applied"],
                            quarantined=len(quarantined))

    @staticmethod
    def _consent_for(consents: dict[Any, Consent], known: dict[Any, Any], project_id: str,
                     number: str, category: str, now: datetime) -> Consent:
        key = consent_id(project_id, number, category)
        consent = consents.get(key) or known.get(key) or Consent.open(
            project_id, number, category, at=now)
        consents[key] = consent
        return consent

    def _waiting_consent_ids(self) -> list[Any]:
        """Consents that ever had a double opt-in request: few, so a scan will do."""
        return list({n.originator_id
                     for n in self.store.notifications((get_topic(Consent.Requested),))})

    def _attributions(self, project_id: str, messages: Sequence[InboundSms]
                      ) -> dict[str, dict[str, Any] | None]:
        """Per reply: the latest message to its number from ours, read after one catch-up."""
        return self.queries.latest_messages(
            project_id, [(sms.message_id, sms.sender, sms.to) for sms in messages])

    def _answer(self, project_id: str, readings: list[tuple[InboundSms, dict[str, Any] | None]],
                keywords: dict[str, KeywordRule]) -> None:
        for sms, latest in readings:
            rule = keywords.get(first_word(sms.text) or "")
            if rule is None or not rule.answer:
                continue
            answer = SendRequest(customer_id=(latest or {}).get("customer_id") or "unattributed",
                                 to=_e164(sms.sender), text=rule.answer, sender=sms.to,
                                 message_id=f"answer-{sms.message_id}")
            try:
                self.send(project_id, [answer], check_policy=False)
            except InvalidInput:  # InvalidSendRequest, as every refusal of a send's checks
                # Our number is not a configured sender: answer from the default one.
                self.send(project_id, [SendRequest(**{**answer.__dict__, "sender": None})],
                          check_policy=False)

    # --- consent --------------------------------------------------------------------

    def consent(self, project_id: str, number: str, category: str) -> ConsentView:
        e164 = PhoneNumber.parse(number).e164
        validate_category(category)
        found = self.store.load_many([consent_id(project_id, e164, category)])
        consent = next(iter(found.values()), None)
        if consent is None:
            return ConsentView(e164, category, ConsentStatus.NONE.value)
        return ConsentView(e164, category, consent.status.value, consent.expires_at)

    def set_consent(self, project_id: str, number: str, category: str, *, granted: bool,
                    customer_id: str | None = None) -> ConsentView:
        e164 = PhoneNumber.parse(number).e164

        def change(consent: Consent) -> None:
            now = self.clock.now()
            if granted:
                consent.grant(ConsentSource.API, at=now, customer_id=customer_id)
            else:
                consent.revoke(ConsentSource.API, at=now, customer_id=customer_id)

        self._change_consent(project_id, e164, category, change)
        return self.consent(project_id, e164, category)

    def request_double_opt_in(self, project_id: str, number: str, category: str, *,
                              customer_id: str, text: str | None = None,
                              valid_for: timedelta = DEFAULT_CONFIRMATION_VALIDITY,
                              sender: str | None = None) -> ConsentView:
        """Send the confirmation SMS, from `sender` (one of the default integration's
        senders, numeric: the YES must reach it; default: a numeric sender of the
        integration); a confirming reply (YES) within `valid_for` grants the consent,
        otherwise the request expires."""
        e164 = PhoneNumber.parse(number).e164
        validate_category(category)
        text = text or (f"Reply YES to receive {category.replace('_', ' ')} messages from us. "
                        "Reply STOP to opt out.")
        request = SendRequest(customer_id=customer_id, to=e164, text=text,
                              sender=self._confirmation_sender(project_id, sender))
        (sent,) = self.send(project_id, [request], check_policy=False)
        self._change_consent(project_id, e164, category, lambda c: c.request(
            message_id=sent.message_id, at=self.clock.now(), valid_for=valid_for,
            customer_id=customer_id))
        return self.consent(project_id, e164, category)

    def _confirmation_sender(self, project_id: str, sender: str | None) -> str | None:
        route = self.projects.route(project_id, None, sender)  # refuses a sender not its own
        settings = self.projects.find(project_id)
        integration = settings.integrations.get(route.integration_id) if settings else None
        return confirmation_sender(sender, default=route.sender,
                                   senders=integration.senders if integration else (),
                                   integration_id=route.integration_id)

    def expire_consent_requests(self, now: datetime | None = None) -> int:
        """Expire double opt-ins nobody confirmed in time; returns how many."""

        now = now or self.clock.now()
        pending = self._waiting_consent_ids()
        expired: list[Aggregate] = []

        def attempt() -> list[Aggregate]:
            expired.clear()
            expired.extend(c for c in self.store.load_many(pending).values()
                           if isinstance(c, Consent) and c.expire_if_due(now))
            return list(expired)

        self.store.retrying(attempt)
        return len(expired)

    def _change_consent(self, project_id: str, number: str, category: str, change: Any) -> None:
        key = consent_id(project_id, number, category)

        def attempt() -> list[Aggregate]:
            consent = self.store.load_many([key]).get(key) or Consent.open(
                project_id, number, category, at=self.clock.now())
            change(consent)
            return [consent]

        self.store.retrying(attempt)


def _asked_of(known: dict[Any, Aggregate], asked: set[Any], project_id: str,
             number: str) -> list[Consent]:
    """The number's consents in the project that ever had a double opt-in request."""
    return [c for key, c in known.items() if key in asked and isinstance(c, Consent)
            and c.project_id == project_id and c.number == number]


def _e164(digits: str) -> str:
    return digits if digits.startswith("+") else "+" + digits
