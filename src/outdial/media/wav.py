"""Stereo call recordings: left = callee (what we received), right = agent (what we sent).

The two sides arrive as separate 20 ms frame streams (``MediaStream``'s audio and sent handlers);
the writer pairs them up frame by frame so the channels stay aligned even when one side is briefly
missing (a side that has no frame for a slot is written as silence when the other side moves on).
"""

from __future__ import annotations

import wave
from collections import deque
from pathlib import Path
from types import TracebackType

import numpy as np


class StereoWavWriter:
    """A 16-bit stereo WAV file fed with mono PCM16 frames per side."""

    def __init__(self, path: str | Path, sample_rate: int, max_skew_frames: int = 10) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self._max_skew = max_skew_frames
        self._wav = wave.open(str(self.path), "wb")
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self._left: deque[bytes] = deque()
        self._right: deque[bytes] = deque()
        self.frames_written = 0
        self._closed = False

    def write_callee(self, frame: bytes) -> None:
        """A frame heard from the callee (left channel)."""
        self._left.append(frame)
        self._drain()

    def write_agent(self, frame: bytes) -> None:
        """A frame the agent sent (right channel)."""
        self._right.append(frame)
        self._drain()

    def _drain(self, flush: bool = False) -> None:
        left, right = self._left, self._right
        while left and right:
            self._write_pair(left.popleft(), right.popleft())
        # One side silent for a while (no RTP from the callee, or nothing sent): pad it with silence.
        while len(left) > (0 if flush else self._max_skew):
            self._write_pair(left.popleft(), b"")
        while len(right) > (0 if flush else self._max_skew):
            self._write_pair(b"", right.popleft())

    def _write_pair(self, left: bytes, right: bytes) -> None:
        n = max(len(left), len(right)) // 2
        stereo = np.zeros((n, 2), dtype="<i2")
        if left:
            stereo[: len(left) // 2, 0] = np.frombuffer(left, dtype="<i2")
        if right:
            stereo[: len(right) // 2, 1] = np.frombuffer(right, dtype="<i2")
        self._wav.writeframes(stereo.tobytes())
        self.frames_written += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._drain(flush=True)
        self._wav.close()

    def __enter__(self) -> StereoWavWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
