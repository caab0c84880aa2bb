"""Sending: every message stored as requested before Infobip is called, then sent in
batches and the answers recorded.

A message's id is chosen here (or by the platform) and sent as Infobip's messageId,
so every report finds its message. An answer that never comes leaves the message
requested until a report or a reconciliation settles it: never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.persistence import IntegrityError

from smsledger.application.aggregates import AggregateStore
from smsledger.application.commands import SendRequest
from smsledger.application.errors import InvalidSendRequest, MessageNotFound
from smsledger.application.policy import REFUSED, SendPolicy
from smsledger.application.ports import (
    Accepted,
    Clock,
    IdSource,
    OutgoingMessage,
    SendOutcome,
    SendRefused,
    SmsProvider,
    StatusInAnswer,
    Unknown,
)
from smsledger.application.projects import ProjectDirectory, Route
from smsledger.application.queries import Queries
from smsledger.application.views import SendResult
from smsledger.domain.content import Content, MmsContent, SmsContent, content_from_dict
from smsledger.domain.errors import DomainError
from smsledger.domain.message import Message
from smsledger.domain.phone import PhoneNumber

if TYPE_CHECKING:
    from smsledger.application.ledger import LedgerSettings


@dataclass(frozen=True)
class _Checked:
    """A send request that passed every check; its Message is built when its batch is
    stored (Sending._send_batches)."""

    request: SendRequest
    message_id: str
    recipient: PhoneNumber
    content: Content
    integration_id: str
    sender: str | None


class Sending:
    def __init__(self, store: AggregateStore, *, provider: SmsProvider, clock: Clock,
                 ids: IdSource, projects: ProjectDirectory, settings: LedgerSettings,
                 policy: SendPolicy, queries: Queries) -> None:
        self.store = store
        self.provider = provider
        self.clock = clock
        self.ids = ids
        self.projects = projects
        self.settings = settings
        self.policy = policy
        self.queries = queries

    def send(self, project_id: str, requests: Sequence[SendRequest], *,
             check_policy: bool = True) -> list[SendResult]:
        """Store every message as requested, then hand them to the provider in batches
        and record its answers; one result per request, in order.

        An invalid request refuses the whole batch up front (InvalidSendRequest). The
        send policy refuses single messages, which are then neither stored nor sent:
        a number marked invalid (`number_invalid`), or a `consent_category` without
        granted consent (`consent_missing`). A message id already stored is not sent
        again; its current status is answered (for an id repeated within one call, the
        status when the repeat's batch was stored, which may still be `requested`)."""
        now = self.clock.now()
        routes = _RouteCache(self.projects, project_id)
        checked = [self._check(i, r, r.message_id or self.ids.new_message_id(), routes)
                   for i, r in enumerate(requests)]
        refusals = (self.policy.refusals(project_id, [c.recipient.e164 for c in checked],
                                         [r.consent_category for r in requests])
                    if check_policy else [None] * len(checked))
        results: dict[int, SendResult] = {
            i: SendResult(message_id=c.message_id, status=REFUSED,
                          number_of_message_parts=c.content.part_count().parts, detail=refusal)
            for i, (c, refusal) in enumerate(zip(checked, refusals)) if refusal}
        wanted = [i for i in range(len(checked)) if i not in results]
        size = self.settings.send_batch_size
        batches = [wanted[start:start + size] for start in range(0, len(wanted), size)]
        if batches:
            self._send_batches(project_id, checked, batches, results, now)
        return [results[i] for i in range(len(checked))]

    def _store_batch(self, project_id: str, batch: list[int], messages: list[Message],
                     results: dict[int, SendResult]) -> list[Message]:
        """Store a batch's messages as requested, in one transaction; answer those
        already stored (a platform's retry) with their status instead."""
        fresh = self._store_new(messages)
        fresh_ids = {m.identity.message_id for m in fresh}
        for i, message in zip(batch, messages):
            if message.identity.message_id not in fresh_ids:
                view = self.queries.message(project_id, message.identity.message_id)
                results[i] = SendResult(message_id=view.message_id, status=view.status,
                                        number_of_message_parts=view.number_of_message_parts,
                                        detail="already sent")
        return fresh

    def _send_batches(self, project_id: str, checked: list[_Checked], batches: list[list[int]],
                      results: dict[int, SendResult], now: datetime) -> None:
        """Batch after batch, overlapped: while one batch's request is with the provider
        (a worker thread waits for it), the next batch is built and stored and the
        previous batch's answers are recorded. Every message is still stored as
        requested before its request goes out, and its answer recorded after; requests
        go out one at a time, in order. A batch stored is always sent, and no batch is
        stored once a call is known to have failed. Whatever fails (a provider call,
        storing or recording), the calls already out are finished and their answers
        recorded where the store allows before the first failure is raised; an answer
        that cannot be recorded leaves its messages requested until their reports (or a
        reconcile) settle them, as after a lost answer."""
        failures: list[BaseException] = []
        in_flight: list[tuple[list[int], list[Message], Future[dict[str, SendOutcome]]]] = []

        def finish_oldest() -> None:
            batch, fresh, answer = in_flight.pop(0)
            try:
                sent = self._record_outcomes(fresh, answer.result())
            except Exception as exc:  # raised once the calls still out are recorded
                failures.append(exc)
                return
            for i in batch:
                if i not in results:  # else answered when stored ("already sent")
                    results[i] = sent[checked[i].message_id]

        def a_call_failed() -> bool:
            return bool(failures) or any(
                answer.done() and answer.exception() is not None for _, _, answer in in_flight)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsledger-send") as worker:
            try:
                for batch in batches:
                    if a_call_failed():
                        break
                    messages = [self._message(project_id, checked[i], now) for i in batch]
                    fresh = self._store_batch(project_id, batch, messages, results)
                    if fresh:
                        in_flight.append((batch, fresh,
                                          worker.submit(self._call_provider, fresh)))
                    if len(in_flight) > 1:
                        finish_oldest()
            except Exception as exc:
                failures.append(exc)
            while in_flight:
                finish_oldest()
        if failures:
            raise failures[0]

    def _record_outcomes(self, messages: list[Message], outcomes: Mapping[str, SendOutcome]
                         ) -> dict[str, SendResult]:
        """The provider's answers, applied to the messages as they were stored; if a
        report was stored in between (the save collides), to the messages reloaded."""
        def apply(message: Message) -> None:
            _apply_send_outcome(message, outcomes[message.identity.message_id],
                                self.clock.now())

        try:
            for message in messages:
                apply(message)
            self.store.save(*messages)
            updated = messages
        except IntegrityError:
            updated = list(self.store.update(
                [m.id for m in messages], apply,
                missing=lambda: MessageNotFound("a message to update is not stored")).values())
        return {
            message.identity.message_id: SendResult(
                message_id=message.identity.message_id, status=message.status.value,
                number_of_message_parts=message.parts,
                detail=_detail(outcomes[message.identity.message_id]))
            for message in updated}

    def _check(self, index: int, request: SendRequest, message_id: str,
               routes: _RouteCache) -> _Checked:
        """Everything about a request that can be wrong, found before anything of the
        call is stored: the whole call is refused at the first problem."""
        try:
            if not request.customer_id:
                raise InvalidSendRequest(index, "customer_id must not be empty")
            content: Content = (
                MmsContent(request.title, request.text, tuple(request.media_urls))
                if request.title is not None else SmsContent(request.text)
            )
            route = routes.route(request.integration_id, request.sender)
            return _Checked(request, message_id, PhoneNumber.parse(request.to), content,
                            route.integration_id, route.sender)
        except InvalidSendRequest:
            raise
        except DomainError as exc:
            raise InvalidSendRequest(index, str(exc)) from exc

    def _message(self, project_id: str, checked: _Checked, now: datetime) -> Message:
        request = checked.request
        return Message.request(
            project_id=project_id,
            message_id=checked.message_id,
            integration_id=checked.integration_id,
            customer_id=request.customer_id,
            recipient=checked.recipient,
            content=checked.content,
            sender=checked.sender,
            campaign_id=request.campaign_id,
            action_id=request.action_id,
            requested_at=now,
            waiting_window=self.settings.waiting_window,
        )

    def _store_new(self, messages: list[Message]) -> list[Message]:
        """Save in one transaction. A message id already stored (a platform retrying a
        send) is left as it is and not sent again."""
        pending = {m.id: list(m.pending_events) for m in messages}
        try:
            self.store.save(*messages)
            return messages
        except IntegrityError:
            # The failed save took the events off the aggregates; nothing was written.
            stored = self.store.load_many(pending)
            fresh = [m for m in messages if m.id not in stored]
            for message in fresh:
                message.pending_events[:] = pending[message.id]
            self.store.save(*fresh)
            return fresh

    def _call_provider(self, chunk: list[Message]) -> dict[str, SendOutcome]:
        outgoing = [
            OutgoingMessage(
                project_id=m.identity.project_id, integration_id=m.identity.integration_id,
                message_id=m.identity.message_id, to=m.identity.recipient,
                sender=m.identity.sender, content=content_from_dict(m.content),
                campaign_id=m.identity.campaign_id,
            )
            for m in chunk
        ]
        answered = {o.message_id: o for o in self.provider.send(outgoing)}
        return {
            m.identity.message_id: answered.get(
                m.identity.message_id, Unknown(m.identity.message_id, "no answer for message"))
            for m in chunk
        }


class _RouteCache:
    """Routes of one send call: the project's settings are read once, not per message."""

    def __init__(self, projects: ProjectDirectory, project_id: str) -> None:
        self.projects, self.project_id = projects, project_id
        self._routes: dict[tuple[str | None, str | None], Route] = {}

    def route(self, integration_id: str | None, sender: str | None) -> Route:
        key = (integration_id, sender)
        if key not in self._routes:
            self._routes[key] = self.projects.route(self.project_id, integration_id, sender)
        return self._routes[key]


def _apply_send_outcome(message: Message, outcome: SendOutcome, now: datetime) -> None:
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
    # Unknown: the message stays requested; never guess.


def _detail(outcome: SendOutcome) -> str | None:
    if isinstance(outcome, Unknown):
        return outcome.reason
    if isinstance(outcome, SendRefused):
        return " ".join(str(p) for p in (outcome.status_code, outcome.error, outcome.comment) if p)
    return None
