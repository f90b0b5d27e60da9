"""Streaming 8 ↔ 16 kHz resampling with soxr, one 20 ms frame in, one 20 ms frame out.

soxr's streaming mode at its filtered qualities (LQ..VHQ) releases output in ~95 ms blocks (measured:
a 20 ms frame in gives nothing out for several frames), which a real-time path cannot use; its
variable-rate mode streams per frame but its output drifts against the input (measured: the lag
wanders by tens of ms, correlation with the ideal ~0.8). The quick cubic setting (``QQ``) streams
sample-exactly with ~0.25 ms of delay, so both directions use it:

- up (8 → 16 kHz, callee → VAD/STT): ``QQ`` alone. Its images above 4 kHz sit ~10 dB down, outside
  the telephone band recognisers listen to.
- down (16 → 8 kHz, agent → phone): ``QQ`` has no anti-alias filter (5–7 kHz tones fold back at full
  level, audible to the callee), so a 31-tap low-pass (3.7 kHz, Kaiser window, ≥ 70 dB down from
  5 kHz) runs first, carrying its 30 samples of history from frame to frame (~1 ms of delay).

``FrameResampler`` always returns exactly one frame: while the pipeline fills (the first frame) it
pads the front with silence, which fixes the delay from then on.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

FRAME_MS = 20
TELEPHONE_CUTOFF_HZ = 3700.0
_TAPS = 31


def lowpass_taps(
    rate: int, cutoff_hz: float = TELEPHONE_CUTOFF_HZ, taps: int = _TAPS
) -> npt.NDArray[np.float32]:
    """Windowed-sinc low-pass FIR with unity gain at DC."""
    n = np.arange(taps) - (taps - 1) / 2
    fc = cutoff_hz / rate
    h = 2 * fc * np.sinc(2 * fc * n) * np.kaiser(taps, 6.0)
    return (h / h.sum()).astype(np.float32)


class FrameResampler:
    """Resamples fixed 20 ms int16 frames between two rates, keeping a constant delay."""

    __slots__ = ("_fir", "_history", "_pending", "_soxr", "in_rate", "out_frame", "out_rate")

    def __init__(self, in_rate: int, out_rate: int, frame_ms: int = FRAME_MS) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.out_frame = out_rate * frame_ms // 1000
        self._pending: npt.NDArray[np.int16] | None = None
        self._fir: npt.NDArray[np.float32] | None = None
        # FIR input: the previous frame's last taps-1 samples, then the current frame.
        self._history = np.zeros(0, dtype=np.float32)
        if out_rate < in_rate:
            self._fir = lowpass_taps(in_rate, min(TELEPHONE_CUTOFF_HZ, 0.4625 * out_rate))
            self._history = np.zeros(_TAPS - 1 + in_rate * frame_ms // 1000, dtype=np.float32)
        # Upsampling works on int16 directly (no conversions); the filtered path is float32 already.
        dtype = "float32" if self._fir is not None else "int16"
        self._soxr = soxr.ResampleStream(in_rate, out_rate, 1, dtype=dtype, quality="QQ")

    def reset(self) -> None:
        """Forget the signal so far (a new talkspurt after silence starts from a clean filter)."""
        self._soxr.clear()
        self._pending = None
        self._history[:] = 0

    def process(self, frame: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Exactly one output frame (int16) for one input frame."""
        out: npt.NDArray[np.int16]
        if self._fir is not None:
            history = self._history
            keep = _TAPS - 1
            history[keep:] = frame
            filtered = np.convolve(history, self._fir, "valid")
            history[:keep] = history[-keep:]
            resampled = self._soxr.resample_chunk(filtered)
            np.clip(resampled, -32768.0, 32767.0, out=resampled)
            out = np.rint(resampled, out=resampled).astype(np.int16)
        else:
            out = self._soxr.resample_chunk(frame)
        n = self.out_frame
        pending = self._pending
        if pending is None and out.shape[0] == n:
            return out
        buf: npt.NDArray[np.int16] = out if pending is None else np.concatenate((pending, out))
        if buf.shape[0] < n:
            buf = np.concatenate((np.zeros(n - buf.shape[0], dtype=np.int16), buf))
        self._pending = buf[n:] if buf.shape[0] > n else None
        return buf[:n]

    @property
    def delay_ms(self) -> float:
        """Audio held inside the resampler, in ms of output."""
        held = float(self._soxr.delay()) + (0 if self._pending is None else self._pending.shape[0])
        return held * 1000.0 / self.out_rate
