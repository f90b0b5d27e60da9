"""Per-turn latency: the stages from the end of the callee's speech to the agent's first audio."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

STAGES = ("endpoint_wait", "recognition_final", "brain_first_action", "first_tts_chunk", "send")


@dataclass(slots=True)
class TurnTimer:
    """Marks (ms since answer) of one reply; ``stages`` turns them into durations."""

    speech_end: float
    endpoint: float | None = None
    final: float | None = None
    first_action: float | None = None
    first_chunk: float | None = None
    first_sent: float | None = None

    def complete(self) -> bool:
        return None not in (self.endpoint, self.final, self.first_action, self.first_chunk, self.first_sent)

    def stages(self) -> dict[str, float]:
        marks = [self.speech_end, self.endpoint, self.final]
        marks += [self.first_action, self.first_chunk, self.first_sent]
        out: dict[str, float] = {}
        for name, a, b in zip(STAGES, marks, marks[1:], strict=False):
            if a is not None and b is not None:
                out[name] = max(0.0, b - a)
        if self.first_sent is not None:
            out["total"] = self.first_sent - self.speech_end
        return out


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else 0.0


def summarize(turns: Iterable[dict[str, float]]) -> dict[str, dict[str, float]]:
    """p50/p95/p99 of each stage over many turns."""
    by_stage: dict[str, list[float]] = {}
    for t in turns:
        for k, v in t.items():
            by_stage.setdefault(k, []).append(v)
    return {
        k: {"p50": percentile(v, 50), "p95": percentile(v, 95), "p99": percentile(v, 99), "n": float(len(v))}
        for k, v in by_stage.items()
    }
