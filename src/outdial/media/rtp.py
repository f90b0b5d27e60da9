"""RTP packets (RFC 3550 §5.1): parse and serialize, with CSRCs, header extension and padding.

Sans-I/O: bytes in, ``RtpPacket`` out, and back. Sequence numbers and timestamps wrap; the helpers
here compare them modulo 2**16 / 2**32 the way §A.1 recommends.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

RTP_VERSION = 2
RTP_HEADER_SIZE = 12

_FIXED = struct.Struct("!BBHII")
_EXTENSION = struct.Struct("!HH")


class RtpError(ValueError):
    """A datagram that is not a well-formed RTP packet."""


@dataclass(slots=True)
class RtpPacket:
    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: list[int] = field(default_factory=list)
    # Header extension (RFC 3550 §5.3.1): the 16-bit profile-defined value and its data (a multiple of 4).
    extension_profile: int | None = None
    extension: bytes = b""
    # Padding octets to append on serialize (the last one carries the count), 0 for none.
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        if len(data) < RTP_HEADER_SIZE:
            raise RtpError(f"RTP packet too short: {len(data)} bytes, the fixed header needs 12")
        first, second, seq, ts, ssrc = _FIXED.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTP version {first >> 6}, expected 2")
        cc = first & 0x0F
        offset = RTP_HEADER_SIZE + 4 * cc
        if len(data) < offset:
            raise RtpError(f"RTP packet truncated inside its {cc} CSRC identifiers")
        csrc = list(struct.unpack_from(f"!{cc}I", data, RTP_HEADER_SIZE)) if cc else []
        extension_profile: int | None = None
        extension = b""
        if first & 0x10:
            if len(data) < offset + 4:
                raise RtpError("RTP packet truncated inside its header extension")
            extension_profile, words = _EXTENSION.unpack_from(data, offset)
            offset += 4
            if len(data) < offset + 4 * words:
                raise RtpError("RTP header extension longer than the packet")
            extension = bytes(data[offset : offset + 4 * words])
            offset += 4 * words
        end = len(data)
        padding = 0
        if first & 0x20:
            padding = data[-1]
            if padding == 0 or offset + padding > end:
                raise RtpError(f"RTP padding count {padding} is invalid for a {end}-byte packet")
            end -= padding
        return cls(
            payload_type=second & 0x7F,
            sequence_number=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=bytes(data[offset:end]),
            marker=bool(second & 0x80),
            csrc=csrc,
            extension_profile=extension_profile,
            extension=extension,
            padding=padding,
        )

    def serialize(self) -> bytes:
        if len(self.csrc) > 15:
            raise RtpError("RTP allows at most 15 CSRC identifiers")
        if self.extension and len(self.extension) % 4:
            raise RtpError("RTP header extension data must be a multiple of 4 bytes")
        if not 0 <= self.padding <= 255:
            raise RtpError("RTP padding must be 0..255 bytes")
        has_ext = self.extension_profile is not None
        first = (RTP_VERSION << 6) | (0x20 if self.padding else 0) | (0x10 if has_ext else 0) | len(self.csrc)
        second = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        parts = [_FIXED.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if has_ext:
            parts.append(_EXTENSION.pack(self.extension_profile or 0, len(self.extension) // 4))
            parts.append(self.extension)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)


def pack_header(payload_type: int, marker: bool, sequence_number: int, timestamp: int, ssrc: int) -> bytes:
    """The 12-byte fixed header alone: the send path's fast form (no CSRC, extension or padding)."""
    return _FIXED.pack(0x80, (0x80 if marker else 0) | payload_type, sequence_number, timestamp, ssrc)


def is_rtcp(data: bytes) -> bool:
    """True for RTCP arriving on the RTP port (RFC 5761 §4: packet types 192–223 sit in the PT field)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def seq_delta(a: int, b: int) -> int:
    """Signed distance a − b between two 16-bit sequence numbers (−32768..32767)."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def seq_newer(a: int, b: int) -> bool:
    """True when sequence number a comes after b, across wrap-around."""
    return seq_delta(a, b) > 0


def ts_delta(a: int, b: int) -> int:
    """Signed distance a − b between two 32-bit RTP timestamps."""
    return ((a - b + 0x80000000) & 0xFFFFFFFF) - 0x80000000
