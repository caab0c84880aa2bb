"""The application's errors, of the kinds smsledger.domain.errors declares."""

from __future__ import annotations

from smsledger.domain.errors import Conflict, InvalidInput, NotFound, StoreUnavailable


class InvalidSendRequest(InvalidInput):
    """A request in a send batch is invalid; `index` says which. Nothing was stored."""

    code = "invalid_message"

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"message {index}: {reason}", details={"index": index, "reason": reason})
        self.index = index
        self.reason = reason


class MessageNotFound(NotFound):
    public_message = "no such message"


class ProjectNotFound(NotFound):
    pass


class ProjectExists(Conflict):
    pass


class ConcurrencyConflict(StoreUnavailable):
    """The same aggregates kept changing under us, retry after retry."""
