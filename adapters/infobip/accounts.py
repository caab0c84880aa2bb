"""Which Infobip account a project's integration sends through."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class InfobipAccount:
    base_url: str  # the account's own, e.g. https://xyz.api.infobip.com
    api_key: str = field(repr=False)  # never printed or logged
    # Where Infobip posts delivery reports, with its Basic-auth credentials in the
    # userinfo part; None sends without a webhook (reports are then pulled).
    delivery_webhook_url: str | None = field(default=None, repr=False)


class AccountUnusable(Exception):
    """The integration exists but cannot be sent through (the message says why and
    what to do): a refusal of the send, not an unknown integration."""


class AccountDirectory(ABC):
    @abstractmethod
    def account(self, project_id: str, integration_id: str) -> InfobipAccount | None:
        """The account, or None when the project has no such integration;
        AccountUnusable when it has one that cannot be used."""


class StaticAccounts(AccountDirectory):
    """A fixed table, for the demo, tests and simple embeddings."""

    def __init__(self, accounts: Mapping[tuple[str, str], InfobipAccount]) -> None:
        self._accounts = dict(accounts)

    def account(self, project_id: str, integration_id: str) -> InfobipAccount | None:
        return self._accounts.get((project_id, integration_id))

    def add(self, project_id: str, integration_id: str, account: InfobipAccount) -> None:
        self._accounts[(project_id, integration_id)] = account
