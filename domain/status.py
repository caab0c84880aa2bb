"""The words for where a message stands."""

from enum import Enum


class MessageStatus(str, Enum):
    REQUESTED = "requested"  # stored, provider not (yet) known to have accepted it
    ENQUEUED = "enqueued"  # the provider accepted it
    ENQUEUE_FAILED = "enqueue_failed"  # the provider refused the send request
    DELIVERED = "delivered"
    REJECTED = "rejected"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {MessageStatus.ENQUEUE_FAILED, MessageStatus.DELIVERED, MessageStatus.REJECTED,
     MessageStatus.FAILED}
)


class WindowOutcome(str, Enum):
    """How a waiting window closed without a final report."""

    NO_REPORT_EXPECTED = "no_report_expected"  # destination country never reports
    NO_REPORT_RECEIVED = "no_report_received"


class ReportEffect(str, Enum):
    """Why a delivery report changed no status; recorded for audit."""

    PENDING = "pending"  # non-final report: in flight
    DUPLICATE = "duplicate"  # the same report (status and done time) seen before
    SUPERSEDED = "superseded"  # non-final report after the final status
    CONFLICTING = "conflicting"  # another final report after the final status
