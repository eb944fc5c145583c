"""Settings, read from ``VOUCHERS_*`` environment variables or a ``.env`` file."""

from __future__ import annotations

import ipaddress
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_KEY_LENGTH = 16
INSECURE_KEYS = {"changeme", "changethis", "secret", "password", "admin"}


class Settings(BaseSettings):
    """Every setting of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="VOUCHERS_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    admin_key: SecretStr | None = None
    redeem_key: SecretStr | None = None
    timezone: str = "UTC"
    auto_migrate: bool = True
    db_pool_size: int = Field(default=10, ge=1, le=500)
    db_timeout: float = Field(default=5.0, gt=0)
    lookup_limit: int = Field(default=30, ge=1)
    lookup_window: int = Field(default=60, ge=1, le=86_400)
    redis_url: str | None = None
    redis_prefix: str = "vouchers"
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_guess_probability: float = Field(default=1e-6, gt=0, le=1)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    group_commit: bool = True
    group_consumers: int = Field(default=4, ge=1, le=64)
    max_group: int = Field(default=256, ge=1, le=10_000)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {value!r}") from error
        return value

    @field_validator("admin_key", "redeem_key")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or value.get_secret_value() == "":
            return None
        secret = value.get_secret_value()
        if len(secret) < MIN_KEY_LENGTH or secret.lower() in INSECURE_KEYS:
            raise ValueError(f"keys must be at least {MIN_KEY_LENGTH} characters and not a default")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _valid_networks(cls, value: object) -> list[str]:
        """Accept a JSON list or a comma-separated string of addresses and CIDRs."""
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if not isinstance(value, list):
            raise ValueError("a list of addresses or CIDR ranges")
        entries = [str(entry).strip() for entry in value if str(entry).strip()]
        for entry in entries:
            ipaddress.ip_network(entry, strict=False)
        return entries

    @cached_property
    def zone(self) -> ZoneInfo:
        """The server's time zone, used to read date-only timestamps."""
        return ZoneInfo(self.timezone)

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'vouchers.db'}"
