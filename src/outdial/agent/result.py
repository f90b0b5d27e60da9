"""How a session ended: what the dialer stores and reports for the call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from outdial.agent.latency import summarize
from outdial.agent.protocols import Turn
from outdial.lifecycle import EndReason


@dataclass(slots=True)
class SessionResult:
    end_reason: EndReason
    transcript: list[Turn]
    outcome: dict[str, Any]
    recording_path: Path | None
    latency: list[dict[str, float]]  # one dict of stage durations (ms) per agent reply to the callee
    first_audio_ms: float | None  # answer → first agent frame on the wire
    answered_at: datetime | None
    human_speech_detected_ms: float | None  # answer → first callee speech (for max_hold)
    duration_ms: float
    answered_by: str | None = None  # human | machine | unknown with answering-machine detection on
    opt_out: bool = False  # the callee asked not to be called again
    transfer_to: str | None = None

    @property
    def human_speech_detected_at(self) -> datetime | None:
        if self.answered_at is None or self.human_speech_detected_ms is None:
            return None
        return self.answered_at + timedelta(milliseconds=self.human_speech_detected_ms)

    def transcript_dicts(self) -> list[dict[str, Any]]:
        return [
            {
                "role": t.role,
                "text": t.text,
                "start_ms": int(t.start_ms),
                "end_ms": int(t.end_ms),
                "interrupted": t.interrupted,
                **({"latency": {k: round(v, 1) for k, v in t.latency.items()}} if t.latency else {}),
            }
            for t in self.transcript
        ]

    def latency_summary(self) -> dict[str, dict[str, float]]:
        return summarize(self.latency)
