"""RTCP: compound packets round trip, reception statistics produce RFC 3550 report blocks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outdial.media import rtcp


def _block(ssrc: int = 5) -> rtcp.ReportBlock:
    return rtcp.ReportBlock(ssrc, 64, -3, 0x0001_0010, 120, 0xAABBCCDD, 65536)


def test_compound_sr_sdes_bye_round_trip() -> None:
    packets: list[rtcp.RtcpPacket] = [
        rtcp.SenderReport(1, 0x1122334455667788, 160, 50, 8000, [_block(), _block(6)]),
        rtcp.SourceDescription([(1, "outdial-abc")]),
        rtcp.Bye([1], "hangup"),
    ]
    data = rtcp.serialize_compound(packets)
    assert len(data) % 4 == 0
    assert rtcp.parse_compound(data) == packets


def test_receiver_report_round_trip_keeps_negative_cumulative_loss() -> None:
    packet = rtcp.ReceiverReport(9, [_block()])
    (parsed,) = rtcp.parse_compound(packet.serialize())
    assert isinstance(parsed, rtcp.ReceiverReport)
    assert parsed.reports[0].cumulative_lost == -3


def test_unknown_packet_types_are_kept_not_rejected() -> None:
    app = rtcp.RtcpUnknown(204, 1, b"\x00\x00\x00\x01name")
    rr = rtcp.ReceiverReport(2)
    assert rtcp.parse_compound(rtcp.serialize_compound([rr, app])) == [rr, app]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\xc8", "too short"),
        (bytes([0x40, 200, 0, 0]), "version"),
        (bytes([0x80, 201, 0, 5, 0, 0, 0, 1]), "claims"),
        (bytes([0x81, 201, 0, 1, 0, 0, 0, 1]), "too short for 1 report"),
        (bytes([0x81, 202, 0, 1, 0, 0, 0, 1]), "SDES"),
        (bytes([0x80, 201, 0, 1, 0, 0, 0, 1, 0x80]), "trailing"),
    ],
)
def test_malformed_compounds_are_rejected(data: bytes, message: str) -> None:
    with pytest.raises(rtcp.RtcpError, match=message):
        rtcp.parse_compound(data)


@given(st.binary(max_size=120))
def test_arbitrary_bytes_parse_or_raise_rtcp_error(data: bytes) -> None:
    try:
        rtcp.parse_compound(data)
    except rtcp.RtcpError:
        pass


def test_reception_statistics_count_loss_across_sequence_wrap() -> None:
    stats = rtcp.ReceptionStatistics(8000)
    seqs = [65530, 65531, 65533, 65534, 65535, 0, 1, 3]  # 65532 and 2 lost
    for i, seq in enumerate(seqs):
        stats.update(seq, 160 * i, i * 0.02)
    assert stats.expected == 10 and stats.received == 8 and stats.lost == 2
    block = stats.report_block(77)
    assert block.cumulative_lost == 2
    assert block.fraction_lost == (2 << 8) // 10
    assert block.highest_sequence == 0x10000 + 3
    # The next interval starts from here: no new loss, fraction 0.
    stats.update(4, 0, 0.2)
    assert stats.report_block(77).fraction_lost == 0


def test_jitter_follows_the_rfc3550_estimator() -> None:
    stats = rtcp.ReceptionStatistics(8000)
    # Packets every 20 ms of media, arriving alternately 0 and 5 ms late: |D| = 40 timestamp units.
    for i in range(200):
        stats.update(i, 160 * i, i * 0.02 + (0.005 if i % 2 else 0.0))
    assert stats.jitter == pytest.approx(40, rel=0.01)
    perfect = rtcp.ReceptionStatistics(8000)
    for i in range(50):
        perfect.update(i, 160 * i, i * 0.02)
    assert perfect.jitter == pytest.approx(0, abs=1e-6)


def test_ntp_middle_takes_the_middle_32_bits() -> None:
    assert rtcp.ntp_middle(0x1122334455667788) == 0x33445566
    assert rtcp.ntp_now() >> 32 > rtcp.NTP_EPOCH_OFFSET
