"""Test signals and the comparisons used to decide that audio made it through."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def speech_like(seconds: float, rate: int, seed: int = 7) -> bytes:
    """A sum of tones inside the telephone band with a slow envelope: PCM16 LE mono."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    signal = np.zeros_like(t)
    for freq in rng.uniform(300, 3200, size=6):
        signal += np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)
    signal *= envelope / np.max(np.abs(signal)) * 12000
    return signal.astype("<i2").tobytes()


def best_correlation(sent: bytes, received: bytes, max_lag: int) -> tuple[float, int]:
    """Highest normalised correlation of ``received`` against ``sent`` over lags 0..max_lag samples."""
    a: npt.NDArray[np.float64] = np.frombuffer(sent, dtype="<i2").astype(np.float64)
    b: npt.NDArray[np.float64] = np.frombuffer(received, dtype="<i2").astype(np.float64)
    best, best_lag = -1.0, 0
    for lag in range(max_lag + 1):
        n = min(len(a), len(b) - lag)
        if n <= 0:
            break
        x, y = a[:n], b[lag : lag + n]
        denom = np.sqrt(np.dot(x, x) * np.dot(y, y))
        if denom == 0:
            continue
        c = float(np.dot(x, y) / denom)
        if c > best:
            best, best_lag = c, lag
    return best, best_lag
