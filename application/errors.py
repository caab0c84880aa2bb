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


class MessageIdReused(Conflict):
    """A message id already stands for another request (another number, text or
    customer): sending under it would silently drop this one."""

    code = "message_id_reused"


class MessageNotFound(NotFound):
    public_message = "no such message"


class ProjectNotFound(NotFound):
    pass


class CampaignNotFound(NotFound):
    """No message was ever requested for the campaign."""

    public_message = "no such campaign: no message was ever requested for it"


class ProjectExists(Conflict):
    pass


class ConcurrencyConflict(StoreUnavailable):
    """The same aggregates kept changing under us, retry after retry."""
