"""Random secrets and the service's secret key.

Webhook secrets are derived from the secret key (HMAC-SHA256), so the store only
needs their hashes. The key comes from SMSLEDGER_SECRET_KEY, or else from a key
file, created with owner-only permissions on first use (default ./smsledger.key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

from application.projects import SecretSource, WebhookSecrets


class RandomSecrets(SecretSource):
    def new_secret(self) -> str:
        return secrets.token_urlsafe(24)  # 192 bits

    def new_id(self) -> str:
        return secrets.token_hex(6)


class SecretKey:
    """The key, read from the setting or the key file when first needed."""

    def __init__(self, key: str | None, key_file: str | Path) -> None:
        self._key = key.encode() if key else None
        self._file = Path(key_file)
        self._lock = threading.Lock()

    def bytes(self) -> bytes:
        with self._lock:
            if self._key is None:
                self._key = self._load_or_create()
            return self._key

    def _load_or_create(self) -> bytes:
        try:
            return self._file.read_bytes().strip()
        except FileNotFoundError:
            pass
        # Written whole to a file of our own, then linked into place: two processes
        # starting together cannot write two keys, and neither reads a key half written
        # (the loser of the link reads the winner's).
        key = secrets.token_urlsafe(32).encode()
        draft = self._file.with_name(f".{self._file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(key)
            try:
                os.link(draft, self._file)
            except FileExistsError:
                return self._file.read_bytes().strip()
            return key
        finally:
            draft.unlink()


class HmacWebhookSecrets(WebhookSecrets):
    def __init__(self, key: SecretKey) -> None:
        self._key = key

    def derive(self, project_id: str, integration_id: str, nonce: str) -> str:
        message = f"webhook\x1f{project_id}\x1f{integration_id}\x1f{nonce}".encode()
        digest = hmac.new(self._key.bytes(), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]  # 192 bits
