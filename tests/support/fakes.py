"""Fakes of the application's ports (smsledger.application.ports), for tests that
build the application service without any adapter of ours: each does the least that
keeps its contract, and remembers what it was asked."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from smsledger.application.commands import ProviderReport
from smsledger.application.ports import (
    Clock,
    DeliveryLookup,
    IdSource,
    ProviderAddressPolicy,
    SecretSealer,
    SecretSource,
    WebhookSecrets,
)


class FakeClock(Clock):
    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


class SequentialIds(IdSource):
    def __init__(self, prefix: str = "m") -> None:
        self._numbers = itertools.count(1)
        self.prefix = prefix

    def new_message_id(self) -> str:
        return f"{self.prefix}-{next(self._numbers)}"


class KnownReports(DeliveryLookup):
    """A provider's message logs: what it knows, by message id (it holds no reports
    to pull)."""

    def __init__(self) -> None:
        self.known: dict[str, ProviderReport] = {}
        self.asked: list[list[str]] = []

    def pulled_reports(self, project_id: str, integration_id: str,
                       message_ids: Sequence[str], *, kind: str
                       ) -> Iterator[Sequence[ProviderReport]]:
        return iter(())

    def logs(self, project_id: str, integration_id: str, message_ids: Sequence[str], *,
             kind: str) -> Sequence[ProviderReport]:
        self.asked.append(list(message_ids))
        return [self.known[m] for m in message_ids if m in self.known]


class CountingSecrets(SecretSource):
    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def new_secret(self) -> str:
        return f"secret-{next(self._numbers):032d}"

    def new_id(self) -> str:
        return f"id{next(self._numbers)}"


class PlainWebhookSecrets(WebhookSecrets):
    def derive(self, project_id: str, integration_id: str, nonce: str) -> str:
        return f"{project_id}.{integration_id}.{nonce}"


class ReversibleSealer(SecretSealer):
    """Seals by reversing (no secrecy: the contract only), bound by a prefix."""

    def seal(self, secret: str, *, bound_to: str) -> str:
        return f"{bound_to}|{secret[::-1]}"

    def open(self, sealed: str, *, bound_to: str) -> str | None:
        binding, _, reversed_secret = sealed.rpartition("|")
        return reversed_secret[::-1] if binding == bound_to else None


class AnyAddress(ProviderAddressPolicy):
    def refusal(self, base_url: str, *, field: str = "base_url") -> str | None:
        return None
