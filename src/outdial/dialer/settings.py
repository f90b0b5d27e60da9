"""Dialer settings (environment ``OUTDIAL_DIALER_*``); every field is a row in docs/dialer.md."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DialerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTDIAL_DIALER_", extra="ignore")

    max_live_calls: int = Field(
        default=200, ge=1, description="Calls one worker holds at once (claimed + live)."
    )
    max_media_lateness_ms: float = Field(
        default=10.0, description="Admit no new call while the media clock runs later than this."
    )
    lease_seconds: float = Field(default=15.0, gt=0, description="A claim's lease; renewed by heartbeats.")
    heartbeat_seconds: float = Field(default=3.0, gt=0, description="How often leases are renewed.")
    poll_seconds: float = Field(
        default=1.0, gt=0, description="Poll for due calls this often (NOTIFY wakes sooner)."
    )
    reap_seconds: float = Field(
        default=2.0, gt=0, description="How often expired leases of dead workers are reaped."
    )
    blocked_retry_seconds: float = Field(
        default=1.0,
        gt=0,
        description="After a trunk or org is found full, skip it this long (or until a slot frees).",
    )
    end_grace_seconds: float = Field(
        default=10.0, gt=0, description="How long a placer gets to end an attempt after an end request."
    )
    drain_seconds: float = Field(default=30.0, ge=0, description="On stop, how long live calls may run on.")
    claim_batch: int = Field(default=20, ge=1, description="Most calls claimed in one transaction.")
