"""The send policy and list hygiene: who may be sent to, and numbers proven invalid.

A message sent with a `consent_category` needs that consent granted; a number that a
permanent delivery error proved invalid is refused until it is revalidated. Refused
messages are neither stored nor sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from smsledger.application.aggregates import AggregateStore
from smsledger.application.ports import Clock
from smsledger.domain.consent import Consent, consent_id
from smsledger.domain.message import Message
from smsledger.domain.number_health import NumberHealth, number_health_id
from smsledger.domain.phone import PhoneNumber

REFUSED = "refused"
CONSENT_MISSING, NUMBER_INVALID = "consent_missing", "number_invalid"


class SendPolicy:
    def __init__(self, store: AggregateStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def refusals(self, project_id: str, numbers: Sequence[str],
                 categories: Sequence[str | None]) -> list[str | None]:
        """Per request: None when it may be sent, else why not."""
        health_ids = [number_health_id(project_id, n) for n in numbers]
        ids = {*health_ids, *(consent_id(project_id, n, c)
                              for n, c in zip(numbers, categories) if c)}
        known = self.store.load_many(ids)
        refusals: list[str | None] = []
        for number, category, health_id in zip(numbers, categories, health_ids):
            health = known.get(health_id)
            consent = known.get(consent_id(project_id, number, category)) if category else None
            if isinstance(health, NumberHealth) and health.invalid:
                refusals.append(NUMBER_INVALID)
            elif category and not (isinstance(consent, Consent) and consent.is_granted):
                refusals.append(CONSENT_MISSING)
            else:
                refusals.append(None)
        return refusals

    def numbers_proven_invalid(self, changed: Sequence[Aggregate], now: datetime
                               ) -> list[NumberHealth]:
        """Numbers a permanent error in `changed` messages just proved invalid, marked
        so, to be saved in the same transaction as the report (their records are
        loaded only when there is one)."""
        failures = [(m, e) for m in changed if isinstance(m, Message) for e in m.pending_events
                    if isinstance(e, Message.Failed) and e.outcome.get("error_permanent")]
        if not failures:
            return []
        keys = {number_health_id(m.identity.project_id, m.identity.recipient)
                for m, _ in failures}
        marked: dict[Any, NumberHealth] = dict(self.store.load_many(keys))
        for message, event in failures:
            project, number = message.identity.project_id, message.identity.recipient
            key = number_health_id(project, number)
            health = marked.get(key) or NumberHealth.open(project, number, at=now)
            health.mark_invalid(error=event.outcome.get("error_name"),
                                message_id=message.identity.message_id, at=now)
            marked[key] = health
        return list(marked.values())

    def number_status(self, project_id: str, number: str) -> dict[str, Any]:
        e164 = PhoneNumber.parse(number).e164
        health = self.store.get(number_health_id(project_id, e164))
        return {"number": e164, "invalid": bool(health and health.invalid),
                "reason": health.reason if health else None}

    def revalidate_number(self, project_id: str, number: str, *, changed_by: str
                          ) -> dict[str, Any]:
        e164 = PhoneNumber.parse(number).e164
        key = number_health_id(project_id, e164)

        def attempt() -> list[Aggregate]:
            health = self.store.get(key)
            if health is None:
                return []
            health.revalidate(changed_by=changed_by, at=self.clock.now())
            return [health]

        self.store.retrying(attempt)
        return self.number_status(project_id, e164)
