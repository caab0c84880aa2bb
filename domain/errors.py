"""smsledger's errors: one tree, a few kinds, each mapped once at the edges.

| kind | HTTP | CLI exit |
|---|---|---|
| NotFound | 404 | 1 |
| Conflict | 409 | 1 |
| Refused (a `code` such as `consent_missing`, `number_invalid`) | 409 | 1 |
| InvalidInput (DomainError among them) | 422 | 2 |
| StoreUnavailable | 503 (so Infobip retries) | 1 |

They live here, in the innermost layer, so that the domain's own errors can be of
these kinds too. Each says what was wrong in words a caller can show; none of the
domain's is raised after an event has been triggered, so a refused command records
nothing.
"""

from __future__ import annotations

from typing import Any


class SmsledgerError(Exception):
    """Base of every error smsledger raises on purpose. `code` names the case for
    machines (the HTTP answer's `error.code`), `details` adds what helps fix it."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.details = details


class NotFound(SmsledgerError, LookupError):
    code = "not_found"
    # What an HTTP answer says: no more, so another project's ids do not show.
    public_message = "no such resource"


class Conflict(SmsledgerError):
    code = "conflict"


class Refused(Conflict):
    """A policy refused the command (`code` says which); nothing was stored."""

    code = "refused"


class InvalidInput(SmsledgerError, ValueError):
    code = "invalid_request"


class StoreUnavailable(SmsledgerError):
    """The store could not be reached or kept changing under us: try again later."""

    code = "store_unavailable"


class DomainError(InvalidInput):
    """The domain refused a command: nothing was recorded."""


class InvalidPhoneNumber(DomainError):
    pass


class EmptyContent(DomainError):
    pass


class InvalidContent(DomainError):
    pass


class UnknownStatusGroup(DomainError):
    pass


class InvalidOutcome(DomainError):
    pass


class InvalidEventName(DomainError):
    pass


class InvalidWaitingWindow(DomainError):
    pass


class WrongMessage(DomainError):
    """A report or outcome was addressed to another message than the one given."""
