"""Handing messages to the provider: the hand-over is recorded before the request goes
out, then the provider's answers are recorded.

The record is what makes a crash, an outage or a lost answer end in a definite
state: a requested message never handed over was certainly never sent, so it can be
sent (by a platform's retry or the next maintenance round) without asking anyone; one
handed over may have reached the provider, so it is settled from the provider's logs
and sent again only when they still do not know it (see recovery.py). Recording the
hand-over is also the claim: of two processes about to send the same message, only
the one whose record is stored first sends it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from eventsourcing.persistence import IntegrityError

from smsledger.application.aggregates import AggregateStore
from smsledger.application.errors import MessageNotFound
from smsledger.application.ports import (
    Accepted,
    Clock,
    OutgoingMessage,
    SendOutcome,
    SendRefused,
    SmsProvider,
    StatusInAnswer,
    Unknown,
)
from smsledger.application.views import SendResult
from smsledger.domain.content import content_from_dict
from smsledger.domain.message import Message

HANDED_OVER_ELSEWHERE = "being sent by another request"


class HandOver:
    def __init__(self, store: AggregateStore, provider: SmsProvider, clock: Clock) -> None:
        self.store = store
        self.provider = provider
        self.clock = clock

    def send(self, messages: Sequence[Message]
             ) -> tuple[list[Message], dict[str, SendOutcome]]:
        """Record the hand-over of each message still requested and send those this
        call claimed: returns them (as now stored) with the provider's answer per
        message id. A message another process claimed first, or one already settled,
        is left out. The answers are not recorded here: `record` does that."""
        claimed = self.claim(messages)
        return claimed, (self.call(claimed) if claimed else {})

    def claim(self, messages: Sequence[Message]) -> list[Message]:
        """Record the hand-over of the messages still requested, in one transaction;
        returns those this call recorded it for."""
        now = self.clock.now()
        claimed = [m for m in messages if m.hand_over(at=now)]
        try:
            self.store.save(*claimed)
            return claimed
        except IntegrityError:
            pass  # another writer touched one of them: decide again on what is stored
        expected = {m.id: m.handovers - 1 for m in claimed}
        result: list[Message] = []

        def attempt() -> list[Message]:
            result.clear()
            for message in self.store.load_many(expected).values():
                # Claim only what nobody handed over since this call looked.
                if message.handovers == expected[message.id] and message.hand_over(at=now):
                    result.append(message)
            return result

        self.store.retrying(attempt)
        return list(result)

    def call(self, messages: Sequence[Message]) -> dict[str, SendOutcome]:
        outgoing = [
            OutgoingMessage(
                project_id=m.identity.project_id, integration_id=m.identity.integration_id,
                message_id=m.identity.message_id, to=m.identity.recipient,
                sender=m.identity.sender, content=content_from_dict(m.content),
                campaign_id=m.identity.campaign_id, resend=m.is_resend,
            )
            for m in messages
        ]
        answered = {o.message_id: o for o in self.provider.send(outgoing)}
        return {
            m.identity.message_id: answered.get(
                m.identity.message_id, Unknown(m.identity.message_id, "no answer for message"))
            for m in messages
        }

    def record(self, messages: Sequence[Message], outcomes: Mapping[str, SendOutcome]
               ) -> dict[str, SendResult]:
        """The provider's answers, applied to the messages as they were stored; if
        anything was stored for them in between (a report, a claim), to the messages
        reloaded."""
        now = self.clock.now()

        def apply(message: Message) -> None:
            apply_send_outcome(message, outcomes[message.identity.message_id], now)

        try:
            for message in messages:
                apply(message)
            self.store.save(*messages)
            updated = list(messages)
        except IntegrityError:
            updated = list(self.store.update(
                [m.id for m in messages], apply,
                missing=lambda: MessageNotFound("a message to update is not stored")).values())
        return {
            message.identity.message_id: SendResult(
                message_id=message.identity.message_id, status=message.status.value,
                number_of_message_parts=message.parts,
                detail=send_detail(outcomes[message.identity.message_id]))
            for message in updated}


def apply_send_outcome(message: Message, outcome: SendOutcome, now: datetime) -> None:
    if isinstance(outcome, Accepted):
        message.accept(at=now, parts=outcome.parts)
    elif isinstance(outcome, SendRefused):
        message.refuse(at=now, status_code=outcome.status_code, error=outcome.error,
                       comment=outcome.comment)
    elif isinstance(outcome, StatusInAnswer):
        if outcome.outcome.is_final:
            message.record_report(outcome.outcome, received_at=now)
        else:
            message.accept(at=now, parts=outcome.outcome.parts)
    # Unknown: the message stays requested, handed over; recovery settles it.


def send_detail(outcome: SendOutcome) -> str | None:
    if isinstance(outcome, Unknown):
        return outcome.reason
    if isinstance(outcome, SendRefused):
        return " ".join(str(p) for p in (outcome.status_code, outcome.error, outcome.comment) if p)
    return None
