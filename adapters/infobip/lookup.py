"""Recovery lookups: what Infobip knows of messages whose fate we lost.

`pulled_reports`: `GET /sms/3/reports` or `GET /mms/2/reports`, reports that were not
pushed to a webhook. Infobip returns each of those once only, so they are handed to
the caller one request's worth at a time, to be stored before the next request. `logs`: `GET /sms/3/logs` for the messages still
without a report: a log tells whether Infobip accepted a message whose send answer
was lost, and its latest status. Infobip documents no logs for MMS, so an MMS is
known from its reports alone. (Infobip keeps both for 48 hours.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

import httpx

from smsledger.adapters.infobip.accounts import AccountDirectory
from smsledger.adapters.infobip.addresses import ProviderAddresses, VettedTransport
from smsledger.adapters.infobip.observer import (
    CONNECT_ERROR,
    TRANSPORT_ERROR,
    InfobipObserver,
    NoObserver,
)
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
                 addresses: ProviderAddresses | None = None,
                 observer: InfobipObserver | None = None) -> None:
        """`addresses`: where it may connect; default public addresses only. `observer`
        hears of every request (the service's metrics)."""
        self.observer: InfobipObserver = observer or NoObserver()
        self.accounts = accounts
        self.timeout = timeout
        self.addresses = addresses or ProviderAddresses(allow_private_networks=False)

    def pulled_reports(self, project_id: str, integration_id: str,
                       message_ids: Sequence[str], *, kind: str
                       ) -> Iterator[list[ProviderReport]]:
        return self._ask(project_id, integration_id, REPORTS_PATHS.get(kind), message_ids)

    def logs(self, project_id: str, integration_id: str, message_ids: Sequence[str], *,
             kind: str) -> list[ProviderReport]:
        return [report for group in self._ask(project_id, integration_id,
                                              LOGS_PATHS.get(kind), message_ids)
                for report in group]

    def _ask(self, project_id: str, integration_id: str, path: str | None,
             message_ids: Sequence[str]) -> Iterator[list[ProviderReport]]:
        """What Infobip answers at `path` for these ids, one request's worth at a time
        (as many ids per request as its URL takes), each request made only once the
        caller took the previous one's answer."""
        account = self.accounts.account(project_id, integration_id)
        if account is None or path is None or not message_ids:
            return
        headers = {"Authorization": f"App {account.api_key}", "Accept": "application/json"}
        # Through the vetted transport, as sends go: an integration's base URL may
        # name (or come to resolve to) an address the operator did not allow.
        with httpx.Client(base_url=account.base_url, timeout=self.timeout, headers=headers,
                          transport=VettedTransport(self.addresses)) as client:
            for ids in _id_groups(message_ids):
                yield self._fetch(client, integration_id, path, ids)

    def _fetch(self, client: httpx.Client, integration_id: str, path: str, ids: list[str]
               ) -> list[ProviderReport]:
        started = time.perf_counter()
        outcome = TRANSPORT_ERROR
        try:
            response = client.get(path, params={"messageId": ",".join(ids), "limit": 1000})
            outcome = str(response.status_code)
        except httpx.ConnectError:
            outcome = CONNECT_ERROR
            raise
        finally:
            self.observer.infobip_call(integration_id, path, outcome,
                                       time.perf_counter() - started)
        response.raise_for_status()
        found: list[ProviderReport] = []
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
