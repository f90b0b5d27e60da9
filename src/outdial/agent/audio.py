"""Small audio helpers of the agent: a streaming resampler that can be flushed, and PCM16 frame math."""

from __future__ import annotations

import numpy as np
import soxr

from outdial.agent.protocols import FRAME_MS


def frame_bytes(sample_rate: int, ms: int = FRAME_MS) -> int:
    return sample_rate * ms // 1000 * 2


def samples(pcm: bytes) -> int:
    return len(pcm) // 2


def ms_of(pcm: bytes, sample_rate: int) -> float:
    return len(pcm) / 2 / sample_rate * 1000.0


def silence(sample_rate: int, ms: int = FRAME_MS) -> bytes:
    return bytes(frame_bytes(sample_rate, ms))


class Resampler:
    """PCM16 mono from ``src`` to ``dst`` Hz, chunk by chunk; ``flush`` releases the filter's tail.

    soxr holds back some input for its filter; that costs samples, not wall-clock time, when the
    source (a TTS engine) produces audio faster than real time, and ``flush`` gives it back at the end.
    """

    def __init__(self, src: int, dst: int, quality: str = "HQ") -> None:
        self.src, self.dst = src, dst
        self._stream = (
            None if src == dst else soxr.ResampleStream(src, dst, 1, dtype="int16", quality=quality)
        )
        self._odd = b""

    def feed(self, pcm: bytes) -> bytes:
        pcm = self._odd + pcm
        if len(pcm) % 2:
            pcm, self._odd = pcm[:-1], pcm[-1:]
        else:
            self._odd = b""
        if self._stream is None:
            return pcm
        if not pcm:
            return b""
        out = self._stream.resample_chunk(np.frombuffer(pcm, dtype=np.int16), last=False)
        return out.tobytes()

    def flush(self) -> bytes:
        if self._stream is None:
            return b""
        out = self._stream.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        return out.tobytes()


def resample_all(pcm: bytes, src: int, dst: int) -> bytes:
    if src == dst:
        return pcm
    r = Resampler(src, dst)
    return r.feed(pcm) + r.flush()


def rms(pcm: bytes) -> float:
    if not pcm:
        return 0.0
    a = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    return float(np.sqrt(np.mean(a * a)))


def leading_silence(pcm: bytes, threshold: int = 100) -> int:
    """Bytes of ``pcm`` before the first sample louder than ``threshold`` (all of it if none is)."""
    a = np.frombuffer(pcm[: len(pcm) - len(pcm) % 2], dtype=np.int16)
    loud = np.flatnonzero(np.abs(a.astype(np.int32)) > threshold)
    return int(loud[0]) * 2 if len(loud) else len(pcm) - len(pcm) % 2
