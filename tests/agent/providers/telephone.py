"""The telephone path for test audio: 16 kHz PCM → 8 kHz G.711 µ-law → back to 16 kHz PCM."""

from __future__ import annotations

import numpy as np

from outdial.agent.audio import resample_all as resample

_BIAS = 0x84
_CLIP = 32635


def ulaw_encode(pcm: bytes) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(np.maximum(mag >> 7, 1))).astype(np.int32)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mag = (((u & 0x0F) << 3) + _BIAS) << exponent
    x = np.where(u & 0x80, _BIAS - mag, mag - _BIAS)
    return x.astype("<i2").tobytes()


def telephone(pcm16k: bytes) -> bytes:
    """What a 16 kHz recording sounds like after a narrowband µ-law call, back at 16 kHz."""
    return resample(ulaw_decode(ulaw_encode(resample(pcm16k, 16000, 8000))), 8000, 16000)
