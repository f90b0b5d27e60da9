"""A stereo recording of the call: the callee on the left, the agent on the right, sample-aligned.

Each channel's frames are placed on one shared timeline of 20 ms slots (by arrival time, or by the
caller's own frame count when it has one: a media clock that catches up after a stall delivers late
frames in a burst, and placing those by arrival would push the rest of the call later), so a gap in
one channel (the agent is silent) is silence, and both channels stay aligned to the sample.
Frames go to a raw file per channel as they come (a long call is not held in memory: ten minutes
at 16 kHz would be ~38 MB per call); ``close`` interleaves the two into the WAV, chunk by chunk.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import BinaryIO

import numpy as np

from outdial.agent.protocols import FRAME_MS

_CHUNK_SLOTS = 500  # interleave 10 s at a time


class _Track:
    def __init__(self, path: Path, frame_bytes: int) -> None:
        self.path = path
        self.frame_bytes = frame_bytes
        self.file: BinaryIO = open(path, "wb")  # open as long as the recording
        self.next_slot = 0

    def put(self, frame: bytes, at_ms: float, slot: int | None = None) -> None:
        if slot is None:
            # The frame arrived at its end; it occupies the slot that ended then.
            slot = round(at_ms / FRAME_MS) - 1
        slot = max(self.next_slot, slot, 0)
        if slot != self.next_slot:
            self.file.seek(slot * self.frame_bytes)  # the gap reads back as zeros: silence
        self.file.write(frame[: self.frame_bytes].ljust(self.frame_bytes, b"\0"))
        self.next_slot = slot + 1


class StereoRecorder:
    def __init__(self, path: Path, sample_rate: int) -> None:
        self.path = path
        self.sample_rate = sample_rate
        path.parent.mkdir(parents=True, exist_ok=True)
        frame_bytes = sample_rate * FRAME_MS // 1000 * 2
        self._callee = _Track(path.with_suffix(".callee.raw"), frame_bytes)
        self._agent = _Track(path.with_suffix(".agent.raw"), frame_bytes)
        self._frame_bytes = frame_bytes
        self._closed = False

    def callee(self, frame: bytes, at_ms: float, slot: int | None = None) -> None:
        """A frame of the callee at ``at_ms`` since the answer, or in the given 20 ms ``slot``."""
        if not self._closed:
            self._callee.put(frame, at_ms, slot)

    def agent(self, frame: bytes, at_ms: float, slot: int | None = None) -> None:
        if not self._closed:
            self._agent.put(frame, at_ms, slot)

    def close(self) -> Path:
        """Write the WAV file (PCM16, 2 channels) and return its path. Blocking: run it in a thread."""
        if self._closed:
            return self.path
        self._closed = True
        slots = max(self._callee.next_slot, self._agent.next_slot)
        for track in (self._callee, self._agent):
            track.file.close()
        chunk = _CHUNK_SLOTS * self._frame_bytes
        with (
            wave.open(str(self.path), "wb") as w,
            open(self._callee.path, "rb") as left,
            open(self._agent.path, "rb") as right,
        ):
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            for start in range(0, slots * self._frame_bytes, chunk):
                size = min(chunk, slots * self._frame_bytes - start)
                stereo = np.zeros((size // 2, 2), dtype=np.int16)
                for ch, f in enumerate((left, right)):
                    data = f.read(size)
                    stereo[: len(data) // 2, ch] = np.frombuffer(data, dtype=np.int16)
                w.writeframes(stereo.tobytes())
        for track in (self._callee, self._agent):
            track.path.unlink(missing_ok=True)
        return self.path
