"""Knobs of webhook delivery (``OUTDIAL_WEBHOOK_*``) and the retry schedule."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Waits before the 2nd, 3rd... attempt: 5 s, 5 m, 30 m, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (ten attempts,
# about three days in all), as Standard Webhooks' reference sender does.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OUTDIAL_WEBHOOK_", extra="ignore")

    timeout_seconds: float = Field(default=15.0, gt=0, description="Whole-request timeout of one attempt.")
    retry_scale: float = Field(
        default=1.0,
        gt=0,
        description="Multiplies every retry wait and the 24 h windows (tests use e.g. 0.001).",
    )
    poll_seconds: float = Field(default=0.05, gt=0, description="How often a sender looks for new events.")
    batch_size: int = Field(default=200, ge=1, description="Events or deliveries taken per round.")
    concurrency: int = Field(default=32, ge=1, description="Requests in flight per sender.")
    connections_per_origin: int = Field(
        default=8, ge=1, description="Keep-alive connections to one receiver (scheme, host, port)."
    )
    lease_seconds: float = Field(
        default=60.0, gt=0, description="A claimed delivery whose sender died is retried after this."
    )
    gap_timeout_seconds: float = Field(
        default=120.0, gt=0, description="An event id not committed after this is taken to be rolled back."
    )
    purge_interval_seconds: float = Field(default=300.0, gt=0, description="How often retention purges run.")
    max_retry_after_seconds: float = Field(
        default=86400.0, gt=0, description="Cap on a receiver's Retry-After."
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> WebhookSettings:
        # A claimed delivery is taken over when its lease ends; it must not end while the first
        # sender is still waiting for the receiver, or both would send.
        if self.lease_seconds < self.timeout_seconds + 1:
            raise ValueError("webhook lease_seconds must exceed timeout_seconds by at least 1 s")
        return self

    def retry_delay(self, attempts_made: int) -> timedelta | None:
        """The wait after ``attempts_made`` failed attempts, or None when retries are exhausted."""
        if attempts_made < 1 or attempts_made > len(RETRY_SCHEDULE):
            return None
        return RETRY_SCHEDULE[attempts_made - 1] * self.retry_scale

    @property
    def failing_after(self) -> timedelta:
        return timedelta(hours=24) * self.retry_scale

    @property
    def rotation_overlap(self) -> timedelta:
        return timedelta(hours=24)
