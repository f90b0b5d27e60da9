"""RTP packets: round trips through parse/serialize, every optional header part, and parse errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outdial.media.rtp import RtpError, RtpPacket, is_rtcp, pack_header, seq_delta, seq_newer, ts_delta


def test_minimal_packet_serializes_to_the_rfc3550_layout() -> None:
    packet = RtpPacket(
        payload_type=0, sequence_number=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304, payload=b"ab"
    )
    assert packet.serialize() == bytes.fromhex("80001234deadbeef01020304") + b"ab"


def test_marker_csrc_extension_and_padding_round_trip() -> None:
    packet = RtpPacket(
        payload_type=101,
        sequence_number=65535,
        timestamp=4294967295,
        ssrc=7,
        payload=b"\x01\x02\x03",
        marker=True,
        csrc=[1, 2, 3],
        extension_profile=0xBEDE,
        extension=b"\x10\xff\x00\x00",
        padding=5,
    )
    data = packet.serialize()
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[1] == 0x80 | 101
    assert data[-1] == 5 and len(data) == 12 + 12 + 4 + 4 + 3 + 5
    assert RtpPacket.parse(data) == packet


@given(
    pt=st.integers(0, 127),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    padding=st.integers(0, 255),
)
def test_parse_inverts_serialize(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool, csrc: list[int], padding: int
) -> None:
    packet = RtpPacket(pt, seq, ts, ssrc, payload, marker, csrc, padding=padding)
    assert RtpPacket.parse(packet.serialize()) == packet


@given(st.binary(max_size=80))
def test_arbitrary_bytes_parse_or_raise_rtp_error(data: bytes) -> None:
    try:
        RtpPacket.parse(data)
    except RtpError:
        pass


def test_fast_header_matches_the_full_serializer() -> None:
    full = RtpPacket(8, 42, 160, 99, b"", marker=True).serialize()
    assert pack_header(8, True, 42, 160, 99) == full


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x00\x00", "too short"),
        (bytes.fromhex("400000000000000000000000"), "version 1"),
        (bytes.fromhex("820000000000000000000000") + b"\x00" * 4, "CSRC"),
        (bytes.fromhex("900000000000000000000000") + b"\xbe\xde", "extension"),
        (bytes.fromhex("900000000000000000000000") + b"\xbe\xde\x00\x02\x00\x00\x00\x00", "longer than"),
        (bytes.fromhex("a00000000000000000000000") + b"\x00", "padding"),
        (bytes.fromhex("a00000000000000000000000") + b"\x01\x09", "padding"),
    ],
    ids=["short", "version", "csrc", "ext-header", "ext-body", "padding-zero", "padding-long"],
)
def test_malformed_packets_are_rejected_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        RtpPacket.parse(data)


def test_serialize_refuses_what_the_header_cannot_carry() -> None:
    with pytest.raises(RtpError, match="15 CSRC"):
        RtpPacket(0, 0, 0, 0, csrc=list(range(16))).serialize()
    with pytest.raises(RtpError, match="multiple of 4"):
        RtpPacket(0, 0, 0, 0, extension_profile=1, extension=b"abc").serialize()


def test_sequence_and_timestamp_arithmetic_wraps() -> None:
    assert seq_delta(2, 65534) == 4
    assert seq_delta(65534, 2) == -4
    assert seq_newer(0, 65535) and not seq_newer(65535, 0)
    assert ts_delta(80, 0xFFFFFFB0) == 160
    assert ts_delta(0xFFFFFFB0, 80) == -160


def test_rtcp_is_told_apart_from_rtp_on_a_shared_port() -> None:
    assert is_rtcp(bytes([0x80, 200, 0, 6]))
    assert is_rtcp(bytes([0x81, 201, 0, 7]))
    assert not is_rtcp(pack_header(0, False, 1, 1, 1))
    assert not is_rtcp(pack_header(101, True, 1, 1, 1))
