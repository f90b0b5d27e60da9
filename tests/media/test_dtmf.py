"""RFC 4733 telephone events: payload layout, the packet schedule of a digit, receiver dedupe."""

from __future__ import annotations

import pytest

from outdial.media.dtmf import (
    DtmfError,
    DtmfReceiver,
    TelephoneEvent,
    digit_to_event,
    digits_schedule,
    event_packets,
)


def test_payload_layout_matches_rfc4733_figure_1() -> None:
    event = TelephoneEvent(event=11, end=True, volume=10, duration=800)
    assert event.serialize() == bytes([11, 0x80 | 10, 0x03, 0x20])
    assert TelephoneEvent.parse(event.serialize()) == event


def test_digit_mapping_covers_the_16_dtmf_keys() -> None:
    assert [digit_to_event(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert digit_to_event("a") == 12
    with pytest.raises(DtmfError, match="not a DTMF digit"):
        digit_to_event("E")


def test_a_100ms_digit_is_four_updates_and_the_end_three_times() -> None:
    packets = event_packets("7", 100)
    events = [TelephoneEvent.parse(p.payload) for p in packets]
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert [p.marker for p in packets] == [True] + [False] * 6
    assert {e.event for e in events} == {7}


def test_schedule_pauses_between_digits_and_marks_each_event_start() -> None:
    schedule = list(digits_schedule("12", 40, gap_ms=60))
    starts = [i for i, (_, starts) in enumerate(schedule) if starts]
    gaps = [i for i, (packet, _) in enumerate(schedule) if packet is None]
    # digit 1: 1 update + 3 ends, 3 silent ticks, digit 2: 1 update + 3 ends
    assert starts == [0, 7] and gaps == [4, 5, 6] and len(schedule) == 11


def test_too_short_a_digit_is_refused() -> None:
    with pytest.raises(DtmfError, match="shorter than one"):
        event_packets("1", 10)


def test_receiver_reports_each_event_once_whichever_packet_arrives_first() -> None:
    rx = DtmfReceiver()
    packets = [p.payload for p in event_packets("5", 60)]
    # The first two packets are lost; then retransmitted end packets arrive.
    got = [rx.receive(1, 1000, payload) for payload in packets[2:]]
    assert got == ["5", None, None]
    # Same digit again, a new event (new timestamp): reported again.
    assert rx.receive(1, 2000, packets[0]) == "5"
    assert rx.receive(1, 2000, packets[-1]) is None


def test_receiver_ignores_short_payloads_and_unknown_events() -> None:
    rx = DtmfReceiver()
    assert rx.receive(1, 0, b"\x01\x02") is None
    assert (
        rx.receive(1, 160, TelephoneEvent(event=66, end=False, volume=10, duration=160).serialize()) is None
    )
