"""HttpPoster: the SubscriptionPoster port over httpx.

Where it may connect is the Infobip adapter's rule (adapters/infobip/addresses.py):
every connection resolves the receiver's name itself, checks every address it got
and connects to the one it checked, so a name that turns private after the
subscription was saved (DNS rebinding) is refused at the connection, not only when
saved; no proxy from the environment.

Bounded: each step of a request (connecting, writing, every read) has
`timeout` seconds, and no more than MAX_ANSWER_BYTES of an answer are read (only its
status matters; the start of its body goes into the error, to help whoever runs the
receiver). Redirects are not followed: a 3xx is a failure naming where it pointed,
so the subscription is corrected to the final URL, which the rule then checks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from smsledger.adapters.infobip.addresses import AddressRefused, ProviderAddresses, VettedTransport
from smsledger.application.ports import SubscriptionPoster

log = logging.getLogger("smsledger.push")

MAX_ANSWER_BYTES = 1024
SHOWN_ANSWER_CHARACTERS = 200
USER_AGENT = "smsledger-webhooks/1"


class HttpPoster(SubscriptionPoster):
    def __init__(self, addresses: ProviderAddresses, *, timeout: float = 10.0,
                 connections: int = 20) -> None:
        self.timeout = timeout
        self._client = httpx.Client(
            transport=VettedTransport(addresses, limits=httpx.Limits(
                max_connections=connections, max_keepalive_connections=connections)),
            timeout=httpx.Timeout(timeout), follow_redirects=False,
            # identity: the start of an error body is read raw, never inflated
            headers={"user-agent": USER_AGENT, "accept-encoding": "identity"})

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> str | None:
        try:
            with self._client.stream("POST", url, content=body, headers=dict(headers)) as answer:
                if answer.is_success:
                    return None
                start = _start_of(answer)
        except AddressRefused as exc:
            return f"not sent: {exc}"
        except httpx.TimeoutException as exc:
            log.warning("subscription receiver timed out", extra={"fields": {
                "url": url, "error": f"{type(exc).__name__}: {exc}"}})
            return f"no answer within {self.timeout:g} s ({type(exc).__name__})"
        except httpx.HTTPError as exc:
            log.warning("subscription receiver unreachable", extra={"fields": {
                "url": url, "error": f"{type(exc).__name__}: {exc}"}})
            return f"could not reach the receiver ({type(exc).__name__})"
        if answer.is_redirect:
            location = answer.headers.get("location", "")
            return (f"the receiver answered HTTP {answer.status_code}, a redirect to "
                    f"{location[:SHOWN_ANSWER_CHARACTERS]!r}: redirects are not followed; "
                    "subscribe the URL it redirects to")
        return f"the receiver answered HTTP {answer.status_code}" + (
            f": {start!r}" if start else "")

    def close(self) -> None:
        self._client.close()


def _start_of(answer: httpx.Response) -> str:
    """The first characters of the answer's body, read no further than MAX_ANSWER_BYTES."""
    read = b""
    for chunk in answer.iter_raw():
        read += chunk
        if len(read) >= MAX_ANSWER_BYTES:
            break
    text = read[:MAX_ANSWER_BYTES].decode("utf-8", "replace")
    return " ".join(text.split())[:SHOWN_ANSWER_CHARACTERS]
