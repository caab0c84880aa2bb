"""The Message aggregate: one SMS or MMS to one phone number, and what became of it.

    requested --provider accepted--> enqueued --report--> delivered | rejected | failed
        |                               |
        +--provider refused,            +--window passed, no final report--> window closed
        |  or never accepted after
        |  every attempt--> enqueue_failed

While requested, each hand-over to the provider is recorded before the request goes
out, so a message never handed over (a crash between storing and calling) is known
to be safe to send, and one handed over is never sent again without asking first.

Every change is an event whose timestamp is the domain's own time (the provider's
done-at time where there is one), passed in by the caller: this module reads no
clock and makes no random ids. Public methods are guards: they decide, then
trigger at most a few events; repeating a command that is already satisfied
records nothing, and a refused command raises before anything is triggered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from smsledger.domain.content import Content
from smsledger.domain.countries import expects_delivery_reports
from smsledger.domain.errors import InvalidWaitingWindow
from smsledger.domain.identifiers import NameBasedIds
from smsledger.domain.outcome import DeliveryOutcome, StatusGroup, outcome_identity
from smsledger.domain.phone import PhoneNumber
from smsledger.domain.status import MessageStatus, ReportEffect, WindowOutcome

DEFAULT_WAITING_WINDOW = timedelta(days=4)

_MESSAGE_IDS = NameBasedIds("urn:smsledger:message")


def message_aggregate_id(project_id: str, message_id: str) -> UUID:
    """Deterministic: creating the same message twice fails instead of duplicating it."""
    return _MESSAGE_IDS.id_for(project_id, message_id)


@dataclass(frozen=True)
class MessageIdentity:
    """Who and what a message is about: everything a campaign event needs to name."""

    project_id: str
    message_id: str
    integration_id: str
    customer_id: str
    campaign_id: str | None
    action_id: str | None
    recipient: str
    sender: str | None
    local_parts: int


class Message(Aggregate):
    class Requested(Aggregate.Created):
        project_id: str
        message_id: str
        integration_id: str
        customer_id: str
        campaign_id: str | None
        action_id: str | None
        recipient: str
        country: str | None
        sender: str | None
        content: dict[str, Any]
        parts: int
        encoding: str
        expects_report: bool
        window_seconds: int
        # Written True since hand-overs are recorded (0.3.0); a message requested before
        # may have been handed over without a record, so it is sent again only as a
        # resend (an "already have it" answer then means accepted). Stored events
        # without it read the class default.
        handovers_recorded: bool = False

        def identity(self) -> MessageIdentity:
            return MessageIdentity(
                project_id=self.project_id, message_id=self.message_id,
                integration_id=self.integration_id, customer_id=self.customer_id,
                campaign_id=self.campaign_id, action_id=self.action_id,
                recipient=self.recipient, sender=self.sender, local_parts=self.parts,
            )

        # The library declares mutate generic in the aggregate type; this one only ever
        # builds a Message, so it narrows the signature.
        def mutate(self, aggregate: Message | None) -> Message:  # type: ignore[override]
            # The library's Created.mutate finds the aggregate's constructor parameters by
            # reflection on every rebuild, and a Message takes none beyond the base ones:
            # every report loads one. The same steps, without the reflection
            # (tests/unit/test_message.py checks both build the same message).
            message = Message.__new__(Message)
            message.__base_init__(self.originator_id, self.originator_version, self.timestamp)
            self.apply(message)
            return message

        def apply(self, message: Message) -> None:
            message._requested = self  # identity is built from it when first asked for
            message.country = self.country
            message.content = self.content
            message.encoding = self.encoding
            message.expects_report = self.expects_report
            message.window = timedelta(seconds=self.window_seconds)
            message.requested_at = self.timestamp
            message.status = MessageStatus.REQUESTED
            message.enqueued_at = None
            message.parts = self.parts
            message.final_outcome = None
            message.window_closed = None
            message.late = False
            message.seen_reports = {}
            message.handovers = 0
            message.may_have_been_sent_unrecorded = not self.handovers_recorded
            message.handed_over_at = None

    class Enqueued(Aggregate.Event):
        parts: int | None
        implied_by_report: bool  # a final report came before the send answer

        def apply(self, message: Message) -> None:
            message.status = MessageStatus.ENQUEUED
            message.enqueued_at = self.timestamp
            if self.parts:
                message.parts = self.parts

    class HandedOver(Aggregate.Event):
        """Recorded just before the message's request goes to the provider: from here
        on the provider may have it."""

        attempt: int

        def apply(self, message: Message) -> None:
            message.handovers = self.attempt
            message.handed_over_at = self.timestamp

    class EnqueueFailed(Aggregate.Event):
        status_code: int
        error: str | None
        comment: str | None

        def apply(self, message: Message) -> None:
            message.status = MessageStatus.ENQUEUE_FAILED

    class FinalReportApplied(Aggregate.Event):
        """Base of the three final statuses a delivery report can bring."""

        outcome: dict[str, Any]
        received_at: datetime
        late: bool

        def apply(self, message: Message) -> None:
            # Read from the stored form: this runs for every report on every load.
            outcome = self.outcome
            # Only final groups reach here, whose final_status is never None.
            message.status = StatusGroup[outcome["group"]].final_status  # type: ignore[assignment]
            message.final_outcome = outcome
            message.late = self.late
            message.seen_reports[outcome_identity(outcome)] = True
            if outcome.get("parts"):
                message.parts = outcome["parts"]

    class Delivered(FinalReportApplied):
        pass

    class Rejected(FinalReportApplied):
        pass

    class Failed(FinalReportApplied):
        pass

    class ReportNoted(Aggregate.Event):
        """A report kept for audit that changed no status; `effect` says why."""

        outcome: dict[str, Any]
        received_at: datetime
        effect: str

        def apply(self, message: Message) -> None:
            message.seen_reports[outcome_identity(self.outcome)] = True

    class SendAnswerIgnored(Aggregate.Event):
        """A provider answer that contradicts what reports already established."""

        answer: str
        detail: dict[str, Any]

    class WindowClosed(Aggregate.Event):
        outcome: str

        def apply(self, message: Message) -> None:
            message.window_closed = WindowOutcome(self.outcome)

    # State, set only by the events' apply() methods. Declared for the type checker
    # only: annotations seen at run time would make the library treat them as
    # constructor arguments.
    if TYPE_CHECKING:
        _requested: Message.Requested
        _identity: MessageIdentity | None
        country: str | None
        content: dict[str, Any]
        encoding: str
        expects_report: bool
        window: timedelta
        requested_at: datetime
        status: MessageStatus
        enqueued_at: datetime | None
        parts: int
        final_outcome: dict[str, Any] | None  # the stored form of DeliveryOutcome.to_dict
        window_closed: WindowOutcome | None
        late: bool
        seen_reports: dict[str, bool]
        handovers: int
        handed_over_at: datetime | None
        may_have_been_sent_unrecorded: bool

    @classmethod
    def request(
        cls,
        *,
        project_id: str,
        message_id: str,
        integration_id: str,
        customer_id: str,
        recipient: PhoneNumber,
        content: Content,
        sender: str | None,
        campaign_id: str | None,
        action_id: str | None,
        requested_at: datetime,
        waiting_window: timedelta = DEFAULT_WAITING_WINDOW,
    ) -> Message:
        """A message stored before the provider is called, under an id we chose."""
        if waiting_window <= timedelta(0):
            raise InvalidWaitingWindow(f"the waiting window must be positive, got {waiting_window}")
        counted = content.part_count()
        return cls._create(
            cls.Requested,
            id=message_aggregate_id(project_id, message_id),
            timestamp=requested_at,
            project_id=project_id,
            message_id=message_id,
            integration_id=integration_id,
            customer_id=customer_id,
            campaign_id=campaign_id,
            action_id=action_id,
            recipient=recipient.e164,
            country=recipient.country,
            sender=sender,
            content=content.to_dict(),
            parts=counted.parts,
            encoding=counted.encoding.value,
            expects_report=expects_delivery_reports(recipient.country),
            window_seconds=int(waiting_window.total_seconds()),
            handovers_recorded=True,
        )

    @property
    def identity(self) -> MessageIdentity:
        # Built on first use, not on every load: applying a delivery report, the
        # commonest load by far, never needs it.
        if self._identity is None:
            self._identity = self._requested.identity()
        return self._identity

    _identity = None  # no annotation: the library would make it a constructor argument

    @property
    def window_closes_at(self) -> datetime | None:
        return self.enqueued_at + self.window if self.enqueued_at else None

    @property
    def is_pending(self) -> bool:
        """Enqueued, no final status yet, and the window still open."""
        return self.status is MessageStatus.ENQUEUED and self.window_closed is None

    def same_request(self, other: Message) -> bool:
        """Whether `other`, built from a new request under the same id, asks for what
        this message asked for: then it is a repeat, not a reuse of the id."""
        return _what_was_asked(self._requested) == _what_was_asked(other._requested)

    # --- commands -----------------------------------------------------------------

    @property
    def is_resend(self) -> bool:
        """Whether the provider may already have this message from an earlier hand-over
        (the latest one aside)."""
        return self.handovers > 1 or self.may_have_been_sent_unrecorded

    def hand_over(self, *, at: datetime) -> bool:
        """About to hand the message to the provider (again); False, recording
        nothing, once the provider's answer or a report has settled it."""
        if self.status is not MessageStatus.REQUESTED:
            return False
        self.trigger_event(self.HandedOver, timestamp=at, attempt=self.handovers + 1)
        return True

    def give_up(self, *, at: datetime, reason: str, comment: str) -> None:
        """Every attempt is used up and the provider never accepted the message."""
        if self.status is MessageStatus.REQUESTED:
            self.trigger_event(self.EnqueueFailed, timestamp=at, status_code=0, error=reason,
                               comment=comment)

    def accept(self, *, at: datetime, parts: int | None = None) -> None:
        """The provider accepted the send request."""
        if self.status is MessageStatus.REQUESTED:
            self.trigger_event(self.Enqueued, timestamp=at, parts=parts, implied_by_report=False)
        elif self.status is MessageStatus.ENQUEUE_FAILED:
            self.trigger_event(self.SendAnswerIgnored, timestamp=at, answer="accepted",
                               detail={"parts": parts})
        # Already enqueued or further: a report got here first; the answer adds nothing.

    def refuse(self, *, at: datetime, status_code: int, error: str | None,
               comment: str | None) -> None:
        """The provider definitely refused the send request (an HTTP 4xx)."""
        if self.status is MessageStatus.REQUESTED:
            self.trigger_event(self.EnqueueFailed, timestamp=at, status_code=status_code,
                               error=error, comment=comment)
        elif self.status is not MessageStatus.ENQUEUE_FAILED:
            self.trigger_event(
                self.SendAnswerIgnored, timestamp=at, answer="refused",
                detail={"status_code": status_code, "error": error, "comment": comment},
            )

    def record_report(self, outcome: DeliveryOutcome, *, received_at: datetime) -> None:
        """Apply a delivery report (or a status in the send answer) idempotently."""
        event_time = outcome.done_at or received_at
        stored = outcome.to_dict()  # what the event keeps; its identity is read from it
        if outcome_identity(stored) in self.seen_reports:
            self._note(stored, received_at, event_time, ReportEffect.DUPLICATE)
        elif not outcome.is_final:
            effect = ReportEffect.SUPERSEDED if self.status.is_final else ReportEffect.PENDING
            self._note(stored, received_at, event_time, effect)
        elif self.status.is_final:
            self._note(stored, received_at, event_time, ReportEffect.CONFLICTING)
        else:
            if self.status is MessageStatus.REQUESTED:
                # Infobip only reports on messages it accepted: the send answer was
                # lost or is still on its way.
                accepted_at = outcome.sent_at or event_time
                self.trigger_event(self.Enqueued, timestamp=accepted_at, parts=outcome.parts,
                                   implied_by_report=True)
            # Late is a fact of the times (the report's own or its arrival), whether or
            # not the window-closing job has run yet.
            closes_at = self.window_closes_at
            late = closes_at is not None and max(event_time, received_at) > closes_at
            self.trigger_event(
                _FINAL_EVENT[outcome.final_status], timestamp=event_time,
                outcome=stored, received_at=received_at, late=late,
            )

    def close_window_if_due(self, now: datetime) -> bool:
        """Close the waiting window once it has passed without a final report."""
        closes_at = self.window_closes_at
        if (self.status is not MessageStatus.ENQUEUED or self.window_closed is not None
                or closes_at is None or now < closes_at):
            return False
        outcome = (WindowOutcome.NO_REPORT_RECEIVED if self.expects_report
                   else WindowOutcome.NO_REPORT_EXPECTED)
        self.trigger_event(self.WindowClosed, timestamp=closes_at, outcome=outcome.value)
        return True

    def _note(self, stored_outcome: dict[str, Any], received_at: datetime,
              event_time: datetime, effect: ReportEffect) -> None:
        self.trigger_event(self.ReportNoted, timestamp=event_time, outcome=stored_outcome,
                           received_at=received_at, effect=effect.value)


def _what_was_asked(requested: Message.Requested) -> tuple[Any, ...]:
    """Who, what, from where and for what: a request's substance, its id aside."""
    return (requested.integration_id, requested.customer_id, requested.campaign_id,
            requested.action_id, requested.recipient, requested.sender, requested.content)

# Looked up with DeliveryOutcome.final_status (Optional in general, never None for
# the final outcomes that reach the lookup).
_FINAL_EVENT: dict[MessageStatus | None, type[Message.FinalReportApplied]] = {
    MessageStatus.DELIVERED: Message.Delivered,
    MessageStatus.REJECTED: Message.Rejected,
    MessageStatus.FAILED: Message.Failed,
}
