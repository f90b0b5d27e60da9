"""Answering-machine detection: who picked up, a person or a voicemail greeting, and where its beep is.

Sans-I/O. The session feeds the callee's 20 ms frames from the answer on, each with its voice
decision (the session's VAD); :class:`MachineDetector` decides once, on the shape of what the callee
says first, the way switch-based detectors do (Asterisk's ``AMD()``, for one):

- a person says something short ("Hello?", "Yes, speaking") and then waits for an answer:
  at least one word, then :attr:`AmdSettings.after_greeting_silence_ms` of silence → ``human``;
- a recorded greeting talks on: more than :attr:`AmdSettings.greeting_ms` without such a pause,
  or more than :attr:`AmdSettings.max_words` words → ``machine``;
- nothing said for :attr:`AmdSettings.initial_silence_ms`, or no decision within
  :attr:`AmdSettings.total_ms` → ``unknown`` (the call goes on as with a person).

A word is a run of voiced frames at least :attr:`AmdSettings.min_word_ms` long; a pause of
:attr:`AmdSettings.between_words_ms` ends it.

:class:`BeepDetector` finds the tone a voicemail system plays before recording: one steady
frequency between 300 and 2,500 Hz that holds at least 80 % of the frame's energy for at least
100 ms. It reports the tone's end, the moment to start speaking.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FRAME_MS = 20


class AnsweredBy(enum.StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AmdSettings:
    initial_silence_ms: int = 2500
    greeting_ms: int = 1500
    after_greeting_silence_ms: int = 800
    max_words: int = 3
    min_word_ms: int = 100
    between_words_ms: int = 60
    total_ms: int = 5000


@dataclass(frozen=True, slots=True)
class Verdict:
    answered_by: AnsweredBy
    why: str  # short_greeting | long_greeting | many_words | initial_silence | timeout
    at_ms: int  # since the answer


class MachineDetector:
    """Fed one voice decision per 20 ms frame from the answer on; returns a :class:`Verdict` once."""

    def __init__(self, settings: AmdSettings | None = None) -> None:
        self.settings = settings or AmdSettings()
        self.verdict: Verdict | None = None
        self._elapsed = 0
        self._words = 0
        self._voiced_run = 0  # ms of the current voiced run
        self._silence_run = 0  # ms since the last voiced frame
        self._in_word = False
        self._greeting_start: int | None = None  # when the first word began

    def feed(self, voiced: bool) -> Verdict | None:
        """The decision, on the frame that makes it; None before it and after it."""
        if self.verdict is not None:
            return None
        s = self.settings
        self._elapsed += FRAME_MS
        if voiced:
            self._voiced_run += FRAME_MS
            self._silence_run = 0
            if not self._in_word and self._voiced_run >= s.min_word_ms:
                self._in_word = True
                self._words += 1
                if self._greeting_start is None:
                    self._greeting_start = self._elapsed - self._voiced_run
        else:
            self._silence_run += FRAME_MS
            if self._silence_run >= s.between_words_ms:
                self._in_word = False
                self._voiced_run = 0
        return self._decide()

    def _decide(self) -> Verdict | None:
        s = self.settings
        if self._words > s.max_words:
            return self._say(AnsweredBy.MACHINE, "many_words")
        if self._greeting_start is not None:
            if self._silence_run >= s.after_greeting_silence_ms:
                return self._say(AnsweredBy.HUMAN, "short_greeting")
            talking = self._elapsed - self._silence_run - self._greeting_start
            if talking > s.greeting_ms:
                return self._say(AnsweredBy.MACHINE, "long_greeting")
        elif self._elapsed >= s.initial_silence_ms:
            return self._say(AnsweredBy.UNKNOWN, "initial_silence")
        if self._elapsed >= s.total_ms:
            return self._say(AnsweredBy.UNKNOWN, "timeout")
        return None

    def _say(self, answered_by: AnsweredBy, why: str) -> Verdict:
        self.verdict = Verdict(answered_by, why, self._elapsed)
        return self.verdict


BEEP_LOW_HZ, BEEP_HIGH_HZ = 300.0, 2500.0
BEEP_MIN_MS = 100
BEEP_PURITY = 0.8  # share of the frame's energy within ±2 bins of its peak
BEEP_FLOOR_DBFS = -45.0


class BeepDetector:
    """Fed the callee's PCM16 frames; says when a voicemail beep (a steady pure tone) has ended."""

    def __init__(self, sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        n = sample_rate * FRAME_MS // 1000
        self._window = np.hanning(n).astype(np.float32)
        freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
        self._band = np.flatnonzero((freqs >= BEEP_LOW_HZ) & (freqs <= BEEP_HIGH_HZ))
        self._bin_hz = float(freqs[1])
        self._run_ms = 0
        self._run_bin = -1
        self.tone_hz: float | None = None  # the last beep's frequency

    def feed(self, frame: bytes) -> bool:
        """True on the first frame (20 ms of PCM16) after a beep of at least 100 ms; False otherwise."""
        peak = self._tonal_peak(np.frombuffer(frame, dtype="<i2"))
        if peak is not None and (self._run_ms == 0 or abs(peak - self._run_bin) <= 1):
            if self._run_ms == 0:
                self._run_bin = peak
            self._run_ms += FRAME_MS
            return False
        ended = self._run_ms >= BEEP_MIN_MS
        if ended:
            self.tone_hz = self._run_bin * self._bin_hz
        self._run_ms, self._run_bin = (FRAME_MS, peak) if peak is not None else (0, -1)
        return ended

    def _tonal_peak(self, frame: npt.NDArray[np.int16]) -> int | None:
        x = frame.astype(np.float32) / 32768.0
        if x.size != self._window.size:
            return None
        rms = float(np.sqrt(np.mean(x * x)))
        if rms <= 0 or 20 * np.log10(rms) < BEEP_FLOOR_DBFS:
            return None
        power = np.abs(np.fft.rfft(x * self._window)) ** 2
        total = float(power.sum())
        peak = int(self._band[np.argmax(power[self._band])])
        near = float(power[max(0, peak - 2) : peak + 3].sum())  # a Hann window's main lobe
        return peak if total > 0 and near / total >= BEEP_PURITY else None
