"""Streaming 8 ↔ 16 kHz resampling, one 20 ms frame in, one 20 ms frame out, ~1 ms of delay.

soxr's streaming mode at its filtered qualities (LQ..VHQ) releases output in ~95 ms blocks (measured:
a 20 ms frame in gives nothing out for several frames), which a real-time path cannot use; its
variable-rate mode streams per frame but its output drifts against the input (measured: the lag
wanders by tens of ms, correlation with the ideal ~0.8). Its quick cubic setting (``QQ``) streams
sample-exactly with ~0.25 ms of delay but has no anti-alias filter. So:

- up (8 → 16 kHz, callee → VAD/STT): soxr ``QQ``. Its images above 4 kHz sit ~10 dB down, outside
  the telephone band recognisers listen to.
- down by an integer factor (16 → 8 kHz, agent → phone): a 31-tap low-pass (3.7 kHz, Kaiser
  window, ≥ 70 dB down from 5 kHz; without it 5–7 kHz fold back at full level, audible to the
  callee) evaluated only at the kept samples — one 160×31 matrix product over a strided view of a
  persistent buffer, ~5 µs a frame, where filtering every sample and then running soxr cost ~25 µs.
- down by another ratio: the same low-pass at the input rate, then soxr ``QQ``.

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
_KEEP = _TAPS - 1


def lowpass_taps(
    rate: int, cutoff_hz: float = TELEPHONE_CUTOFF_HZ, taps: int = _TAPS
) -> npt.NDArray[np.float32]:
    """Windowed-sinc low-pass FIR with unity gain at DC (symmetric, so no reversal is needed)."""
    n = np.arange(taps) - (taps - 1) / 2
    fc = cutoff_hz / rate
    h = 2 * fc * np.sinc(2 * fc * n) * np.kaiser(taps, 6.0)
    return (h / h.sum()).astype(np.float32)


class FrameResampler:
    """Resamples fixed 20 ms int16 frames between two rates, keeping a constant delay."""

    __slots__ = (
        "_fir",
        "_history",
        "_pending",
        "_soxr",
        "_windows",
        "in_rate",
        "out_frame",
        "out_rate",
    )

    def __init__(self, in_rate: int, out_rate: int, frame_ms: int = FRAME_MS) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.out_frame = out_rate * frame_ms // 1000
        in_frame = in_rate * frame_ms // 1000
        self._pending: npt.NDArray[np.int16] | None = None
        self._soxr: soxr.ResampleStream | None = None
        self._fir: npt.NDArray[np.float32] | None = None
        self._windows: npt.NDArray[np.float32] | None = None
        # FIR input: the previous frame's last taps-1 samples, then the current frame.
        self._history = np.zeros(_KEEP + in_frame, dtype=np.float32)
        if out_rate < in_rate:
            self._fir = lowpass_taps(in_rate, min(TELEPHONE_CUTOFF_HZ, 0.4625 * out_rate))
            if in_rate % out_rate == 0:
                # Row k of this view is the 31 input samples that output sample k is computed from.
                windows = np.lib.stride_tricks.sliding_window_view(self._history, _TAPS)
                self._windows = windows[:: in_rate // out_rate]
            else:
                self._soxr = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="QQ")
        else:
            self._soxr = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality="QQ")

    def reset(self) -> None:
        """Forget the signal so far (a new talkspurt after silence starts from a clean filter)."""
        if self._soxr is not None:
            self._soxr.clear()
        self._pending = None
        self._history[:] = 0

    def process(self, frame: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Exactly one output frame (int16) for one input frame."""
        fir = self._fir
        if fir is None:
            assert self._soxr is not None
            out: npt.NDArray[np.int16] = self._soxr.resample_chunk(frame)
        else:
            history = self._history
            history[_KEEP:] = frame
            if self._windows is not None:
                filtered = self._windows @ fir
            else:
                assert self._soxr is not None
                filtered = self._soxr.resample_chunk(np.convolve(history, fir, "valid"))
            history[:_KEEP] = history[-_KEEP:]
            # The filter can overshoot on full-scale input: saturate rather than wrap around. Truncating
            # instead of rounding costs under 1 LSB, far below a G.711 quantization step.
            np.minimum(filtered, 32767.0, out=filtered)
            np.maximum(filtered, -32768.0, out=filtered)
            out = filtered.astype(np.int16)
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
        """Audio held inside the resampler, in ms of output (excluding the FIR's group delay)."""
        held = 0.0 if self._soxr is None else float(self._soxr.delay())
        held += 0 if self._pending is None else self._pending.shape[0]
        return held * 1000.0 / self.out_rate
