"""InfobipProvider: the SMS provider port, implemented over Infobip's HTTP API.

How answers become outcomes (design.md, "The message lifecycle"):
- 2xx: each message's status: PENDING/ACCEPTED -> Accepted (with Infobip's part
  count), a final group such as REJECTED -> StatusInAnswer.
- 4xx (but 429): a definite refusal -> SendRefused, with the HTTP status and Infobip's
  error text. Violations that name single messages refuse only those; the rest
  of the batch is sent again.
- 429 and 5xx: retried with capped exponential backoff and full jitter; a 429
  that persists is a refusal, a 5xx that persists is ambiguous -> Unknown.
- Timeouts and dropped connections: ambiguous, retried with the same message ids;
  if still unanswered -> Unknown, and the message stays requested.
- A base URL that resolves to a private address (adapters/infobip/addresses.py) is
  not connected to: a refusal, unless an earlier attempt may have got through.
Every retry resends the same body: no path sends a message under a new id.

What went wrong on the network (refused, reset, which status) is logged here, never
given back: the caller's reason is generic, so answers do not map what listens where.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from smsledger.adapters.infobip.accounts import AccountDirectory, AccountUnusable, InfobipAccount
from smsledger.adapters.infobip.addresses import AddressRefused, ProviderAddresses, VettedTransport
from smsledger.adapters.infobip.observer import (
    ADDRESS_REFUSED,
    CONNECT_ERROR,
    TRANSPORT_ERROR,
    InfobipObserver,
    NoObserver,
)
from smsledger.adapters.infobip.outcomes import outcome_from_infobip
from smsledger.adapters.infobip.requests import (
    MMS_PATH,
    SMS_PATH,
    mms_body,
    parse_error,
    sms_body,
)
from smsledger.application.ports import (
    Accepted,
    OutgoingMessage,
    SendOutcome,
    SendRefused,
    SmsProvider,
    StatusInAnswer,
    Unknown,
)
from smsledger.domain.errors import DomainError

log = logging.getLogger("smsledger.infobip.provider")

MAX_DESTINATIONS_PER_REQUEST = 1000
UNREACHABLE = "provider unreachable: no definite answer after {} attempts"
# Infobip's status for a messageId it already has: after an ambiguous attempt it
# means that attempt got through, so it is not a rejection of the message.
DUPLICATE_MESSAGE_ID_STATUS = "REJECTED_DUPLICATE_MESSAGE_ID"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5  # seconds before the first retry, doubled each time
    max_delay: float = 8.0

    def delay(self, retry_number: int, rng: random.Random) -> float:
        # Full jitter: many senders retrying after one outage do not retry in step.
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** retry_number))


class InfobipProvider(SmsProvider):
    def __init__(
        self,
        accounts: AccountDirectory,
        *,
        batch_size: int = MAX_DESTINATIONS_PER_REQUEST,
        timeout: httpx.Timeout = httpx.Timeout(10.0, connect=5.0),
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        addresses: ProviderAddresses | None = None,
        observer: InfobipObserver | None = None,
    ) -> None:
        """`addresses`: where it may connect; default public addresses only. `observer`
        hears of every request and retry (the service's metrics)."""
        if not 1 <= batch_size <= MAX_DESTINATIONS_PER_REQUEST:
            raise ValueError(f"batch_size must be 1..{MAX_DESTINATIONS_PER_REQUEST}")
        self.accounts = accounts
        self.batch_size = batch_size
        self.timeout = timeout
        self.retry = retry
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.addresses = addresses or ProviderAddresses(allow_private_networks=False)
        self.observer: InfobipObserver = observer or NoObserver()
        self._clients: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendOutcome]:
        groups: dict[tuple[str, str, str], list[OutgoingMessage]] = {}
        for message in messages:
            key = (message.project_id, message.integration_id, message.content.kind)
            groups.setdefault(key, []).append(message)
        outcomes: dict[str, SendOutcome] = {}
        for (project_id, integration_id, kind), group in groups.items():
            try:
                account = self.accounts.account(project_id, integration_id)
            except AccountUnusable as exc:
                outcomes.update({m.message_id: SendRefused(
                    m.message_id, 401, "API_KEY_UNREADABLE", str(exc)) for m in group})
                continue
            for start in range(0, len(group), self.batch_size):
                chunk = group[start:start + self.batch_size]
                if account is None:
                    outcomes.update({m.message_id: SendRefused(
                        m.message_id, 404, "INTEGRATION_NOT_CONFIGURED",
                        f"no Infobip integration {integration_id!r} in project {project_id!r}")
                        for m in chunk})
                else:
                    outcomes.update(self._send_chunk(account, kind, chunk, may_split=True))
        return [outcomes[m.message_id] for m in messages]

    def reaches(self, project_id: str, integration_id: str) -> bool:
        try:
            return self.accounts.account(project_id, integration_id) is not None
        except AccountUnusable:
            return True  # configured: send() refuses it, saying why and what to do

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> InfobipProvider:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- one request, with its retries --------------------------------------------------

    def _send_chunk(self, account: InfobipAccount, kind: str, chunk: list[OutgoingMessage],
                    *, may_split: bool) -> dict[str, SendOutcome]:
        path, build = (MMS_PATH, mms_body) if kind == "mms" else (SMS_PATH, sms_body)
        body = json.dumps(build(chunk, account.delivery_webhook_url)).encode()
        client = self._client(account.base_url)
        integration = chunk[0].integration_id  # a chunk is of one integration (send())
        ambiguous = False  # an earlier attempt may have been accepted
        last_problem = ""
        last_outcome = ""  # of the attempt before: why this one is a retry
        last_response: httpx.Response | None = None  # a 429/5xx answer, for Retry-After
        for attempt in range(self.retry.max_attempts):
            if attempt:
                self.sleep(self._retry_delay(attempt - 1, last_response))
                self.observer.infobip_retry(integration, path, last_outcome)
            last_response = None
            started = time.perf_counter()
            try:
                response = client.post(path, content=body, headers=_headers(account))
            except AddressRefused as exc:
                self._observe(integration, path, ADDRESS_REFUSED, started)
                if ambiguous:  # an earlier attempt may have been accepted
                    break
                return {m.message_id: SendRefused(m.message_id, 403, "PROVIDER_ADDRESS_REFUSED",
                                                  str(exc)) for m in chunk}
            except httpx.ConnectError as exc:
                last_outcome = self._observe(integration, path, CONNECT_ERROR, started)
                last_problem = f"could not connect: {exc}"
                continue
            except httpx.TransportError as exc:  # timeouts, resets, dropped connections
                last_outcome = self._observe(integration, path, TRANSPORT_ERROR, started)
                ambiguous = True
                last_problem = f"{type(exc).__name__}: {exc}"
                continue
            status = response.status_code
            last_outcome = self._observe(integration, path, str(status), started)
            if status == 429 or status >= 500:
                ambiguous = ambiguous or status >= 500
                last_response = response
                last_problem = f"HTTP {status}"
                continue
            if 400 <= status < 500:
                return self._refusal(account, kind, chunk, response, may_split=may_split)
            return _accepted(chunk, response, ambiguous=ambiguous)
        attempts = self.retry.max_attempts
        if last_response is not None and last_response.status_code == 429 and not ambiguous:
            error = parse_error(last_response.content)
            return {m.message_id: SendRefused(m.message_id, 429, error.code or "TOO_MANY_REQUESTS",
                                          error.comment or "throttled by Infobip")
                    for m in chunk}
        log.warning("no definite answer from the provider", extra={"fields": {
            "project_id": chunk[0].project_id, "integration_id": integration,
            "base_url": account.base_url, "attempts": attempts, "problem": last_problem,
            "messages": len(chunk)}})
        return {m.message_id: Unknown(m.message_id, UNREACHABLE.format(attempts))
                for m in chunk}

    def _observe(self, integration: str, endpoint: str, outcome: str, started: float) -> str:
        """Tells the observer of one request; returns `outcome`."""
        self.observer.infobip_call(integration, endpoint, outcome,
                                   time.perf_counter() - started)
        return outcome

    def _retry_delay(self, retry_number: int, response: httpx.Response | None) -> float:
        delay = self.retry.delay(retry_number, self.rng)
        if response is not None and response.status_code == 429:
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = max(delay, min(float(retry_after), self.retry.max_delay))
        return delay

    def _refusal(self, account: InfobipAccount, kind: str, chunk: list[OutgoingMessage],
                 response: httpx.Response, *, may_split: bool) -> dict[str, SendOutcome]:
        error = parse_error(response.content)
        named = error.message_indexes() if response.status_code == 400 else None
        if may_split and named and len(named) < len(chunk) and max(named) < len(chunk):
            # Only some messages are invalid: refuse those, send the others again.
            refused = {chunk[i].message_id: SendRefused(chunk[i].message_id, 400, error.code,
                                                    error.comment) for i in named}
            rest = [m for i, m in enumerate(chunk) if i not in named]
            return {**refused, **self._send_chunk(account, kind, rest, may_split=False)}
        return {m.message_id: SendRefused(m.message_id, response.status_code, error.code,
                                      error.comment) for m in chunk}

    def _client(self, base_url: str) -> httpx.Client:
        with self._lock:
            client = self._clients.get(base_url)
            if client is None:
                limits = httpx.Limits(max_connections=20, max_keepalive_connections=10)
                client = httpx.Client(base_url=base_url, timeout=self.timeout,
                                      transport=VettedTransport(self.addresses, limits=limits))
                self._clients[base_url] = client
            return client


