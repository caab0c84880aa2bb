"""Where the Infobip adapter may connect: the rule of smsledger.domain.provider_address,
applied to names too.

When an integration is saved, its host is resolved once, so a name that points into
a private network is refused there and then, in words naming the rule. That is not
enough: a name may resolve elsewhere later (DNS rebinding: public when saved,
169.254.169.254 when used). So every connection resolves the name itself, checks
every address it got, and connects to the address it checked, never to a second
resolution. TLS still verifies the certificate against the name.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from smsledger.application.ports import ProviderAddressPolicy
from smsledger.domain.provider_address import RULE, is_public_address, provider_url_refusal

log = logging.getLogger("smsledger.infobip.addresses")

Resolver = Callable[..., list[tuple[Any, ...]]]  # socket.getaddrinfo's signature


class AddressRefused(Exception):
    """A connection to a private address was refused: nothing was sent."""


class ProviderAddresses(ProviderAddressPolicy):
    def __init__(self, allow_private_networks: bool = False, *,
                 resolve: Resolver = socket.getaddrinfo) -> None:
        self.allow_private_networks = allow_private_networks
        self._resolve = resolve

    def refusal(self, base_url: str, *, field: str = "base_url") -> str | None:
        rule = provider_url_refusal(base_url, allow_private_networks=self.allow_private_networks,
                                    field=field)
        if rule is not None or self.allow_private_networks:
            return rule
        host = urlsplit(base_url).hostname or ""
        try:
            private = self._private_addresses(host, 443)
        except OSError:
            return None  # not resolvable now: every connection checks it again
        if private:
            return f"{field}'s host {host!r} resolves to a non-public address: {RULE}"
        return None

    def vetted_address(self, host: str, port: int) -> str:
        """The address to connect to for host:port: the first it resolves to, when every
        one it resolves to is allowed. AddressRefused otherwise; OSError (a
        httpcore.ConnectError) when it does not resolve."""
        if self.allow_private_networks:
            return host
        try:
            infos = self._resolve(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        addresses = [str(info[4][0]) for info in infos]
        refused = [a for a in addresses if not is_public_address(a)]
        if refused or not addresses:
            log.warning("refused to connect to a non-public address", extra={"fields": {
                "host": host, "port": port, "addresses": refused}})
            raise AddressRefused(f"{host!r} resolves to a non-public address: {RULE}")
        return addresses[0]

    def _private_addresses(self, host: str, port: int) -> list[str]:
        infos = self._resolve(host, port, type=socket.SOCK_STREAM)
        return [str(i[4][0]) for i in infos if not is_public_address(str(i[4][0]))]


class _VettingBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, opened only to vetted addresses."""

    def __init__(self, addresses: ProviderAddresses) -> None:
        self._addresses = addresses
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        address = self._addresses.vetted_address(host, port)
        return self._backend.connect_tcp(address, port, timeout, local_address, socket_options)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        raise AddressRefused("the provider is reached over TCP only")

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class VettedTransport(httpx.HTTPTransport):
    """httpx's transport, connecting through _VettingBackend. No proxy from the
    environment: a proxy would connect on our behalf, to addresses we did not check."""

    def __init__(self, addresses: ProviderAddresses, *,
                 limits: httpx.Limits = httpx.Limits()) -> None:
        super().__init__(limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_VettingBackend(addresses))
