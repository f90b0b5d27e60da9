"""Settings from the environment (``OUTDIAL_*``). Every field is a row in the README's config table."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTDIAL_", extra="ignore")

    data_dir: Path = Field(default=Path("./.outdial"), description="Where SQLite, recordings and keys live.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy async URL; default sqlite+aiosqlite in data_dir. "
        "PostgreSQL: postgresql+asyncpg://user@host/db",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    allow_private_webhooks: bool = Field(
        default=False,
        description="Allow callback/webhook URLs on private or loopback hosts (development only).",
    )
    signing_secret: str | None = Field(
        default=None, description="HMAC key for signed recording links; generated into data_dir when unset."
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL used in links handed out (recording_url); default http://host:port.",
    )
    log_level: str = "info"
    sip_host: str = Field(
        default="127.0.0.1",
        description="Address the SIP user agent and RTP bind to and advertise (the trunk must reach it).",
    )
    sip_port: int = Field(default=5060, description="UDP (and TCP) port of the SIP user agent; 0 picks one.")
    payment_provider: str = Field(
        default="builtin",
        description="Who charges top-ups and auto-reloads: builtin (refuses: no payment method) or stripe.",
    )
    stripe_api_key: str | None = Field(
        default=None, description="Secret key for the stripe payment provider."
    )
    stripe_api_base: str | None = Field(
        default=None, description="Stripe API base URL (tests point it at a local server); default Stripe's."
    )
    currency: str = Field(default="usd", description="Currency of balances, rates and charges.")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'outdial.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
