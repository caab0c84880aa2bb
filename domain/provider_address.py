"""Where an integration's provider URL may point: https, on a public address.

A project admin sets the base URL the service then calls with the project's API key.
Left open, that lets a tenant make the service call its own surroundings: the
database's port, the cloud metadata address 169.254.169.254, the service itself on
loopback. So a base URL must be https and must not name a private, loopback,
link-local, reserved, multicast or unspecified address, unless the operator allows
private networks (SMSLEDGER_ALLOW_PRIVATE_NETWORKS=true: development, the Infobip
simulator, a gateway inside the operator's own network).

Only what the URL itself says is judged here (pure); names are resolved by the
adapters, when the integration is saved and again at every connection.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

ALLOW_PRIVATE_SETTING = "SMSLEDGER_ALLOW_PRIVATE_NETWORKS=true"
RULE = ("provider URLs must be https on a public address "
        f"(private networks and plain http only with {ALLOW_PRIVATE_SETTING})")


def is_public_address(address: str) -> bool:
    """Whether an IP address (text) is one the service may call; ValueError if it is
    no IP address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone says nothing more
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not (ip.is_private or ip.is_loopback or ip.is_link_local
                                 or ip.is_reserved or ip.is_multicast or ip.is_unspecified)


def provider_url_refusal(base_url: str, *, allow_private_networks: bool,
                         field: str = "base_url") -> str | None:
    """Why the service may not call this base URL (naming the rule and the `field` the
    URL came in: subscriptions' URLs follow the same rule), or None."""
    if allow_private_networks:
        return None
    parts = urlsplit(base_url)
    if parts.scheme != "https":
        return f"{field} {base_url!r} is not https: {RULE}"
    host = (parts.hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):  # loopback by definition
        return f"{field} {base_url!r} names the loopback host: {RULE}"
    try:
        public = is_public_address(host)
    except ValueError:
        return None  # a name: judged by where it resolves to
    return None if public else f"{field} {base_url!r} is not a public address: {RULE}"
