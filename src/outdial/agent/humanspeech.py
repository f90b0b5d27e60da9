"""Is a person talking? Speech told apart from hold music, tones and noise, for ``max_hold``.

The VAD answers "is there voice-like sound in this frame" and fires on tonal music, ringback and
DTMF alike, so it cannot tell a person from a queue. This detector looks at a second of context
instead, on the callee's 20 ms frames, and calls it human speech only when all of these hold over
a 1 s window (re-evaluated every 100 ms):

- enough sound: at least :data:`MIN_ACTIVE_FRAMES` frames above an absolute floor and within
  :data:`RANGE_DB` of the loudest frame of the window;
- syllabic modulation: the level of those frames varies by at least :data:`MIN_MODULATION_DB`
  (standard deviation, dB). Speech rises and falls with every syllable (7–12 dB here); sustained
  chords, melodies, tones and steady noise stay within ~3 dB;
- a changing spectrum: the mean spectral-shape change between consecutive sounding frames is at
  least :data:`MIN_CHANGE` (formants move all the time in speech; a held or decaying note keeps its
  shape, so a slowly plucked arpeggio — modulated like speech — fails here);
- not purely tonal: at least :data:`MIN_BREATHY_SHARE` of the sounding frames have a spectral
  flatness of :data:`BREATHY_FLATNESS` or more (consonants, aspiration, breath); sines, chords and
  DTMF never do;
- not noise: fewer than half of them are noise-flat (:data:`NOISE_FLATNESS`).

Evidence must then add up: the condition must hold on :data:`EVIDENCE_CHECKS` checks (100 ms apart)
before :meth:`HumanSpeechDetector.feed` says yes, so a person saying "Hello? Yes, this is John."
counts while a second of anything else does not. Once it said yes it stays yes and costs nothing.

Cost: one real FFT of the frame, a band matrix product and a few reductions over 1 s of
per-frame features — tens of microseconds per frame, no per-sample Python.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FRAME_MS = 20
WINDOW_FRAMES = 50  # 1 s of context
CHECK_EVERY = 5  # frames between window checks (100 ms)
EVIDENCE_CHECKS = 4  # speech-like checks needed before saying "human"
MIN_ACTIVE_FRAMES = 15  # ≥ 300 ms of sound in the window
RANGE_DB = 35.0  # a frame this far below the window's loudest is a pause
FLOOR_DBFS = -55.0  # below this a frame is silence whatever the rest
MIN_MODULATION_DB = 4.5
MIN_CHANGE = 0.035
BREATHY_FLATNESS = 0.012
MIN_BREATHY_SHARE = 0.1
NOISE_FLATNESS = 0.2
_LOW_HZ, _HIGH_HZ, _BANDS = 250.0, 3500.0, 16  # the telephone band, in log-spaced bands
_EPS = 1e-3


class HumanSpeechDetector:
    """Fed the callee's PCM16 frames (20 ms at ``sample_rate``); says once whether a person spoke.

    One per call: it keeps the last second of per-frame features.
    """

    def __init__(self, sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        self._n = sample_rate * FRAME_MS // 1000
        freqs = np.fft.rfftfreq(self._n, 1.0 / sample_rate)
        high = min(_HIGH_HZ, sample_rate / 2 * 0.95)
        edges = np.geomspace(_LOW_HZ, high, _BANDS + 1)
        self._bands = np.zeros((len(freqs), _BANDS), dtype=np.float32)
        for i in range(_BANDS):
            self._bands[(freqs >= edges[i]) & (freqs < edges[i + 1]), i] = 1.0
        self._lo = int(np.searchsorted(freqs, _LOW_HZ))
        self._hi = int(np.searchsorted(freqs, high))
        self._window = np.hanning(self._n).astype(np.float32)
        # The band power of a full-scale 1 kHz sine: 0 dBFS.
        t = np.arange(self._n, dtype=np.float32) / sample_rate
        full = 32767.0 * np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
        spectrum = np.abs(np.fft.rfft(full * self._window)) ** 2
        self._ref_db = 10.0 * float(np.log10(float(spectrum[self._lo : self._hi].sum())))
        self._level = np.full(WINDOW_FRAMES, -120.0, dtype=np.float32)
        self._prev_level = np.full(WINDOW_FRAMES, -120.0, dtype=np.float32)  # the frame before each
        self._change = np.zeros(WINDOW_FRAMES, dtype=np.float32)
        self._flatness = np.zeros(WINDOW_FRAMES, dtype=np.float32)
        self._shape = np.zeros(_BANDS, dtype=np.float32)
        self._count = 0
        self._evidence = 0
        self._first_evidence = 0  # frame index where the first speech-like window began
        self.detected = False
        self.detected_at_frame: int | None = None

    @property
    def frames(self) -> int:
        """Frames fed so far."""
        return self._count

    @property
    def onset_ms(self) -> float | None:
        """Once detected: when the speech that decided it began, in ms since the first frame fed."""
        if self.detected_at_frame is None:
            return None
        return float(self._first_evidence * FRAME_MS)

    def feed(self, frame: bytes) -> bool:
        """One 20 ms frame in; True once a person has been heard (and from then on)."""
        if self.detected:
            return True
        samples = np.frombuffer(frame, dtype="<i2")
        if len(samples) != self._n:
            raise ValueError(f"a frame must be {FRAME_MS} ms ({self._n} samples), got {len(samples)}")
        power = np.square(np.abs(np.fft.rfft(samples * self._window)))
        bands = power @ self._bands
        total = float(bands.sum()) + _EPS
        slot = self._count % WINDOW_FRAMES
        self._prev_level[slot] = self._level[slot - 1]
        self._level[slot] = level = 10.0 * np.log10(total) - self._ref_db
        shape = np.sqrt(bands / total)
        self._change[slot] = 1.0 - float(shape @ self._shape)
        self._shape = shape
        if level > FLOOR_DBFS:  # only a sounding frame's flatness is ever looked at
            inband = power[self._lo : self._hi] + _EPS
            self._flatness[slot] = float(np.exp(np.log(inband).mean())) / float(inband.mean())
        self._count += 1
        if self._count >= CHECK_EVERY and self._count % CHECK_EVERY == 0:
            self._check()
        return self.detected

    def _check(self) -> None:
        first = self._speechlike()
        if first is None:
            # A check that is not speech-like takes one back: stray ones never add up over a long hold.
            self._evidence = max(0, self._evidence - 1)
            return
        if self._evidence == 0:
            self._first_evidence = max(0, self._count - WINDOW_FRAMES + first)
        self._evidence += 1
        if self._evidence >= EVIDENCE_CHECKS:
            self.detected = True
            self.detected_at_frame = self._count

    def _speechlike(self) -> int | None:
        """The window's first sounding frame (0-based within it) if the window is speech-like."""
        level = self._level  # a ring buffer: slot order is not time order, which only the onset needs
        floor = max(FLOOR_DBFS, float(level.max()) - RANGE_DB)
        active: npt.NDArray[np.bool_] = level > floor
        n = int(active.sum())
        if n < MIN_ACTIVE_FRAMES:
            return None
        flatness = self._flatness[active]
        if int((flatness >= NOISE_FLATNESS).sum()) * 2 >= n:
            return None
        if int((flatness >= BREATHY_FLATNESS).sum()) < MIN_BREATHY_SHARE * n:
            return None
        if float(level[active].std()) < MIN_MODULATION_DB:
            return None
        pairs = active & (self._prev_level > floor)  # a change counts only between two sounding frames
        if not pairs.any() or float(self._change[pairs].mean()) < MIN_CHANGE:
            return None
        oldest = self._count % WINDOW_FRAMES
        return int(np.argmax(np.roll(active, -oldest)))
