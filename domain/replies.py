"""Reading a customer's reply: its keyword and its NPS score.

A keyword matches only as the first word, case-insensitively ("stop" inside a
sentence is not a STOP: peer platforms got this wrong). An NPS answer starts with
a score from 0 to 10.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from smsledger.domain.errors import DomainError

_FIRST_WORD = re.compile(r"^\s*([^\W_]+)", re.UNICODE)
_SCORE = re.compile(r"^\s*(\d{1,2})(?!\d)")


class KeywordAction(str, Enum):
    REVOKE = "revoke"  # the keyword's category
    GRANT = "grant"  # the keyword's category: a customer's own request (START)
    # Only confirms a double opt-in the number is waiting on (of any category): a YES
    # nobody asked for grants nothing, or any "yes please" would subscribe.
    CONFIRM = "confirm"
    NONE = "none"


class InvalidKeyword(DomainError):
    pass


@dataclass(frozen=True)
class KeywordRule:
    keyword: str  # upper case
    action: KeywordAction
    category: str = "sms_marketing"
    answer: str | None = None  # sent back automatically, when set


_UNSUBSCRIBED = ("You are unsubscribed and will receive no more messages. "
                 "Reply START to resubscribe.")
DEFAULT_KEYWORDS = (
    KeywordRule("STOP", KeywordAction.REVOKE, answer=_UNSUBSCRIBED),
    KeywordRule("UNSUBSCRIBE", KeywordAction.REVOKE, answer=_UNSUBSCRIBED),
    KeywordRule("START", KeywordAction.GRANT,
                answer="You are subscribed again. Reply STOP to unsubscribe."),
    KeywordRule("YES", KeywordAction.CONFIRM,
                answer="Thank you, your subscription is confirmed. Reply STOP to unsubscribe."),
)


# One word of letters or digits (any script). The HTTP service states the same pattern in
# its OpenAPI document (with ^...$ around it).
KEYWORD_PATTERN = r"[^\W_]{1,32}"
KEYWORD_MAX_LENGTH = 32


def normalise_keyword(keyword: object) -> str:
    if not isinstance(keyword, str) or not re.fullmatch(KEYWORD_PATTERN, keyword.strip()):
        raise InvalidKeyword(f"keyword {keyword!r} must be one word of 1-32 letters or digits")
    return keyword.strip().upper()


def first_word(text: str) -> str | None:
    found = _FIRST_WORD.match(text or "")
    return found.group(1).upper() if found else None


def nps_score(text: str) -> int | None:
    found = _SCORE.match(text or "")
    if not found:
        return None
    score = int(found.group(1))
    return score if 0 <= score <= 10 else None
