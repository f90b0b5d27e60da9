"""The retention policy as the API reads and writes it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

MAX_HOURS = 24 * 365 * 10


def _hours(what: str) -> object:
    return Field(
        default=None,
        ge=1,
        le=MAX_HOURS,
        description=f"Hours after a call ends that its {what} are kept; null keeps them forever.",
    )


class RetentionOut(BaseModel):
    call_records_hours: int | None = Field(
        description="Hours after a call ends that its record (status, events, deliveries, and with it the "
        "transcript and recording) is kept; null: forever. PolyAI-style status for 2 hours: 2."
    )
    transcripts_hours: int | None = Field(description="Hours transcripts are kept; null: forever.")
    recordings_hours: int | None = Field(
        description="Hours recordings are kept (30 days: 720); null: forever."
    )
    updated_at: datetime | None


class RetentionUpdate(BaseModel):
    """Only the fields sent change; null keeps that kind of data forever."""

    model_config = ConfigDict(extra="forbid")

    call_records_hours: int | None = _hours("call records")  # type: ignore[assignment]
    transcripts_hours: int | None = _hours("transcripts")  # type: ignore[assignment]
    recordings_hours: int | None = _hours("recordings")  # type: ignore[assignment]
