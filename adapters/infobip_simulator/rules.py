"""The simulator's "magic numbers": what happens to a message, decided by its destination.

The last two digits of the destination pick a rule from RULES, which reads like the
table in README.md (keep the two in step). Everything here is pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from enum import Enum
from functools import lru_cache

import phonenumbers

from smsledger.domain.countries import COUNTRIES_WITHOUT_DELIVERY_REPORTS


@dataclass(frozen=True)
class Status:
    group_id: int
    group_name: str
    id: int
    name: str
    description: str


@dataclass(frozen=True)
class Error:
    group_id: int
    group_name: str
    id: int
    name: str
    description: str
    permanent: bool


# Status and error codes as Infobip documents them (see reference/infobip-api.md).
PENDING_ACCEPTED = Status(1, "PENDING", 26, "PENDING_ACCEPTED", "Message sent to next instance")
PENDING_ENROUTE = Status(1, "PENDING", 7, "PENDING_ENROUTE", "Message sent to next instance")
DELIVERED_TO_HANDSET = Status(
    3, "DELIVERED", 5, "DELIVERED_TO_HANDSET", "Message delivered to handset"
)
UNDELIVERABLE_NOT_DELIVERED = Status(
    2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED", "Message sent not delivered"
)
EXPIRED_EXPIRED = Status(4, "EXPIRED", 15, "EXPIRED_EXPIRED", "Message expired")
REJECTED_NETWORK = Status(5, "REJECTED", 6, "REJECTED_NETWORK", "Network is forbidden")
REJECTED_DESTINATION = Status(5, "REJECTED", 14, "REJECTED_DESTINATION", "Destination rejected")
REJECTED_DUPLICATE_MESSAGE_ID = Status(
    5, "REJECTED", 23, "REJECTED_DUPLICATE_MESSAGE_ID", "Duplicate message ID rejected"
)

NO_ERROR = Error(0, "OK", 0, "NO_ERROR", "No Error", False)
EC_UNIDENTIFIED_SUBSCRIBER = Error(
    1,
    "HANDSET_ERRORS",
    5,
    "EC_UNIDENTIFIED_SUBSCRIBER",
    "The number does not exist or it has not been assigned to any active subscriber "
    "in the operator's user database.",
    True,
)
EC_ABSENT_SUBSCRIBER_SM = Error(
    1,
    "HANDSET_ERRORS",
    6,
    "EC_ABSENT_SUBSCRIBER_SM",
    "The subscriber is absent: the handset is switched off or out of network coverage.",
    False,
)
EC_VALIDITY_EXPIRED = Error(
    3,
    "OPERATOR_ERRORS",
    4101,
    "EC_ValidityExpired",
    "The message could not be delivered within its validity period.",
    False,
)


class Timing(Enum):
    """When a report is posted, in real seconds from acceptance (values in SimulatorConfig)."""

    IMMEDIATE = "immediate"  # at once
    NORMAL = "normal"  # after report_delay
    LATE = "late"  # after late_report_delay; its doneAt lies late_report_days after sentAt


@dataclass(frozen=True)
class Report:
    """One delivery report the simulated network produces for a message."""

    status: Status
    error: Error = NO_ERROR
    timing: Timing = Timing.NORMAL
    # Simulated network time: how long after sentAt the report says it was done.
    done_after: timedelta = timedelta(seconds=3)


class Fault(Enum):
    """How the HTTP request carrying a faulty destination goes wrong.

    Listed worst first: a request carrying several faulty destinations suffers the worst.
    """

    DROP = "dropped connection"
    SERVER_ERROR = "HTTP 500"
    TOO_MANY_REQUESTS = "HTTP 429"
    # The request was read and its messages taken in, then the connection was closed
    # before the answer: the client cannot tell it from DROP, but Infobip has the messages.
    ACCEPTED_THEN_DROPPED = "accepted, then dropped connection"
    SLOW = "slow answer"


@dataclass(frozen=True)
class Outcome:
    summary: str
    reports: tuple[Report, ...]
    send_status: Status = PENDING_ACCEPTED
    fault: Fault | None = None
    fault_repeats: bool = False  # False: only the first request carrying the message fails
    # The customer's answer, posted to the inbound webhook after the reports (when the message
    # had a numeric sender and an inbound webhook URL is configured).
    reply: str | None = None


DELIVERED = Report(DELIVERED_TO_HANDSET)
PENDING = Report(PENDING_ENROUTE, done_after=timedelta(seconds=1))
REJECTED = Report(REJECTED_NETWORK, timing=Timing.IMMEDIATE, done_after=timedelta(seconds=0.2))
FAILED_PERMANENTLY = Report(UNDELIVERABLE_NOT_DELIVERED, EC_UNIDENTIFIED_SUBSCRIBER)
FAILED_TEMPORARILY = Report(UNDELIVERABLE_NOT_DELIVERED, EC_ABSENT_SUBSCRIBER_SM)
EXPIRED = Report(EXPIRED_EXPIRED, EC_VALIDITY_EXPIRED)
DELIVERED_LATE = Report(DELIVERED_TO_HANDSET, timing=Timing.LATE)

DEFAULT_OUTCOME = Outcome("delivered", (DELIVERED,))

# Keyed by the last two digits of the destination. README.md shows the same table.
RULES: dict[str, Outcome] = {
    "10": Outcome("pending, then delivered", (PENDING, DELIVERED)),
    "20": Outcome("rejected at once", (REJECTED,)),
    "21": Outcome("rejected in the send answer", (), send_status=REJECTED_DESTINATION),
    "30": Outcome("failed permanently", (FAILED_PERMANENTLY,)),
    "31": Outcome("failed temporarily", (FAILED_TEMPORARILY,)),
    "40": Outcome("expired", (EXPIRED,)),
    "50": Outcome("delivered, the report posted twice", (DELIVERED, DELIVERED)),
    "60": Outcome("out of order: delivered, then an older pending", (DELIVERED, PENDING)),
    "70": Outcome("no report, ever", ()),
    "80": Outcome("delivered, the report late", (DELIVERED_LATE,)),
    "85": Outcome("delivered, then the customer replies STOP", (DELIVERED,), reply="STOP"),
    "86": Outcome("delivered, then the customer replies YES", (DELIVERED,), reply="YES"),
    "87": Outcome("delivered, then an NPS answer", (DELIVERED,), reply="9 great service"),
    "88": Outcome(
        "delivered, then a reply with STOP not first", (DELIVERED,), reply="I will not stop buying"
    ),
    "90": Outcome("HTTP 500 once, then delivered", (DELIVERED,), fault=Fault.SERVER_ERROR),
    "91": Outcome("HTTP 500 always", (), fault=Fault.SERVER_ERROR, fault_repeats=True),
    "92": Outcome("HTTP 429 once, then delivered", (DELIVERED,), fault=Fault.TOO_MANY_REQUESTS),
    "93": Outcome("slow answer once, delivered", (DELIVERED,), fault=Fault.SLOW),
    "94": Outcome("dropped once, then delivered", (DELIVERED,), fault=Fault.DROP),
    "95": Outcome("dropped always", (), fault=Fault.DROP, fault_repeats=True),
    "96": Outcome("accepted, dropped once, delivered", (DELIVERED,),
                  fault=Fault.ACCEPTED_THEN_DROPPED),
}


def outcome_for(destination: str) -> Outcome:
    """The outcome for a destination in Infobip's form (international digits, no "+")."""
    outcome = RULES.get(destination[-2:], DEFAULT_OUTCOME)
    if country_of(destination) in COUNTRIES_WITHOUT_DELIVERY_REPORTS:
        # The country rule wins (no reports, no reply), except that a faulty server stays
        # faulty whatever the destination.
        base = outcome if outcome.fault else DEFAULT_OUTCOME
        return replace(base, summary="no reports from this country", reports=())
    return outcome


def fault_strikes(outcome: Outcome, seen_before: bool) -> Fault | None:
    """The fault a request suffers, given whether an earlier request carried the same message."""
    if outcome.fault is None or (seen_before and not outcome.fault_repeats):
        return None
    return outcome.fault


def worst(faults: set[Fault]) -> Fault | None:
    return next((fault for fault in Fault if fault in faults), None)


def country_of(destination: str) -> str | None:
    return number_facts(destination)[1]


@lru_cache(maxsize=16_384)
def number_facts(destination: str) -> tuple[bool, str | None]:
    """Whether a destination in Infobip's form is a valid number, and its country.
    Cached: a request asks about each of its destinations several times (validation,
    outcome rule, fault rule, report), and parsing is most of the simulator's work."""
    try:
        number = phonenumbers.parse("+" + destination)
    except phonenumbers.NumberParseException:
        return False, None
    return phonenumbers.is_valid_number(number), phonenumbers.region_code_for_number(number)
