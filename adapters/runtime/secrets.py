"""Random secrets and the service's secret key.

Webhook secrets are derived from the secret key (HMAC-SHA256), so the store only
needs their hashes. The key comes from SMSLEDGER_SECRET_KEY, or else from a key
file, created with owner-only permissions on first use (default ./smsledger.key).
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import os
import secrets
import threading
import time
from pathlib import Path

from smsledger.application.ports import SecretSource, WebhookSecrets


MIN_KEY_LENGTH = 16  # as the SMSLEDGER_SECRET_KEY setting requires


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

    def _load_or_create(self) -> builtins.bytes:
        try:
            return self._read()
        except FileNotFoundError:
            pass
        key = secrets.token_urlsafe(32).encode()
        # Written whole (and synced) to a file of our own, then linked into place: two
        # processes starting together cannot write two keys, and neither reads a key
        # half written (the loser of the link reads the winner's).
        draft = self._file.with_name(f".{self._file.name}.{os.getpid()}.{secrets.token_hex(4)}")
        _write_new(draft, key)
        try:
            try:
                os.link(draft, self._file)
            except FileExistsError:
                return self._read()
            except OSError:  # a file system without hard links
                return self._create_in_place(key)
            return key
        finally:
            draft.unlink()

    def _create_in_place(self, key: builtins.bytes) -> builtins.bytes:
        try:
            _write_new(self._file, key)
        except FileExistsError:
            return self._read()
        return key

    def _read(self) -> builtins.bytes:
        """The key in the file; a file found empty is read again for a moment (another
        process may be writing it where files cannot be linked), then refused."""
        for _ in range(50):
            key = self._file.read_bytes().strip()
            if key:
                break
            time.sleep(0.02)
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(
                f"the key file {str(self._file)!r} holds {len(key)} characters, fewer than "
                f"{MIN_KEY_LENGTH}: delete it to have a new key made (every webhook secret "
                "changes), or set SMSLEDGER_SECRET_KEY")
        return key


def _write_new(path: Path, key: bytes) -> None:
    """Create the file (FileExistsError if it is there), owner-only, and write the key
    to the disk before returning."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())


class HmacWebhookSecrets(WebhookSecrets):
    def __init__(self, key: SecretKey) -> None:
        self._key = key

    def derive(self, project_id: str, integration_id: str, nonce: str) -> str:
        message = f"webhook\x1f{project_id}\x1f{integration_id}\x1f{nonce}".encode()
        digest = hmac.new(self._key.bytes(), message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]  # 192 bits