def _headers(account: InfobipAccount) -> dict[str, str]:
    return {"Authorization": f"App {account.api_key}", "Content-Type": "application/json",
            "Accept": "application/json"}


def _accepted(chunk: list[OutgoingMessage], response: httpx.Response, *,
              ambiguous: bool) -> dict[str, SendOutcome]:
    try:
        entries = response.json().get("messages") or []
    except (ValueError, AttributeError):
        entries = []
    by_id: dict[str, dict[str, Any]] = {
        e["messageId"]: e for e in entries if isinstance(e, dict) and e.get("messageId")}
    outcomes: dict[str, SendOutcome] = {}
    for message in chunk:
        entry = by_id.get(message.message_id)
        outcomes[message.message_id] = (
            _entry_outcome(message.message_id, entry, ambiguous=ambiguous, resend=message.resend)
            if entry
            else Unknown(message.message_id, "Infobip's answer did not mention the message"))
    return outcomes


def _entry_outcome(message_id: str, entry: dict[str, Any], *, ambiguous: bool,
                   resend: bool) -> SendOutcome:
    try:
        outcome = outcome_from_infobip(entry)
    except (DomainError, ValueError) as exc:
        return Unknown(message_id, f"unreadable status in Infobip's answer: {exc}")
    if not outcome.is_final:
        return Accepted(message_id, parts=outcome.parts)
    if (outcome.status_name or "").upper() == DUPLICATE_MESSAGE_ID_STATUS:
        if resend:  # an earlier hand-over of ours reached Infobip: it has the message
            return Accepted(message_id)
        if ambiguous:
            return Unknown(message_id, "an earlier attempt was accepted; waiting for its report")
    return StatusInAnswer(message_id, outcome)
