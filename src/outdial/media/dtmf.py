"""RFC 4733 telephone events for DTMF: the 4-byte payload, a sender schedule and a deduplicating receiver.

A digit is one event: every packet of it carries the RTP timestamp of the event's start, the first
has the marker bit, the duration grows by one frame per packet, and the final packet (E bit) is sent
three times (RFC 4733 §2.5.1.4). The receiver reports a digit once per event timestamp, whichever of
its packets arrives first, and ignores the source address entirely (sipp's pcap DTMF come from port 0).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

DIGITS = "0123456789*#ABCD"
DEFAULT_VOLUME = 10  # -10 dBm0, what most gateways send
END_REPEATS = 3

_PAYLOAD = struct.Struct("!BBH")


class DtmfError(ValueError):
    """A telephone-event payload or digit we cannot handle."""


def digit_to_event(digit: str) -> int:
    index = DIGITS.find(digit.upper())
    if len(digit) != 1 or index < 0:
        raise DtmfError(f"{digit!r} is not a DTMF digit; use 0-9, *, #, A-D")
    return index


def event_to_digit(event: int) -> str | None:
    return DIGITS[event] if 0 <= event < len(DIGITS) else None


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    event: int
    end: bool
    volume: int
    duration: int  # in timestamp units since the event's start

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise DtmfError(f"telephone-event payload is {len(payload)} bytes, needs 4")
        event, flags, duration = _PAYLOAD.unpack_from(payload)
        return cls(event=event, end=bool(flags & 0x80), volume=flags & 0x3F, duration=duration)

    def serialize(self) -> bytes:
        return _PAYLOAD.pack(self.event, (0x80 if self.end else 0) | (self.volume & 0x3F), self.duration)


@dataclass(frozen=True, slots=True)
class EventPacket:
    """One packet of an outgoing event; the stream stamps it with the event's start timestamp."""

    payload: bytes
    marker: bool


def event_packets(
    digit: str, duration_ms: int, frame_ms: int = 20, clock_rate: int = 8000
) -> list[EventPacket]:
    """The packets of one digit, one per frame: duration updates, then the end packet three times."""
    if duration_ms < frame_ms:
        raise DtmfError(f"DTMF duration {duration_ms} ms is shorter than one {frame_ms} ms frame")
    event = digit_to_event(digit)
    step = clock_rate * frame_ms // 1000
    frames = max(duration_ms // frame_ms, 1)
    packets = [
        EventPacket(TelephoneEvent(event, False, DEFAULT_VOLUME, step * (i + 1)).serialize(), i == 0)
        for i in range(frames - 1)
    ]
    end = TelephoneEvent(event, True, DEFAULT_VOLUME, min(step * frames, 0xFFFF)).serialize()
    packets.extend(EventPacket(end, frames == 1 and i == 0) for i in range(END_REPEATS))
    return packets


def digits_schedule(
    digits: str, duration_ms: int, gap_ms: int = 60, frame_ms: int = 20
) -> Iterator[tuple[EventPacket | None, bool]]:
    """Per tick: (packet or None during the pause between digits, True when this tick starts a new event)."""
    for index, digit in enumerate(digits):
        if index:
            for _ in range(max(gap_ms // frame_ms, 1)):
                yield None, False
        for i, packet in enumerate(event_packets(digit, duration_ms, frame_ms)):
            yield packet, i == 0


class DtmfReceiver:
    """Turns incoming telephone-event packets into digits, one per event (keyed by RTP timestamp)."""

    def __init__(self, memory: int = 16) -> None:
        self._seen: deque[tuple[int, int]] = deque(maxlen=memory)

    def receive(self, ssrc: int, timestamp: int, payload: bytes) -> str | None:
        """The digit this packet starts, or None if its event was already reported or is not a digit."""
        try:
            event = TelephoneEvent.parse(payload)
        except DtmfError:
            return None
        key = (ssrc, timestamp)
        if key in self._seen:
            return None
        self._seen.append(key)
        return event_to_digit(event.event)
