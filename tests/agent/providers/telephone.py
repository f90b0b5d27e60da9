"""The telephone path for test audio, through the media layer's own pieces: 16 kHz PCM → its 8 kHz
low-pass decimator → G.711 µ-law → its 8 → 16 kHz upsampler, frame by frame as on a live call."""

from __future__ import annotations

import numpy as np

from outdial.media.g711 import ulaw_decode, ulaw_encode
from outdial.media.resample import FrameResampler

_FRAME = 640  # 20 ms at 16 kHz


def telephone(pcm16k: bytes) -> bytes:
    down, up = FrameResampler(16000, 8000), FrameResampler(8000, 16000)
    pcm16k += bytes(-len(pcm16k) % _FRAME)
    out = bytearray()
    for i in range(0, len(pcm16k), _FRAME):
        narrow = down.process(np.frombuffer(pcm16k[i : i + _FRAME], dtype="<i2")).astype("<i2").tobytes()
        wire = ulaw_decode(ulaw_encode(narrow))
        out += up.process(np.frombuffer(wire, dtype="<i2")).astype("<i2").tobytes()
    return bytes(out)
