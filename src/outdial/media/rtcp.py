"""RTCP (RFC 3550 §6): sender and receiver reports, SDES CNAME and BYE, in compound packets.

Sans-I/O: ``parse_compound(bytes)`` gives a list of packets, ``serialize_compound(packets)`` the
bytes. Packet types we do not use (APP, feedback) are kept as ``RtcpUnknown`` rather than rejected,
so a peer's extras never make us drop its reports.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203

SDES_CNAME = 1

_HEADER = struct.Struct("!BBH")
_SENDER_INFO = struct.Struct("!IIIII")
_REPORT_BLOCK = struct.Struct("!IIIIII")

# Seconds between the NTP epoch (1900) and the Unix epoch (1970).
NTP_EPOCH_OFFSET = 2208988800


class RtcpError(ValueError):
    """A datagram that is not a well-formed RTCP compound packet."""


@dataclass(slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int  # 0..255: lost / expected since the last report, as a fixed-point fraction
    cumulative_lost: int  # signed 24-bit: duplicates can make it negative
    highest_sequence: int  # extended: cycles << 16 | highest sequence number seen
    jitter: int  # interarrival jitter in timestamp units
    last_sr: int  # middle 32 bits of the NTP timestamp of the last SR received, 0 if none
    delay_since_last_sr: int  # in 1/65536 s

    def serialize(self) -> bytes:
        lost = (self.fraction_lost & 0xFF) << 24 | (self.cumulative_lost & 0xFFFFFF)
        return _REPORT_BLOCK.pack(
            self.ssrc, lost, self.highest_sequence, self.jitter, self.last_sr, self.delay_since_last_sr
        )

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, lost, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 0x1000000
        return cls(ssrc, lost >> 24, cumulative, highest, jitter, lsr, dlsr)


@dataclass(slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format: seconds << 32 | fraction
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + _SENDER_INFO.pack(
            self.ntp_timestamp >> 32,
            self.ntp_timestamp & 0xFFFFFFFF,
            self.rtp_timestamp,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        )
        body += b"".join(r.serialize() for r in self.reports)
        return _pack(RTCP_SR, len(self.reports), body)


@dataclass(slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)

    def serialize(self) -> bytes:
        body = struct.pack("!I", self.ssrc) + b"".join(r.serialize() for r in self.reports)
        return _pack(RTCP_RR, len(self.reports), body)


@dataclass(slots=True)
class SourceDescription:
    """SDES with one chunk per source; only the CNAME item matters to us (RFC 3550 §6.5.1)."""

    chunks: list[tuple[int, str]] = field(default_factory=list)  # (ssrc, cname)

    def serialize(self) -> bytes:
        body = b""
        for ssrc, cname in self.chunks:
            text = cname.encode()[:255]
            chunk = struct.pack("!IBB", ssrc, SDES_CNAME, len(text)) + text + b"\x00"
            chunk += bytes(-len(chunk) % 4)
            body += chunk
        return _pack(RTCP_SDES, len(self.chunks), body)


@dataclass(slots=True)
class Bye:
    sources: list[int] = field(default_factory=list)
    reason: str = ""

    def serialize(self) -> bytes:
        body = b"".join(struct.pack("!I", s) for s in self.sources)
        if self.reason:
            text = self.reason.encode()[:255]
            body += bytes([len(text)]) + text
            body += bytes(-len(body) % 4)
        return _pack(RTCP_BYE, len(self.sources), body)


@dataclass(slots=True)
class RtcpUnknown:
    packet_type: int
    count: int
    body: bytes

    def serialize(self) -> bytes:
        return _pack(self.packet_type, self.count, self.body)


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | RtcpUnknown


def _pack(packet_type: int, count: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise RtcpError("RTCP packet bodies are 32-bit aligned")
    return _HEADER.pack(0x80 | (count & 0x1F), packet_type, len(body) // 4) + body


def serialize_compound(packets: list[RtcpPacket]) -> bytes:
    return b"".join(p.serialize() for p in packets)


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """All packets of an RTCP compound datagram; raises ``RtcpError`` on any malformed one."""
    packets: list[RtcpPacket] = []
    offset = 0
    if len(data) < 4:
        raise RtcpError(f"RTCP packet too short: {len(data)} bytes")
    while offset < len(data):
        if len(data) - offset < 4:
            raise RtcpError("trailing bytes after the last RTCP packet")
        first, packet_type, words = _HEADER.unpack_from(data, offset)
        if first >> 6 != 2:
            raise RtcpError(f"RTCP version {first >> 6}, expected 2")
        end = offset + 4 + 4 * words
        if end > len(data):
            raise RtcpError(f"RTCP packet type {packet_type} claims {4 * words} bytes past its header")
        count = first & 0x1F
        body = data[offset + 4 : end]
        if first & 0x20:
            if not body or body[-1] == 0 or body[-1] > len(body):
                raise RtcpError("invalid RTCP padding")
            body = body[: -body[-1]]
        packets.append(_parse_one(packet_type, count, bytes(body)))
        offset = end
    return packets


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == RTCP_SR:
        if len(body) < 24 + 24 * count:
            raise RtcpError(f"sender report too short for {count} report blocks")
        (ssrc,) = struct.unpack_from("!I", body)
        ntp_hi, ntp_lo, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body, 4)
        blocks = [ReportBlock.parse(body, 24 + 24 * i) for i in range(count)]
        return SenderReport(ssrc, ntp_hi << 32 | ntp_lo, rtp_ts, packets, octets, blocks)
    if packet_type == RTCP_RR:
        if len(body) < 4 + 24 * count:
            raise RtcpError(f"receiver report too short for {count} report blocks")
        (ssrc,) = struct.unpack_from("!I", body)
        return ReceiverReport(ssrc, [ReportBlock.parse(body, 4 + 24 * i) for i in range(count)])
    if packet_type == RTCP_SDES:
        return _parse_sdes(count, body)
    if packet_type == RTCP_BYE:
        if len(body) < 4 * count:
            raise RtcpError(f"BYE too short for {count} sources")
        sources = list(struct.unpack_from(f"!{count}I", body))
        reason = ""
        rest = body[4 * count :]
        if rest:
            length = rest[0]
            if 1 + length > len(rest):
                raise RtcpError("BYE reason longer than the packet")
            reason = rest[1 : 1 + length].decode("utf-8", "replace")
        return Bye(sources, reason)
    return RtcpUnknown(packet_type, count, body)


def _parse_sdes(count: int, body: bytes) -> SourceDescription:
    chunks: list[tuple[int, str]] = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(body):
            raise RtcpError("SDES chunk truncated")
        (ssrc,) = struct.unpack_from("!I", body, pos)
        pos += 4
        cname = ""
        while True:
            if pos >= len(body):
                raise RtcpError("SDES items not terminated")
            item = body[pos]
            if item == 0:
                pos += 1
                break
            if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                raise RtcpError("SDES item truncated")
            length = body[pos + 1]
            if item == SDES_CNAME:
                cname = body[pos + 2 : pos + 2 + length].decode("utf-8", "replace")
            pos += 2 + length
        pos += -pos % 4
        chunks.append((ssrc, cname))
    return SourceDescription(chunks)


def ntp_now() -> int:
    """The wall clock as a 64-bit NTP timestamp (what a sender report carries)."""
    now = time.time() + NTP_EPOCH_OFFSET
    seconds = int(now)
    return seconds << 32 | int((now - seconds) * (1 << 32))


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR field of a report block."""
    return (ntp >> 16) & 0xFFFFFFFF


