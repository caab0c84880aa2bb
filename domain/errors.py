"""Named errors for invalid input to the domain.

Each error says what was wrong in words a caller can show; none of them is raised
after an event has been triggered, so a refused command records nothing.
"""


class DomainError(ValueError):
    """Base class: the command was refused and nothing was recorded."""


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
