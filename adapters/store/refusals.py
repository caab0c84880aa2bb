"""Values a store refuses, told apart from a store that is unavailable.

A NUL in PostgreSQL text, a number out of a column's range, a key too long for an
index, an integer or a lone surrogate the event transcoder cannot write: the input
is at fault, not the store, and asking again would fail for ever. So these are
answered 422 (UnstorableValue, an InvalidInput), never 503 ("retry later"), which
would have Infobip retry a bad callback without end.
"""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg.errors
from eventsourcing.persistence import DataError

from smsledger.domain.errors import InvalidInput

# The drivers' errors about a value (the library's DataError wraps the drivers' own).
STORE_DATA_ERRORS = (DataError, psycopg.DataError, psycopg.errors.ProgramLimitExceeded,
                     sqlite3.DataError)


class UnstorableValue(InvalidInput):
    """A value of the request the store cannot hold; nothing was stored."""

    code = "unstorable_input"


def refused_a_value(exc: BaseException) -> bool:
    """Whether a store error is about a value, not the store: the library wraps the
    drivers' errors (ProgramLimitExceeded into its OperationalError), so the cause
    counts too."""
    return isinstance(exc, STORE_DATA_ERRORS) or isinstance(exc.__cause__, STORE_DATA_ERRORS)


def refusal_message(exc: BaseException) -> str:
    """What to answer: the kind of error only, as the database's message may quote
    the value (a secret, or text the answer cannot carry)."""
    return f"the store refused a value of this request ({type(exc).__name__})"