class ReceptionStatistics:
    """What a receiver knows about one source (RFC 3550 A.1, A.3, A.8): loss, jitter, highest seq."""

    __slots__ = (
        "_arrival_rate",
        "_last_transit",
        "base_seq",
        "cycles",
        "expected_prior",
        "jitter",
        "max_seq",
        "received",
        "received_prior",
    )

    def __init__(self, clock_rate: int) -> None:
        self._arrival_rate = float(clock_rate)
        self.base_seq = -1
        self.max_seq = 0
        self.cycles = 0
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter = 0.0  # timestamp units
        self._last_transit: float | None = None

    def update(self, sequence_number: int, timestamp: int, arrival: float) -> None:
        if self.base_seq < 0:
            self.base_seq = self.max_seq = sequence_number
        else:
            delta = (sequence_number - self.max_seq) & 0xFFFF
            if 0 < delta < 0x8000:
                if sequence_number < self.max_seq:
                    self.cycles += 0x10000
                self.max_seq = sequence_number
        self.received += 1
        # Interarrival jitter, A.8: transit-time differences in timestamp units, smoothed by 1/16.
        transit = arrival * self._arrival_rate - timestamp
        if self._last_transit is not None:
            d = abs(transit - self._last_transit)
            # A timestamp jump (new talkspurt after a pause, sender restart) is not jitter.
            if d < self._arrival_rate:
                self.jitter += (d - self.jitter) / 16.0
        self._last_transit = transit

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return 0 if self.base_seq < 0 else self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        return max(self.expected - self.received, 0)

    def report_block(self, ssrc: int, last_sr: int = 0, delay_since_last_sr: int = 0) -> ReportBlock:
        """A report block for this source; resets the "since last report" interval (A.3)."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        cumulative = max(min(expected - self.received, 0x7FFFFF), -0x800000)
        return ReportBlock(
            ssrc=ssrc,
            fraction_lost=min(fraction, 255),
            cumulative_lost=cumulative,
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=int(self.jitter),
            last_sr=last_sr,
            delay_since_last_sr=delay_since_last_sr,
        )
