"""Media: RTP/RTCP, SRTP, jitter buffer, G.711, DTMF, resampling and recording for live calls.

The public surface is ``MediaStream`` (one call's audio), ``MediaClock`` (the one process-wide
20 ms clock that drives every stream) and the SRTP key helpers. Call recordings are made by the
agent runtime from the audio and sent handlers (``outdial.agent.recording``).
"""

from outdial.media.clock import LatenessStats, MediaClock, default_clock, install_uvloop
from outdial.media.g711 import PCMA, PCMU
from outdial.media.srtp import SrtpError, SrtpKeys, generate_srtp_key, key_from_inline, key_to_inline
from outdial.media.stream import MediaError, MediaStream, StreamStats

__all__ = [
    "PCMA",
    "PCMU",
    "LatenessStats",
    "MediaClock",
    "MediaError",
    "MediaStream",
    "SrtpError",
    "SrtpKeys",
    "StreamStats",
    "default_clock",
    "generate_srtp_key",
    "install_uvloop",
    "key_from_inline",
    "key_to_inline",
]
