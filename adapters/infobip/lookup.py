"""Reconciliation lookups: Infobip's message logs, `GET /sms/3/logs`.

A log tells whether Infobip accepted a message whose send answer was lost, and
its latest status when its delivery report was lost. (Infobip keeps logs for 48
hours; `/sms/3/reports` only returns reports that were not pushed to a webhook.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx

from adapters.infobip.accounts import AccountDirectory
from adapters.infobip.outcomes import outcome_from_infobip
from application.commands import ProviderReport
from application.ports import DeliveryLookup
from domain.errors import DomainError

log = logging.getLogger("smsledger.infobip.lookup")

LOGS_PATH = "/sms/3/logs"
MAX_IDS_PARAMETER = 2048  # characters of comma-separated ids Infobip accepts


class InfobipLookup(DeliveryLookup):
    def __init__(self, accounts: AccountDirectory, *,
                 timeout: httpx.Timeout = httpx.Timeout(10.0, connect=5.0)) -> None:
        self.accounts = accounts
        self.timeout = timeout

    def lookup(self, project_id: str, integration_id: str,
               message_ids: Sequence[str]) -> list[ProviderReport]:
        account = self.accounts.account(project_id, integration_id)
        if account is None or not message_ids:
            return []
        found: list[ProviderReport] = []
        headers = {"Authorization": f"App {account.api_key}", "Accept": "application/json"}
        with httpx.Client(base_url=account.base_url, timeout=self.timeout) as client:
            for ids in _id_groups(message_ids):
                response = client.get(LOGS_PATH, headers=headers,
                                      params={"messageId": ",".join(ids), "limit": 1000})
                response.raise_for_status()
                for entry in response.json().get("results") or []:
                    try:
                        found.append(ProviderReport(entry["messageId"], outcome_from_infobip(entry),
                                                    raw=entry))
                    except (KeyError, TypeError, ValueError, DomainError) as exc:
                        # It settles nothing: the message stays open for the next round.
                        log.warning("unreadable Infobip log entry skipped: %s", exc)
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
