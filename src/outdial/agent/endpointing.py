"""Turn detection: when the callee starts speaking, and when their turn is over (the endpoint).

Fed one VAD probability per 20 ms frame. A turn opens after ``speech_start_ms`` of consecutive
speech and closes after a silence hangover: the full ``hangover_ms`` normally, or the shorter
``early_ms`` once the recognizer holds a complete expected answer (the session says so through
:meth:`TurnDetector.set_answer_complete`).
"""

from __future__ import annotations

from dataclasses import dataclass

from outdial.agent.audio import rms as frame_rms
from outdial.agent.protocols import FRAME_MS


@dataclass(frozen=True, slots=True)
class SpeechStart:
    at_ms: float  # when the first voiced frame of the turn arrived


@dataclass(frozen=True, slots=True)
class Endpoint:
    speech_end_ms: float  # when the last voiced frame arrived
    at_ms: float  # when the turn was declared over
    early: bool  # closed by the complete-answer rule rather than the full hangover
    speech_ms: float  # voiced time in the turn


class EnergyGate:
    """Vetoes "speech" on frames far quieter than the callee's voice.

    webrtcvad keeps saying speech for ~120 ms after the words stop (its own hangover, measured on
    mode 2); on top of our hangover that delayed every reply. A frame more than ``drop_db`` below the
    turn's running speech level (or under an absolute floor) is not speech, whatever the VAD says.
    """

    def __init__(self, drop_db: float = 30.0, floor_rms: float = 50.0) -> None:
        self._ratio = 10 ** (-drop_db / 20)
        self._floor = floor_rms
        self._level = 0.0

    def __call__(self, probability: float, frame: bytes, threshold: float) -> float:
        if probability < threshold:
            return probability
        rms = frame_rms(frame)  # only on frames the VAD calls speech: silence costs nothing here
        if rms < max(self._floor, self._level * self._ratio):
            return 0.0
        # The speech level follows loud frames quickly and quiet ones slowly.
        rate = 0.1 if rms > self._level else 0.02
        self._level += (rms - self._level) * rate
        return probability


class TurnDetector:
    def __init__(
        self,
        *,
        threshold: float = 0.5,
        speech_start_ms: int = 60,
        hangover_ms: int = 300,
        early_ms: int = 100,
    ) -> None:
        self.threshold = threshold
        self.hangover_ms = hangover_ms
        self.early_ms = min(early_ms, hangover_ms)
        self._start_frames = max(1, speech_start_ms // FRAME_MS)
        self._run = 0  # consecutive voiced frames before a turn opens
        self._run_start = 0.0
        self.in_turn = False
        self.speech_ms = 0.0
        self._silence_ms = 0.0
        self._last_voiced = 0.0
        self._complete = False

    def set_answer_complete(self, complete: bool) -> None:
        self._complete = complete

    def reset(self) -> None:
        self._run = 0
        self.in_turn = False
        self.speech_ms = 0.0
        self._silence_ms = 0.0
        self._complete = False

    def feed(self, probability: float, now_ms: float) -> SpeechStart | Endpoint | None:
        voiced = probability >= self.threshold
        if not self.in_turn:
            if not voiced:
                self._run = 0
                return None
            if self._run == 0:
                self._run_start = now_ms
            self._run += 1
            if self._run < self._start_frames:
                return None
            self.in_turn = True
            self.speech_ms = self._run * FRAME_MS
            self._silence_ms = 0.0
            self._last_voiced = now_ms
            self._run = 0
            return SpeechStart(self._run_start)
        if voiced:
            self.speech_ms += FRAME_MS
            self._silence_ms = 0.0
            self._last_voiced = now_ms
            return None
        self._silence_ms += FRAME_MS
        limit = self.early_ms if self._complete else self.hangover_ms
        if self._silence_ms < limit:
            return None
        end = Endpoint(self._last_voiced, now_ms, early=self._complete, speech_ms=self.speech_ms)
        self.reset()
        return end
