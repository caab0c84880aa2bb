"""Sending: every message stored as requested before Infobip is called, its hand-over
recorded, then sent in batches and the answers recorded.

A message's id is chosen here (or by the platform) and sent as Infobip's messageId,
so every report finds its message. An answer that never comes leaves the message
requested, handed over, until a report or the next maintenance round settles it
(recovery.py): never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from smsledger.application.aggregates import AggregateStore
from smsledger.application.commands import SendRequest
from smsledger.application.errors import InvalidSendRequest, MessageIdReused
from smsledger.application.handover import HANDED_OVER_ELSEWHERE, HandOver
from smsledger.application.policy import REFUSED, SendPolicy
from smsledger.application.ports import Clock, IdSource, SendOutcome, SmsProvider
from smsledger.application.projects import ProjectDirectory, Route
from smsledger.application.views import SendResult
from smsledger.domain.content import Content, MmsContent, SmsContent
from smsledger.domain.errors import DomainError
from smsledger.domain.message import Message
from smsledger.domain.phone import PhoneNumber
from smsledger.domain.project import UnknownIntegration
from smsledger.domain.status import MessageStatus

INVALID = "invalid"  # a result's status: not stored, not sent; `error` says why

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

    def asks_for(self) -> tuple[object, ...]:
        """The request's substance, its id aside (as Message.same_request compares)."""
        r = self.request
        return (self.integration_id, r.customer_id, r.campaign_id, r.action_id,
                self.recipient.e164, self.sender, self.content.to_dict())


