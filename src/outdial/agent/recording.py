"""A stereo recording of the call: the callee on the left, the agent on the right, sample-aligned.

Each channel's frames are placed on one shared timeline (ms since answer, in 20 ms slots), so a
gap in one channel (the agent is silent) is silence, and both channels stay aligned to the sample.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from outdial.agent.protocols import FRAME_MS


class _Track:
    def __init__(self) -> None:
        self.frames: dict[int, bytes] = {}
        self.next_slot = 0

    def put(self, frame: bytes, at_ms: float) -> None:
        # The frame arrived at its end; it occupies the slot that ended then, or the next free one.
        slot = max(self.next_slot, round(at_ms / FRAME_MS) - 1, 0)
        self.frames[slot] = frame
        self.next_slot = slot + 1


class StereoRecorder:
    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.sample_rate = sample_rate
        self._frame_samples = sample_rate * FRAME_MS // 1000
        self._callee = _Track()
        self._agent = _Track()
        self._closed = False

    def callee(self, frame: bytes, at_ms: float) -> None:
        if not self._closed:
            self._callee.put(frame, at_ms)

    def agent(self, frame: bytes, at_ms: float) -> None:
        if not self._closed:
            self._agent.put(frame, at_ms)

    def close(self) -> Path:
        """Write the WAV file (PCM16, 2 channels) and return its path."""
        self._closed = True
        n = max(self._callee.next_slot, self._agent.next_slot)
        fs = self._frame_samples
        stereo = np.zeros((n * fs, 2), dtype=np.int16)
        for ch, track in enumerate((self._callee, self._agent)):
            for slot, frame in track.frames.items():
                pcm = np.frombuffer(frame, dtype=np.int16)[:fs]
                stereo[slot * fs : slot * fs + len(pcm), ch] = pcm
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(self.path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(stereo.tobytes())
        return self.path
