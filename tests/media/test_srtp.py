"""SRTP: two contexts with each other's keys interoperate; tampering and wrong keys are rejected."""

from __future__ import annotations

import pytest

from outdial.media.rtcp import ReceiverReport
from outdial.media.rtp import RtpPacket
from outdial.media.srtp import (
    SrtpContext,
    SrtpError,
    SrtpKeys,
    generate_srtp_key,
    key_from_inline,
    key_to_inline,
)


def _contexts() -> tuple[SrtpContext, SrtpContext]:
    ka, kb = generate_srtp_key(), generate_srtp_key()
    return SrtpContext(SrtpKeys(tx_key=ka, rx_key=kb)), SrtpContext(SrtpKeys(tx_key=kb, rx_key=ka))


def test_protect_then_unprotect_between_two_ends_both_ways() -> None:
    alice, bob = _contexts()
    for seq in range(5):
        packet = RtpPacket(0, seq, 160 * seq, 0xA11CE, bytes(range(160))).serialize()
        protected = alice.protect(packet)
        assert len(protected) == len(packet) + 10  # HMAC-SHA1-80 tag
        assert protected[12:] != packet[12:]  # the payload is encrypted, the header is not
        assert bob.unprotect(protected) == packet
        reply = RtpPacket(8, seq, 160 * seq, 0xB0B, b"\xd5" * 160).serialize()
        assert alice.unprotect(bob.protect(reply)) == reply


def test_srtcp_round_trip() -> None:
    alice, bob = _contexts()
    report = ReceiverReport(0xA11CE).serialize()
    assert bob.unprotect_rtcp(alice.protect_rtcp(report)) == report


def test_tampered_replayed_and_wrongly_keyed_packets_are_rejected() -> None:
    alice, bob = _contexts()
    packet = RtpPacket(0, 1, 160, 0xA11CE, b"\xff" * 160).serialize()
    protected = alice.protect(packet)
    tampered = protected[:20] + bytes([protected[20] ^ 1]) + protected[21:]
    with pytest.raises(SrtpError):
        bob.unprotect(tampered)
    bob.unprotect(protected)
    with pytest.raises(SrtpError):
        bob.unprotect(protected)  # replay
    stranger = SrtpContext(SrtpKeys(generate_srtp_key(), generate_srtp_key()))
    with pytest.raises(SrtpError):
        stranger.unprotect(alice.protect(RtpPacket(0, 2, 320, 0xA11CE, b"\xff" * 160).serialize()))


def test_keys_are_30_bytes_and_survive_the_sdp_inline_encoding() -> None:
    key = generate_srtp_key()
    assert len(key) == 30 and generate_srtp_key() != key
    inline = key_to_inline(key)
    assert len(inline) == 40
    assert key_from_inline(inline) == key
    assert key_from_inline(inline + "|2^31|1:1") == key


def test_bad_keys_are_refused_with_their_size() -> None:
    with pytest.raises(SrtpError, match="16 bytes"):
        SrtpKeys(tx_key=b"x" * 16, rx_key=generate_srtp_key())
    with pytest.raises(SrtpError, match="needs 30"):
        key_from_inline(key_to_inline(b"short"))
    with pytest.raises(SrtpError, match="base64"):
        key_from_inline("not base64!")
