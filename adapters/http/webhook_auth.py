"""Authenticating Infobip's webhook calls: HTTP Basic, user = integration id,
password = the integration's webhook secret, compared in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
from abc import ABC, abstractmethod
from collections.abc import Mapping


class WebhookCredentials(ABC):
    @abstractmethod
    def verify(self, project_id: str, integration_id: str, secret: str) -> bool:
        """True when `secret` is the integration's webhook secret."""


class StaticWebhookCredentials(WebhookCredentials):
    def __init__(self, secrets: Mapping[tuple[str, str], str]) -> None:
        self._secrets = dict(secrets)

    def verify(self, project_id: str, integration_id: str, secret: str) -> bool:
        expected = self._secrets.get((project_id, integration_id))
        # Compare even when the integration is unknown, so timing tells nothing.
        return hmac.compare_digest((expected or "\0").encode(), secret.encode()) and expected is not None


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
