"""webrtcvad: the default VAD — a GMM classifier at 2–3 µs per 20 ms frame; speech probability is 0 or 1."""

from __future__ import annotations

import webrtcvad

from outdial.agent.audio import frame_bytes
from outdial.agent.protocols import FRAME_MS

SAMPLE_RATES = (8000, 16000, 32000, 48000)


class WebRtcVAD:
    """``aggressiveness`` 0 (lets most audio through as speech) to 3 (filters non-speech hardest)."""

    def __init__(self, sample_rate: int = 16000, aggressiveness: int = 2) -> None:
        if sample_rate not in SAMPLE_RATES:
            raise ValueError(f"webrtcvad supports {SAMPLE_RATES} Hz, not {sample_rate}")
        if not 0 <= aggressiveness <= 3:
            raise ValueError("aggressiveness is 0..3")
        self.sample_rate = sample_rate
        self.aggressiveness = aggressiveness
        self._frame_bytes = frame_bytes(sample_rate, FRAME_MS)
        self._vad = webrtcvad.Vad(aggressiveness)

    def feed(self, frame: bytes) -> float:
        if len(frame) != self._frame_bytes:
            raise ValueError(
                f"webrtcvad needs {FRAME_MS} ms frames ({self._frame_bytes} bytes), got {len(frame)}"
            )
        return 1.0 if self._vad.is_speech(frame, self.sample_rate) else 0.0

    def reset(self) -> None:
        self._vad = webrtcvad.Vad(self.aggressiveness)
