"""Settings, from environment variables (SMSLEDGER_*) and an optional TOML or JSON file.

Environment variables win over the file, explicit arguments over both. Every bad
value is reported as one ConfigurationError naming the setting.

Example file (smsledger.toml):

    database_url = "sqlite:///./smsledger.db"
    waiting_window_days = 4
    send_batch_size = 500

    [campaign_event_names]        # project id = event name used instead of "campaign"
    acme = "sms_campaign"

The encryption key is better given as SMSLEDGER_ENCRYPTION_KEY than in a file.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from smsledger.adapters.runtime.persistence import DEFAULT_STORE_TIMEOUT, persistence_env
from smsledger.domain.errors import DomainError, InvalidInput
from smsledger.domain.project import validate_event_name

DEFAULT_DATABASE_URL = "sqlite:///./smsledger.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigurationError(InvalidInput):
    """A setting is invalid; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMSLEDGER_", extra="forbid")

    database_url: str = DEFAULT_DATABASE_URL
    waiting_window_days: float = Field(default=4.0, gt=0, le=365)
    send_batch_size: int = Field(default=500, ge=1, le=1000)
    # Recovery (README, "Reliability"): a message never handed to Infobip is sent by
    # the background work once this old; one handed over without a final status is
    # looked up in Infobip's logs after reconcile_after, sent again under the same id
    # when the logs still do not know it resend_after its last hand-over, and ends
    # enqueue_failed (not_accepted_by_provider) once max_send_attempts are used up.
    send_unsent_after_seconds: float = Field(default=60, ge=0)
    reconcile_after_seconds: float = Field(default=15 * 60, ge=0)
    resend_after_seconds: float = Field(default=30 * 60, ge=0)
    max_send_attempts: int = Field(default=3, ge=1, le=20)
    campaign_event_names: dict[str, str] = Field(default_factory=dict)
    # Encrypts every stored event (AES-GCM); base64 of 16, 24 or 32 random bytes.
    # Without it events are stored in clear. Losing it loses the store.
    encryption_key: SecretStr | None = None
    # Webhook secrets are derived from this key; without it, the key file is used
    # (created on first use). Changing it changes every webhook URL.
    secret_key: SecretStr | None = None
    secret_key_file: str = "./smsledger.key"
    # The service: the address Infobip reaches it at (default: where it listens),
    # and the largest request body it accepts.
    public_url: str | None = None
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    # Client-API requests per second per project (a token bucket, burst of the same
    # size): above it, 429 with Retry-After. 0 is off. Each process counts on its own
    # (adapters/http/rate_limit.py); Infobip's webhooks are never limited.
    rate_limit_per_second: float = Field(default=0, ge=0, allow_inf_nan=False)
    # Integrations' base URLs must be https on public addresses; true also allows
    # plain http and private, loopback and link-local ones (development, the
    # simulator, a gateway inside your network). Never on a multi-tenant service.
    allow_private_networks: bool = False
    # How long a request waits for a store that does not answer before answering 503
    # (seconds; SQLite rounds up to whole seconds). /healthz answers within 1 s.
    store_timeout_seconds: float = Field(default=DEFAULT_STORE_TIMEOUT, gt=0, le=300)
    # Event subscriptions (push): a receiver that fails is tried again after
    # subscription_backoff_first_seconds, the wait doubling up to
    # subscription_backoff_max_seconds; once its failures have gone on for the retry
    # budget (3 days: a long weekend's outage and a day to notice) the subscription is
    # disabled, saying why. Every step of a request (connect, write, each read) waits
    # at most subscription_timeout_seconds: a slow receiver holds up only its own
    # subscription, and not for long.
    subscription_backoff_first_seconds: float = Field(default=5.0, gt=0, le=3600)
    subscription_backoff_max_seconds: float = Field(default=3600.0, gt=0, le=86400)
    subscription_retry_budget_seconds: float = Field(default=3 * 86400.0, ge=0, le=30 * 86400)
    subscription_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # The least level logged by serve, worker and maintenance (JSON lines on stderr):
    # DEBUG, INFO, WARNING, ERROR or CRITICAL, any case.
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, url: str) -> str:
        persistence_env(url)  # raises ValueError naming what is wrong
        return url

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        name = level.strip().upper()
        if name not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
        return name

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL, e.g. https://sms.example.com")
        return url.rstrip("/") if url else url

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        # Webhook secrets are only as strong as this key.
        if key is not None and len(key.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. from smsledger keys create)")
        return key

    @field_validator("encryption_key")
    @classmethod
    def _valid_key(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            try:
                raw = base64.b64decode(key.get_secret_value(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("must be base64 (smsledger keys create makes one)") from None
            if len(raw) not in (16, 24, 32):
                raise ValueError(f"must encode 16, 24 or 32 bytes, not {len(raw)}")
        return key

    def store_env(self) -> dict[str, str]:
        """The event-sourcing library's settings for the store these settings name."""
        env = persistence_env(self.database_url, self.store_timeout_seconds)
        if self.encryption_key is not None:
            env.update(CIPHER_TOPIC="eventsourcing.cipher:AESCipher",
                       CIPHER_KEY=self.encryption_key.get_secret_value())
        return env

    def redacted_database_url(self) -> str:
        """The database URL with its password, if any, left out: fit for messages."""
        parts = urlsplit(self.database_url)
        if parts.password is None:
            return self.database_url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    @field_validator("campaign_event_names")
    @classmethod
    def _valid_names(cls, names: dict[str, str]) -> dict[str, str]:
        for name in names.values():
            try:
                validate_event_name(name)
            except DomainError as exc:
                raise ValueError(str(exc)) from None
        return names

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls),
                JsonConfigSettingsSource(settings_cls))


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, the file if given, and explicit overrides."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    settings_class: type[Settings] = Settings
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigurationError(f"configuration file {str(path)!r} does not exist")
        key = "json_file" if path.suffix.lower() == ".json" else "toml_file"
        file_config: dict[str, Any] = {**Settings.model_config, key: path}
        settings_class = type("FileSettings", (Settings,), {
            "model_config": SettingsConfigDict(**file_config),  # type: ignore[typeddict-item]
        })
    try:
        return settings_class(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"setting {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigurationError(problems) from None
    except ValueError as exc:  # e.g. a file that is not valid TOML or JSON
        raise ConfigurationError(f"configuration file {str(config_file)!r}: {exc}") from None