class Sending:
    def __init__(self, store: AggregateStore, *, provider: SmsProvider, clock: Clock,
                 ids: IdSource, projects: ProjectDirectory, settings: LedgerSettings,
                 policy: SendPolicy) -> None:
        self.store = store
        self.clock = clock
        self.ids = ids
        self.projects = projects
        self.settings = settings
        self.policy = policy
        self.provider = provider
        self.handover = HandOver(store, provider, clock)

    def send(self, project_id: str, requests: Sequence[SendRequest], *,
             check_policy: bool = True, report_invalid: bool = False) -> list[SendResult]:
        """Store every message as requested, then hand them to the provider in batches
        and record its answers; one result per request, in order.

        An invalid request refuses the whole call up front (InvalidSendRequest,
        nothing stored), unless `report_invalid`: then it gets the status `invalid`
        with its error, is not stored, and the others are sent. The send policy
        refuses single messages, which are then neither stored nor sent: a number
        marked invalid (`number_invalid`), or a `consent_category` without granted
        consent (`consent_missing`).

        A message id already stored is a repeat when it asks for the same thing: it
        is answered with the message's status and not sent again, unless it was never
        handed to the provider (a crash before the call): then this call sends it.
        The same id for a different request is `invalid` with the error
        `message_id_reused` (MessageIdReused when the call holds one message), and
        nothing of it is stored or sent."""
        now = self.clock.now()
        routes = _RouteCache(self.projects, self.provider, project_id)
        results: dict[int, SendResult] = {}
        checked: dict[int, _Checked] = {}
        for i, request in enumerate(requests):
            try:
                checked[i] = self._check(i, request, request.message_id
                                         or self.ids.new_message_id(), routes)
            except InvalidSendRequest as exc:
                if not report_invalid:
                    raise
                results[i] = _invalid(request.message_id, exc.code, exc.reason)
        repeats = self._repeats_within_call(checked, results)
        candidates = [i for i in checked if i not in results and i not in repeats]
        refusals = (self.policy.refusals(project_id,
                                         [checked[i].recipient.e164 for i in candidates],
                                         [requests[i].consent_category for i in candidates])
                    if check_policy else [None] * len(candidates))
        for i, refusal in zip(candidates, refusals):
            if refusal:
                results[i] = SendResult(
                    message_id=checked[i].message_id, status=REFUSED,
                    number_of_message_parts=checked[i].content.part_count().parts,
                    detail=refusal)
        wanted = [i for i in candidates if i not in results]
        size = self.settings.send_batch_size
        batches = [wanted[start:start + size] for start in range(0, len(wanted), size)]
        if batches:
            self._send_batches(project_id, checked, batches, results, now)
        for i, first in repeats.items():
            results[i] = results[first]
        if len(requests) == 1 and results[0].error == MessageIdReused.code:
            raise MessageIdReused(results[0].detail or "message id reused",
                                  details={"message_id": results[0].message_id})
        return [results[i] for i in range(len(requests))]

    @staticmethod
    def _repeats_within_call(checked: dict[int, _Checked], results: dict[int, SendResult]
                             ) -> dict[int, int]:
        """Requests that repeat an earlier one of the same call under its id (index ->
        the first one's index); a different request under a used id is refused."""
        first: dict[str, int] = {}
        repeats: dict[int, int] = {}
        for i, candidate in checked.items():
            j = first.setdefault(candidate.message_id, i)
            if j == i:
                continue
            if candidate.asks_for() == checked[j].asks_for():
                repeats[i] = j
            else:
                results[i] = _reused(candidate.message_id)
        return repeats

    def _store_batch(self, batch: list[int], messages: list[Message],
                     results: dict[int, SendResult]) -> list[Message]:
        """Store a batch's messages as requested, in one transaction; returns those to
        hand to the provider: the new ones, and repeats of messages never handed over.
        Other repeats are answered with their status; reused ids are refused."""
        fresh, stored = self._store_new(messages)
        to_send = list(fresh)
        for i, message in zip(batch, messages):
            existing = stored.get(message.id)
            if existing is None:
                continue
            if not existing.same_request(message):
                results[i] = _reused(message.identity.message_id)
            elif existing.status is MessageStatus.REQUESTED and existing.handovers == 0:
                to_send.append(existing)
            else:
                results[i] = SendResult(message_id=existing.identity.message_id,
                                        status=existing.status.value,
                                        number_of_message_parts=existing.parts,
                                        detail=REPEAT)
        return to_send

    def _send_batches(self, project_id: str, checked: dict[int, _Checked],
                      batches: list[list[int]], results: dict[int, SendResult],
                      now: datetime) -> None:
        """Batch after batch, overlapped: while one batch's request is with the provider
        (a worker thread records its hand-over, then waits for the answer), the next
        batch is built and stored and the previous batch's answers are recorded. Every
        message is stored as requested, and its hand-over recorded, before its request
        goes out; requests go out one at a time, in order. No batch is stored once a
        call is known to have failed. Whatever fails (a provider call, storing or
        recording), the calls already out are finished and their answers recorded where
        the store allows before the first failure is raised. A message left requested
        is settled by the next maintenance round (recovery.py): sent if it was never
        handed over, else looked up in the provider's logs."""
        failures: list[BaseException] = []
        in_flight: list[tuple[list[int], Future[tuple[list[Message],
                                                      dict[str, SendOutcome]]]]] = []

        def finish_oldest() -> None:
            batch, answer = in_flight.pop(0)
            try:
                claimed, outcomes = answer.result()
                sent = self.handover.record(claimed, outcomes)
            except Exception as exc:  # raised once the calls still out are recorded
                failures.append(exc)
                return
            for i in batch:
                if i not in results:  # else answered when stored (a repeat)
                    results[i] = sent.get(checked[i].message_id) or SendResult(
                        message_id=checked[i].message_id, status=MessageStatus.REQUESTED.value,
                        number_of_message_parts=checked[i].content.part_count().parts,
                        detail=HANDED_OVER_ELSEWHERE)

        def a_call_failed() -> bool:
            return bool(failures) or any(
                answer.done() and answer.exception() is not None for _, answer in in_flight)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smsledger-send") as worker:
            try:
                for batch in batches:
                    if a_call_failed():
                        break
                    messages = [self._message(project_id, checked[i], now) for i in batch]
                    to_send = self._store_batch(batch, messages, results)
                    if to_send:
                        in_flight.append((batch, worker.submit(self.handover.send, to_send)))
                    if len(in_flight) > 1:
                        finish_oldest()
            except Exception as exc:
                failures.append(exc)
            while in_flight:
                finish_oldest()
        if failures:
            raise failures[0]

    def _check(self, index: int, request: SendRequest, message_id: str,
               routes: _RouteCache) -> _Checked:
        """Everything about a request that can be wrong, found before anything of the
        call is stored."""
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

    def _store_new(self, messages: list[Message]) -> tuple[list[Message], dict[UUID, Message]]:
        """Save in one transaction; returns the messages saved and, for ids already
        stored (a platform repeating a send), the stored messages, left as they are."""
        pending = {m.id: list(m.pending_events) for m in messages}
        try:
            self.store.save(*messages)
            return messages, {}
        except IntegrityError:
            # The failed save took the events off the aggregates; nothing was written.
            stored = self.store.load_many(pending)
            fresh = [m for m in messages if m.id not in stored]
            for message in fresh:
                message.pending_events[:] = pending[message.id]
            self.store.save(*fresh)
            return fresh, stored


class _RouteCache:
    """Routes of one send call: the project's settings are read, and the provider
    asked whether it reaches an integration, once per call, not per message."""

    def __init__(self, projects: ProjectDirectory, provider: SmsProvider,
                 project_id: str) -> None:
        self.projects, self.provider, self.project_id = projects, provider, project_id
        self._routes: dict[tuple[str | None, str | None], Route] = {}

    def route(self, integration_id: str | None, sender: str | None) -> Route:
        key = (integration_id, sender)
        if key not in self._routes:
            route = self.projects.route(self.project_id, integration_id, sender)
            if not self.provider.reaches(self.project_id, route.integration_id):
                raise UnknownIntegration(f"no provider account for integration "
                                   f"{route.integration_id!r} of project {self.project_id!r}")
            self._routes[key] = route
        return self._routes[key]


REPEAT = "repeat of an earlier send with this message id"


def _invalid(message_id: str | None, error: str, reason: str) -> SendResult:
    return SendResult(message_id=message_id, status=INVALID, number_of_message_parts=0,
                      detail=reason, error=error)


def _reused(message_id: str) -> SendResult:
    return _invalid(message_id, MessageIdReused.code,
                    f"message_id {message_id!r} was already used for another request "
                    "(another number, text, sender or customer); use a new id")
