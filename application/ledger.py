"""LedgerApplication: the use cases, as one eventsourcing Application.

Each use case loads aggregates, calls their guard methods and saves everything it
changed in one transaction. A concurrent writer (a webhook and a send answer
touching the same message) makes the save fail with IntegrityError; the use case
then re-reads and re-applies, so conflicts are retried, never surfaced or lost.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic

from smsledger.application.audit import CampaignAudit, CampaignAuditFold
from smsledger.application.commands import ProviderReport, QuarantinedInput, SendRequest
from smsledger.application.funnel import Funnel
from smsledger.application.ports import (
    Accepted,
    Clock,
    DeliveryLookup,
    IdSource,
    OutgoingMessage,
    Refused,
    SendOutcome,
    SmsProvider,
    StatusInAnswer,
    Unknown,
)
from smsledger.application.projection_runner import ProjectionRunner
from smsledger.application.projections import (
    DUE_PENDING,
    DUE_REQUESTED,
    DUE_WINDOW,
    FEED,
    HISTORY,
    STATISTICS,
    all_projections,
    campaign_key,
    microseconds,
)
from smsledger.application.projects import ProjectDirectory
from smsledger.application.read_store import ReadStore
from smsledger.application.two_way import REFUSED, TwoWayMessaging
from smsledger.application.views import (
    FeedPage,
    HistoryEntry,
    IngestResult,
    MessageView,
    SendResult,
)
from smsledger.domain.campaign_events import CampaignEvent
from smsledger.domain.content import Content, MmsContent, SmsContent, content_from_dict
from smsledger.domain.errors import DomainError
from smsledger.domain.inbound import InboundMessage
from smsledger.domain.message import DEFAULT_WAITING_WINDOW, Message, message_aggregate_id
from smsledger.domain.parked import ParkedReports, parked_reports_id
from smsledger.domain.phone import PhoneNumber
from smsledger.domain.quarantine import QuarantinedPayload, quarantine_id
from smsledger.domain.status import MessageStatus

T = TypeVar("T")

MAX_SAVE_ATTEMPTS = 10
MAX_PROVIDER_BATCH = 1000
REPLAY_PAGE = 5000  # notifications per query when replaying: fewer round trips

# What the audit replays: every event class that moves a message in its funnel, and
# replies (NPS scores). The replay reads their stored state as it is (no upcasting):
# tests/unit/test_architecture.py keeps these classes at class_version 1.
AUDITED_EVENTS = {
    get_topic(cls): cls for cls in (Message.Requested, Message.Enqueued, Message.EnqueueFailed,
                                    Message.Delivered, Message.Rejected, Message.Failed,
                                    Message.WindowClosed, InboundMessage.Received)
}
_MESSAGE_TOPICS = tuple(AUDITED_EVENTS)
_ALWAYS_READ = frozenset({get_topic(Message.Requested), get_topic(InboundMessage.Received)})
_PARKED_TOPIC = get_topic(ParkedReports.Parked)
_QUARANTINE_TOPIC = get_topic(QuarantinedPayload.Kept)


class InvalidSendRequest(DomainError):
    """A request in a send batch is invalid; `index` says which. Nothing was stored."""

    def __init__(self, index: int, reason: str):
        super().__init__(f"message {index}: {reason}")
        self.index = index
        self.reason = reason


class MessageNotFound(LookupError):
    pass


class ConcurrencyConflict(RuntimeError):
    """The same aggregates kept changing under us; only after many retries."""


@dataclass(frozen=True)
class LedgerSettings:
    waiting_window: timedelta = DEFAULT_WAITING_WINDOW
    send_batch_size: int = 500

    def __post_init__(self) -> None:
        if self.waiting_window <= timedelta(0):
            raise ValueError(f"waiting_window must be positive, got {self.waiting_window}")
        if not 1 <= self.send_batch_size <= MAX_PROVIDER_BATCH:
            raise ValueError(f"send_batch_size must be 1..{MAX_PROVIDER_BATCH}, "
                             f"got {self.send_batch_size}")


@dataclass(frozen=True)
class _Checked:
    """A send request that passed every check; its Message is built when its batch is
    stored (LedgerApplication._send_batches)."""

    request: SendRequest
    message_id: str
    recipient: PhoneNumber
    content: Content
    integration_id: str
    sender: str | None


class LedgerApplication(TwoWayMessaging, Application):
    # The library names the tables after this; a subclass must keep it to share them.
    name = "smsledger"

    def __init__(self, *, provider: SmsProvider, clock: Clock, ids: IdSource,
                 read_store: Callable[[Any], ReadStore], projects: ProjectDirectory,
                 settings: LedgerSettings | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        """`read_store` builds the read-model store for this application's recorder
        (smsledger.adapters.store.read_store_factory.read_store_for); `projects` knows each
        project's integrations, senders and campaign-event name."""
        super().__init__(env=env)
        self.projects = projects
        self.provider = provider
        self.clock = clock
        self.ids = ids
        self.settings = settings or LedgerSettings()
        self.read_store = read_store(self.recorder)
        self.projections = ProjectionRunner(self.recorder, self.mapper, self.read_store,
                                            all_projections())

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

    # --- sending ----------------------------------------------------------------------

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
        refusals = (self._refusals(project_id, [c.recipient.e164 for c in checked],
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
                view = self.message(project_id, message.identity.message_id)
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
                results.setdefault(i, sent.get(checked[i].message_id))

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
            self.save(*messages)
            updated = messages
        except IntegrityError:
            updated = list(self._update([m.id for m in messages], apply).values())
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
            self.save(*messages)
            return messages
        except IntegrityError:
            # The failed save took the events off the aggregates; nothing was written.
            stored = self._load_many(pending)
            fresh = [m for m in messages if m.id not in stored]
            for message in fresh:
                message.pending_events[:] = pending[message.id]
            self.save(*fresh)
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

    # --- delivery reports -------------------------------------------------------------

    def record_reports(self, project_id: str, reports: Sequence[ProviderReport],
                       quarantined: Sequence[QuarantinedInput] = ()) -> IngestResult:
        """Apply a batch of reports in one transaction. Repeats, late and out-of-order
        reports are recorded without changing a status; unknown ids are parked; input
        that could not be parsed is kept in quarantine in the same transaction."""
        received_at = self.clock.now()
        quarantine_ids = {
            quarantine_id(project_id, q.source, q.raw): q for q in quarantined}
        by_id: dict[UUID, list[ProviderReport]] = {}
        for report in reports:
            by_id.setdefault(message_aggregate_id(project_id, report.message_id), []).append(report)

        counts = {"applied": 0, "noted": 0, "parked": 0, "quarantined": len(quarantined)}

        def apply_all(aggregates: dict[UUID, Aggregate]) -> list[Aggregate]:
            counts.update(applied=0, noted=0, parked=0)
            changed: list[Aggregate] = [
                QuarantinedPayload.keep(project_id, source=q.source, reason=q.reason,
                                        raw=q.raw, received_at=received_at)
                for q_id, q in quarantine_ids.items() if q_id not in aggregates
            ]
            for message_uuid, batch in by_id.items():
                message = aggregates.get(message_uuid)
                if isinstance(message, Message):
                    before = len(message.pending_events)
                    for report in batch:
                        message.record_report(report.outcome, received_at=received_at)
                    new_events = message.pending_events[before:]
                    applied = sum(not isinstance(e, Message.ReportNoted) for e in new_events
                                  if not isinstance(e, Message.Enqueued))
                    counts["applied"] += applied
                    counts["noted"] += len(batch) - applied
                    changed.append(message)
                else:
                    parked = self._parked_for(project_id, batch[0].message_id, received_at)
                    for report in batch:
                        parked.park(report.outcome, received_at=received_at)
                    counts["parked"] += len(batch)
                    changed.append(parked)
            return changed + self._list_hygiene(changed, received_at)

        self._retrying(lambda: apply_all(self._load_many([*by_id, *quarantine_ids])))
        return IngestResult(**counts)

    def quarantined_inputs(self, project_id: str) -> list[dict[str, Any]]:
        """Provider input kept because it could not be used, oldest first."""
        kept = []
        for notification in self._notifications((_QUARANTINE_TOPIC,)):
            event = self.mapper.to_domain_event(notification)
            if event.project_id == project_id:
                kept.append({"source": event.source, "reason": event.reason, "raw": event.raw,
                             "received_at": event.timestamp.isoformat()})
        return kept

    def _parked_for(self, project_id: str, message_id: str, at: datetime) -> ParkedReports:
        try:
            return self.repository.get(parked_reports_id(project_id, message_id))
        except AggregateNotFoundError:
            return ParkedReports.open(project_id, message_id, at=at)

    # --- waiting windows and parked reports ------------------------------------------------

    def close_due_windows(self, now: datetime | None = None) -> int:
        """Close every waiting window that has passed; returns how many were closed.
        Also releases parked reports whose message has appeared since."""
        now = now or self.clock.now()
        self._release_parked_reports(now)
        closed = 0
        seen: set[str] = set()
        while True:
            # Closing a window takes the message off the list once the statistics
            # projection has seen it, so each round starts from the front again.
            due = [doc for _, doc in self._due(DUE_WINDOW, upto=now, limit=500)
                   if doc["message"] not in seen]
            if not due:
                return closed
            seen.update(doc["message"] for doc in due)
            closing: list[Aggregate] = []

            def attempt(due: list[dict[str, Any]] = due, closing: list[Aggregate] = closing
                        ) -> list[Aggregate]:
                closing.clear()
                for message in self._load_many(UUID(d["message"]) for d in due).values():
                    if isinstance(message, Message) and message.close_window_if_due(now):
                        closing.append(message)
                return list(closing)

            self._retrying(attempt)
            closed += len(closing)

    def _due(self, work_list: str, *, upto: datetime, limit: int = 1000
             ) -> list[tuple[int, dict[str, Any]]]:
        """Messages on a work list of the statistics projection, listed up to `upto`."""
        return self._read(STATISTICS, lambda view: self.read_store.scan(
            view, "due", work_list, upto=microseconds(upto), limit=limit))

    def _read(self, projection: str, read: Callable[[str], T]) -> T:
        """Catch the projection up, then read its live view; once more if a rebuild
        swapped the view out between finding it and reading it."""
        self.projections.catch_up([projection])
        try:
            return read(self.read_store.live_view(projection))
        except ValueError:
            return read(self.read_store.live_view(projection))

    def _release_parked_reports(self, now: datetime) -> None:
        for parked_uuid in {n.originator_id for n in self._notifications((_PARKED_TOPIC,))}:
            def release(aggregates: dict[UUID, Aggregate], parked_uuid: UUID = parked_uuid
                        ) -> list[Aggregate]:
                parked = aggregates[parked_uuid]
                assert isinstance(parked, ParkedReports)
                message = aggregates.get(message_aggregate_id(parked.project_id,
                                                              parked.message_id))
                if not isinstance(message, Message) or not parked.waiting:
                    return []
                for outcome, received_at in parked.release(at=now):
                    message.record_report(outcome, received_at=received_at)
                return [parked, message]

            def load(parked_uuid: UUID = parked_uuid) -> dict[UUID, Aggregate]:
                parked = self.repository.get(parked_uuid)
                return self._load_many(
                    [parked_uuid, message_aggregate_id(parked.project_id, parked.message_id)])

            self._retrying(lambda: release(load()))

    # --- reconciliation ----------------------------------------------------------------

    def reconcile(self, lookup: DeliveryLookup, *, older_than: timedelta,
                  batch_size: int = 100) -> IngestResult:
        """Ask the provider about messages still requested, or enqueued without a final
        status, for longer than `older_than`, and apply what it knows. A message the
        provider does not know stays as it is: never guessed."""
        now = self.clock.now()
        cutoff = now - older_than
        unsettled: dict[tuple[str, str], list[str]] = {}
        for work_list in (DUE_REQUESTED, DUE_PENDING):
            due = self._read(STATISTICS, lambda view, work_list=work_list: list(
                self.read_store.scan_all(view, "due", work_list, upto=microseconds(cutoff))))
            for _, doc in due:
                key = (doc["project_id"], doc["integration_id"])
                unsettled.setdefault(key, []).append(doc["message_id"])
        changed: dict[str, bool] = {}  # message id -> did the lookup change its status

        def apply(message: Message, report: ProviderReport) -> None:
            before = message.status
            _apply_lookup(message, report, now)
            changed[message.identity.message_id] = message.status is not before

        for (project_id, integration_id), message_ids in unsettled.items():
            for start in range(0, len(message_ids), batch_size):
                chunk = message_ids[start:start + batch_size]
                known = {r.message_id: r for r in lookup.lookup(project_id, integration_id, chunk)}
                if not known:
                    continue
                ids = [message_aggregate_id(project_id, m) for m in known]
                self._update(ids, lambda m, known=known: apply(m, known[m.identity.message_id]))
        applied = sum(changed.values())
        return IngestResult(applied=applied, noted=len(changed) - applied)

    # --- reading ----------------------------------------------------------------------

    def message(self, project_id: str, message_id: str) -> MessageView:
        message_uuid = message_aggregate_id(project_id, message_id)
        try:
            message: Message = self.repository.get(message_uuid)
        except AggregateNotFoundError:
            raise MessageNotFound(f"no message {message_id!r} in project {project_id!r}") from None
        entries = self._read(HISTORY, lambda view: list(
            self.read_store.scan_all(view, "entry", str(message_uuid))))
        history = [
            HistoryEntry(event=doc["event"], timestamp=datetime.fromisoformat(doc["timestamp"]),
                         details=doc["details"])
            for _, doc in entries
        ]
        identity = message.identity
        return MessageView(
            project_id=identity.project_id, message_id=identity.message_id,
            status=message.status.value, recipient=identity.recipient, country=message.country,
            customer_id=identity.customer_id, campaign_id=identity.campaign_id,
            action_id=identity.action_id, sender=identity.sender,
            integration_id=identity.integration_id, number_of_message_parts=message.parts,
            encoding=message.encoding, window_closes_at=message.window_closes_at,
            window_closed=message.window_closed.value if message.window_closed else None,
            late=message.late, history=history,
        )

    def campaign_events(self, project_id: str, after: int = 0, limit: int = 100) -> FeedPage:
        """The project's campaign events after the cursor, oldest first, under the
        event name in force now."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        name = self.campaign_event_name(project_id)
        rows = self._read(FEED, lambda view: self.read_store.scan(
            view, "event", project_id, after=after, limit=limit))
        events = [CampaignEvent.from_record(doc, position).named(name) for position, doc in rows]
        return FeedPage(events=events, next=rows[-1][0] if rows else after)

    def _notifications(self, topics: Sequence[str], page: int = 500) -> Iterable[Any]:
        """The library's notifications with these topics, in store order."""
        return _paged(lambda after: self.recorder.select_notifications(
            start=after, limit=page, topics=topics, inclusive_of_start=False),
            page, lambda notification: notification.id)

    def _notification_rows(self, topics: Sequence[str]) -> Iterable[Sequence[Any]]:
        """(notification id, originator id, topic, state) of every event with these
        topics, in store order; plain rows where the recorder offers them
        (smsledger.adapters.store.recorders), else made from the library's notifications."""
        select_rows = getattr(self.recorder, "select_notification_rows", None)
        if select_rows is None:
            return ((n.id, n.originator_id, n.topic, n.state)
                    for n in self._notifications(topics, page=REPLAY_PAGE))
        return _paged(lambda after: select_rows(after, REPLAY_PAGE, topics), REPLAY_PAGE,
                      lambda row: row[0])

    def _state_decoder(self) -> Callable[[bytes], dict[str, Any]]:
        """What turns an event's stored state into its attributes without building the
        event: deciphered and decompressed as the mapper would, then `timestamp`
        restored to a datetime and the other values left as stored (the transcoder's
        decode_shallow where it has one)."""
        mapper = self.mapper
        decode = getattr(mapper.transcoder, "decode_shallow", mapper.transcoder.decode)
        if not mapper.cipher and not mapper.compressor:
            return decode

        def decipher_and_decode(state: bytes) -> dict[str, Any]:
            if mapper.cipher:
                state = mapper.cipher.decrypt(state)
            if mapper.compressor:
                state = mapper.compressor.decompress(state)
            return decode(state)

        return decipher_and_decode

    def audit(self, project_id: str, campaign_id: str,
              as_of: datetime | None = None) -> CampaignAudit:
        """Replay the store and count the campaign's funnel (see smsledger.application.audit);
        without `as_of`, also compare it with the live statistics projection."""
        fold = CampaignAuditFold(project_id, campaign_id, as_of)
        fields_of = self._state_decoder()
        with _cycle_collector_paused():
            for _, originator_id, topic, state in self._notification_rows(_MESSAGE_TOPICS):
                # Only creations (which say the campaign) and replies are read from every
                # message; the other events only for the campaign's own messages.
                if topic in _ALWAYS_READ or fold.follows(originator_id):
                    fold.apply(AUDITED_EVENTS[topic], originator_id, fields_of(state))
        audit = fold.result()
        if as_of is None:
            audit = replace(audit, drift=audit.drift_from(self.statistics(project_id, campaign_id)))
        return audit

    def statistics(self, project_id: str, campaign_id: str) -> Funnel:
        """The campaign's funnel as the statistics projection keeps it, live."""
        doc = self._read(STATISTICS, lambda view: self.read_store.get(
            view, "campaign", campaign_key(project_id, campaign_id)))
        return Funnel.from_doc(doc) if doc else Funnel.empty()

    def rebuild_projection(self, name: str) -> str:
        """Replay one projection from position zero into fresh tables and swap it in."""
        return self.projections.rebuild(name)

    # --- project settings -----------------------------------------------------------------

    def campaign_event_name(self, project_id: str) -> str:
        return self.projects.campaign_event_name(project_id)

    def rename_campaign_event(self, project_id: str, name: str, *, changed_by: str) -> None:
        """Map the project's `campaign` event to another name, for events read from now on."""
        self.projects.rename_campaign_event(project_id, name, changed_by=changed_by)

    # --- persistence helpers ------------------------------------------------------------

    def _load_many(self, ids: Iterable[UUID]) -> dict[UUID, Aggregate]:
        """The stored aggregates among `ids`, in one query where the recorder can
        (smsledger.adapters.store.recorders), else one by one."""
        ids = list(ids)
        select_rows = getattr(self.recorder, "select_event_rows", None)
        if select_rows is None:
            found: dict[UUID, Aggregate] = {}
            for aggregate_id in ids:
                try:
                    found[aggregate_id] = self.repository.get(aggregate_id)
                except AggregateNotFoundError:
                    pass
            return found
        event_from_row = getattr(self.mapper, "event_from_row", None) or (
            lambda *row: self.mapper.to_domain_event(StoredEvent(*row)))
        rebuilt: dict[UUID, Any] = {}
        for row in select_rows(ids):
            event = event_from_row(*row)
            rebuilt[event.originator_id] = event.mutate(rebuilt.get(event.originator_id))
        return rebuilt

    def _retrying(self, attempt: Callable[[], list[Aggregate]]) -> None:
        """Run load-decide-save until the save does not collide with another writer."""
        for _ in range(MAX_SAVE_ATTEMPTS):
            changed = attempt()
            try:
                self.save(*changed)
                return
            except IntegrityError:
                continue
        raise ConcurrencyConflict("gave up after repeated concurrent changes")

    def _update(self, message_ids: Sequence[UUID],
                command: Callable[[Message], None]) -> dict[UUID, Message]:
        result: dict[UUID, Message] = {}

        def attempt() -> list[Aggregate]:
            loaded = self._load_many(message_ids)
            if len(loaded) != len(message_ids):
                raise MessageNotFound("a message to update is not stored")
            result.clear()
            for message_uuid in message_ids:
                message = loaded[message_uuid]
                assert isinstance(message, Message)
                command(message)
                result[message_uuid] = message
            return list(result.values())

        self._retrying(attempt)
        return result


_collector_pauses = 0  # replays running that paused the cycle collector
_collector_pauses_lock = threading.Lock()
_collector_was_enabled = False


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """The replay keeps a small state per message of the campaign: hundreds of
    thousands of objects that live until it ends, so Python's cycle collector would
    rescan all of them again and again (a fifth of a 1,000,000-event replay). Nothing
    the replay makes holds a reference cycle, so reference counting frees all of it
    anyway. The switch is the whole process's: the first replay to start turns the
    collector off (if it was on), the last to end turns it back on, so other threads
    are without it only while a replay runs."""
    global _collector_pauses, _collector_was_enabled
    with _collector_pauses_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_pauses_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()


def _paged(select: Callable[[int], Sequence[T]], size: int, position: Callable[[T], int]
           ) -> Iterator[T]:
    """Everything `select(after)` pages through: a page of up to `size` items after
    position `after` per call, until a page comes back short."""
    after = 0
    while True:
        page = select(after)
        yield from page
        if len(page) < size:
            return
        after = position(page[-1])


class _RouteCache:
    """Routes of one send call: the project's settings are read once, not per message."""

    def __init__(self, projects: ProjectDirectory, project_id: str) -> None:
        self.projects, self.project_id = projects, project_id
        self._routes: dict[tuple[str | None, str | None], Any] = {}

    def route(self, integration_id: str | None, sender: str | None) -> Any:
        key = (integration_id, sender)
        if key not in self._routes:
            self._routes[key] = self.projects.route(self.project_id, integration_id, sender)
        return self._routes[key]


def _apply_send_outcome(message: Message, outcome: SendOutcome, now: datetime) -> None:
    if isinstance(outcome, Accepted):
        message.accept(at=now, parts=outcome.parts)
    elif isinstance(outcome, Refused):
        message.refuse(at=now, status_code=outcome.status_code, error=outcome.error,
                       comment=outcome.comment)
    elif isinstance(outcome, StatusInAnswer):
        if outcome.outcome.is_final:
            message.record_report(outcome.outcome, received_at=now)
        else:
            message.accept(at=now, parts=outcome.outcome.parts)
    # Unknown: the message stays requested; never guess.


def _apply_lookup(message: Message, report: ProviderReport, now: datetime) -> None:
    outcome = report.outcome
    if outcome.is_final:
        message.record_report(outcome, received_at=now)
    elif message.status is MessageStatus.REQUESTED:
        # A log entry in flight proves the provider accepted the message.
        message.accept(at=outcome.sent_at or now, parts=outcome.parts)


def _detail(outcome: SendOutcome) -> str | None:
    if isinstance(outcome, Unknown):
        return outcome.reason
    if isinstance(outcome, Refused):
        return " ".join(str(p) for p in (outcome.status_code, outcome.error, outcome.comment) if p)
    return None
