"""Transcripts as the API returns them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TurnOut(BaseModel):
    role: str = Field(description="Who spoke: agent or user.")
    text: str
    start_ms: int = Field(description="Milliseconds from the answer to the start of the turn.")
    end_ms: int
    interrupted: bool = Field(default=False, description="The callee barged in over this agent turn.")
    latency: dict[str, float] | None = Field(
        default=None, description="Agent turns: milliseconds spent in each stage (stt, brain, tts...)."
    )


class TranscriptOut(BaseModel):
    id: str
    call_id: str
    turns: list[TurnOut]
    created_at: datetime
