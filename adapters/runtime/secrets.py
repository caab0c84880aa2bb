"""Random secrets and the service's secret key.

Webhook secrets are derived from the secret key (HMAC-SHA256), so the store only
needs their hashes; Infobip API keys are sealed with a key derived from it (AES-GCM),
so the store holds them encrypted. The key comes from SMSLEDGER_SECRET_KEY, or else
from a key file, created with owner-only permissions on first use (default
./smsledger.key).
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

from Crypto.Cipher import AES

from smsledger.application.ports import SecretSealer, SecretSource, WebhookSecrets


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


def key_file_problem(key: object | None, key_file: str | Path) -> str | None:
    """Read (or make) the key file now, when no key is given: what is wrong with it, by
    name, or None. A process refuses a bad one at its start, not at the first request
    that needs the key; every process of a store must share one key (API keys sealed
    with another cannot be unsealed)."""
    if key is not None:
        return None
    try:
        SecretKey(None, key_file).bytes()
    except (OSError, ValueError) as error:
        return str(error)
    return None


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


class AesGcmSealer(SecretSealer):
    """Seals with AES-256-GCM under a key derived from the secret key (HMAC-SHA256),
    the binding as associated data: a sealed value opens only with the same secret
    key, for what it was bound to. Sealed text: `v1.<key id>.<base64 of nonce, tag,
    ciphertext>`; the key id (not secret) tells a value sealed under another key."""

    VERSION = "v1"

    def __init__(self, key: SecretKey) -> None:
        self._key = key

    def seal(self, secret: str, *, bound_to: str) -> str:
        key, key_id = self._keys()
        nonce = secrets.token_bytes(12)
        cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
        cipher.update(bound_to.encode())
        ciphertext, tag = cipher.encrypt_and_digest(secret.encode())
        sealed = base64.urlsafe_b64encode(nonce + tag + ciphertext).decode()
        return f"{self.VERSION}.{key_id}.{sealed}"

    def open(self, sealed: str, *, bound_to: str) -> str | None:
        version, _, rest = sealed.partition(".")
        sealed_key_id, _, body = rest.partition(".")
        key, key_id = self._keys()
        if version != self.VERSION or sealed_key_id != key_id:
            return None
        try:
            raw = base64.urlsafe_b64decode(body.encode())
            cipher = AES.new(key, AES.MODE_GCM, nonce=raw[:12])
            cipher.update(bound_to.encode())
            return cipher.decrypt_and_verify(raw[28:], raw[12:28]).decode()
        except (ValueError, UnicodeDecodeError):  # tampered, or bound to another
            return None

    def _keys(self) -> tuple[bytes, str]:
        secret_key = self._key.bytes()
        key = hmac.new(secret_key, b"smsledger\x1fseal\x1fv1", hashlib.sha256).digest()
        key_id = hmac.new(secret_key, b"smsledger\x1fkey-id", hashlib.sha256).hexdigest()[:8]
        return key, key_id
