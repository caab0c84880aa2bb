"""Recovery lookups: what Infobip knows of messages whose fate we lost.

`pulled_reports`: `GET /sms/3/reports` or `GET /mms/2/reports`, reports that were not
pushed to a webhook. Infobip returns each of those once only, so the caller stores
them before asking anything else. `logs`: `GET /sms/3/logs` for the messages still
without a report: a log tells whether Infobip accepted a message whose send answer
was lost, and its latest status. Infobip documents no logs for MMS, so an MMS is
known from its reports alone. (Infobip keeps both for 48 hours.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from smsledger.adapters.infobip.accounts import AccountDirectory
from smsledger.adapters.infobip.addresses import ProviderAddresses, VettedTransport
from smsledger.adapters.infobip.outcomes import outcome_from_infobip
from smsledger.application.commands import ProviderReport
from smsledger.application.ports import DeliveryLookup
from smsledger.domain.errors import DomainError

log = logging.getLogger("smsledger.infobip.lookup")

REPORTS_PATHS = {"sms": "/sms/3/reports", "mms": "/mms/2/reports"}
LOGS_PATHS = {"sms": "/sms/3/logs"}
MAX_IDS_PARAMETER = 2048  # characters of comma-separated ids Infobip accepts


class InfobipLookup(DeliveryLookup):
    def __init__(self, accounts: AccountDirectory, *,
                 timeout: httpx.Timeout = httpx.Timeout(10.0, connect=5.0),
                 addresses: ProviderAddresses | None = None) -> None:
        """`addresses`: where it may connect; default public addresses only."""
        self.accounts = accounts
        self.timeout = timeout
        self.addresses = addresses or ProviderAddresses(allow_private_networks=False)

    def pulled_reports(self, project_id: str, integration_id: str,
                       message_ids: Sequence[str], *, kind: str) -> list[ProviderReport]:
        return self._ask(project_id, integration_id, REPORTS_PATHS.get(kind), message_ids)

    def logs(self, project_id: str, integration_id: str, message_ids: Sequence[str], *,
             kind: str) -> list[ProviderReport]:
        return self._ask(project_id, integration_id, LOGS_PATHS.get(kind), message_ids)

    def _ask(self, project_id: str, integration_id: str, path: str | None,
             message_ids: Sequence[str]) -> list[ProviderReport]:
        account = self.accounts.account(project_id, integration_id)
        if account is None or path is None or not message_ids:
            return []
        headers = {"Authorization": f"App {account.api_key}", "Accept": "application/json"}
        with httpx.Client(base_url=account.base_url, timeout=self.timeout,
                          headers=headers) as client:
            return self._fetch(client, path, message_ids)

    def _fetch(self, client: httpx.Client, path: str,
               message_ids: Sequence[str]) -> list[ProviderReport]:
        found: list[ProviderReport] = []
        for ids in _id_groups(message_ids):
            response = client.get(path, params={"messageId": ",".join(ids), "limit": 1000})
            response.raise_for_status()
            for entry in response.json().get("results") or []:
                try:
                    found.append(ProviderReport(entry["messageId"], outcome_from_infobip(entry),
                                                raw=entry))
                except (KeyError, TypeError, ValueError, DomainError) as exc:
                    # It settles nothing: the message stays open for the next round.
                    log.warning("unreadable Infobip entry from %s skipped: %s", path, exc)
        return found


def _id_groups(message_ids: Sequence[str]) -> list[list[str]]:
    groups: list[list[str]] = [[]]
    length = 0
    for message_id in message_ids:
        if groups[-1] and length + len(message_id) + 1 > MAX_IDS_PARAMETER:
            groups.append([])
            length = 0
        groups[-1].append(message_id)
        length += len(message_id) + 1
    return groups
