"""G.711 µ-law (PCMU) and A-law (PCMA), bit-exact with ITU-T G.711 / the G.191 reference code.

Both directions are table look-ups built once at import with vectorised numpy: a 65,536-entry encode
table indexed by the 16-bit sample and a 256-entry decode table. A 20 ms frame is one ``take`` each
way, with no Python loop over samples.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PCMU = 0
PCMA = 8

# The encoded value of digital silence: what a comfort-silence frame carries.
ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5

_ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int32)


def _bit_length(values: npt.NDArray[np.int32]) -> npt.NDArray[np.int32]:
    """Number of significant bits of non-negative ints (0 → 0), vectorised."""
    out = np.zeros_like(values)
    v = values.copy()
    while np.any(v):
        nz = v != 0
        out[nz] += 1
        v >>= 1
    return out


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    x = _ALL_SAMPLES
    # One's complement for negatives, as G.191 does: keeps the table symmetric around -1/0.
    magnitude = np.where(x < 0, (~x) >> 2, x >> 2) + 33
    magnitude = np.minimum(magnitude, 0x1FFF)
    segment = _bit_length(magnitude >> 6) + 1
    high = 8 - segment
    low = 0x0F - ((magnitude >> segment) & 0x0F)
    code = (high << 4) | low
    code = np.where(x >= 0, code | 0x80, code)
    return code.astype(np.uint8)


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32)
    sign = np.where(codes < 0x80, -1, 1)
    inverted = ~codes
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    step = 4 << (exponent + 1)
    value = (0x80 << exponent) + step * mantissa + step // 2 - 4 * 33
    return (sign * value).astype(np.int16)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    x = _ALL_SAMPLES
    ix = np.where(x < 0, (~x) >> 4, x >> 4)
    # Exponent = position of the leading one above the 4 mantissa bits (0 for the linear segment).
    exponent = np.maximum(_bit_length(ix) - 4, 0)
    shifted = ix >> np.maximum(exponent - 1, 0)
    code = np.where(ix > 15, (shifted - 16) + (exponent << 4), ix)
    code = np.where(x >= 0, code | 0x80, code)
    return (code ^ 0x55).astype(np.uint8)


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    codes = np.arange(256, dtype=np.int32)
    ix = (codes ^ 0x55) & 0x7F
    exponent = ix >> 4
    mantissa = ix & 0x0F
    mantissa = np.where(exponent > 0, mantissa + 16, mantissa)
    mantissa = (mantissa << 4) + 0x08
    mantissa = np.where(exponent > 1, mantissa << np.maximum(exponent - 1, 0), mantissa)
    return np.where(codes > 127, mantissa, -mantissa).astype(np.int16)


# Encode tables are indexed by the sample reinterpreted as uint16 (0..65535), so reorder them from
# "-32768 first" to "0 first": index i holds the code of int16(i).
ULAW_ENCODE: npt.NDArray[np.uint8] = np.roll(_build_ulaw_encode(), -32768)
ALAW_ENCODE: npt.NDArray[np.uint8] = np.roll(_build_alaw_encode(), -32768)
ULAW_DECODE: npt.NDArray[np.int16] = _build_ulaw_decode()
ALAW_DECODE: npt.NDArray[np.int16] = _build_alaw_decode()
for _table in (ULAW_ENCODE, ALAW_ENCODE, ULAW_DECODE, ALAW_DECODE):
    _table.setflags(write=False)


def encode_samples(samples: npt.NDArray[np.int16], payload_type: int) -> bytes:
    """G.711 payload of int16 samples (PCMU for payload type 0, PCMA for 8)."""
    table = ULAW_ENCODE if payload_type == PCMU else ALAW_ENCODE
    return table.take(samples.view(np.uint16)).tobytes()


def decode_samples(payload: bytes, payload_type: int) -> npt.NDArray[np.int16]:
    """int16 samples of a G.711 payload (PCMU for payload type 0, PCMA for 8)."""
    table = ULAW_DECODE if payload_type == PCMU else ALAW_DECODE
    return table.take(np.frombuffer(payload, dtype=np.uint8))


def ulaw_encode(pcm16: bytes) -> bytes:
    """µ-law bytes of 16-bit little-endian PCM."""
    return encode_samples(np.frombuffer(pcm16, dtype="<i2"), PCMU)


def ulaw_decode(payload: bytes) -> bytes:
    """16-bit little-endian PCM of µ-law bytes."""
    return decode_samples(payload, PCMU).astype("<i2").tobytes()


def alaw_encode(pcm16: bytes) -> bytes:
    """A-law bytes of 16-bit little-endian PCM."""
    return encode_samples(np.frombuffer(pcm16, dtype="<i2"), PCMA)


def alaw_decode(payload: bytes) -> bytes:
    """16-bit little-endian PCM of A-law bytes."""
    return decode_samples(payload, PCMA).astype("<i2").tobytes()


def silence_byte(payload_type: int) -> int:
    return ULAW_SILENCE if payload_type == PCMU else ALAW_SILENCE
