"""What the Infobip adapters tell about their calls: each request's outcome and time,
and each retry. The HTTP service counts them (adapters/http/metrics.py); embedded,
nobody listens unless the platform passes an observer of its own to `bootstrap`."""

from __future__ import annotations

from typing import Protocol

# A request that got no HTTP answer, as the `outcome` of `infobip_call`.
CONNECT_ERROR = "connect_error"  # never reached Infobip: safe to send again
TRANSPORT_ERROR = "transport_error"  # timeout or reset: Infobip may have it
ADDRESS_REFUSED = "address_refused"  # the base URL resolves to a non-public address


class InfobipObserver(Protocol):
    def infobip_call(self, integration: str, endpoint: str, outcome: str,
                     seconds: float) -> None:
        """One HTTP request to Infobip ended: `outcome` is the HTTP status ("200",
        "429", "503") or one of the names above; `endpoint` the path, e.g.
        /sms/3/messages."""

    def infobip_retry(self, integration: str, endpoint: str, reason: str) -> None:
        """A request is sent again, `reason` being the outcome of the try before."""


class NoObserver:
    """Nobody listens."""

    def infobip_call(self, integration: str, endpoint: str, outcome: str,
                     seconds: float) -> None:
        pass

    def infobip_retry(self, integration: str, endpoint: str, reason: str) -> None:
        pass
