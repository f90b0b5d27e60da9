"""SDP offer/answer for one audio stream (RFC 3264) with SDES keys (RFC 4568)."""

from __future__ import annotations

import pytest

from outdial.sip.sdp import (
    LocalMedia,
    SdpError,
    SessionDescription,
    answer_offer,
    build_offer,
    process_answer,
)

KEY_A = bytes(range(30))
KEY_B = bytes(range(100, 130))


def test_offer_lists_pcmu_pcma_telephone_event_ptime_and_direction() -> None:
    text = build_offer(LocalMedia("127.0.0.1", 4000), "sendonly").serialize().decode()
    assert "m=audio 4000 RTP/AVP 0 8 101\r\n" in text
    for line in ("a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendonly"):
        assert line in text
    assert "c=IN IP4 127.0.0.1" in text


def test_srtp_offer_and_answer_exchange_keys_both_ways() -> None:
    caller = LocalMedia("127.0.0.1", 4000, "srtp_required", KEY_A)
    callee = LocalMedia("127.0.0.1", 5000, "srtp", KEY_B)
    offer = build_offer(caller)
    assert offer.audio().proto == "RTP/SAVP"
    answer, theirs = answer_offer(callee, SessionDescription.parse(offer.serialize()))
    assert (theirs.srtp_tx_key, theirs.srtp_rx_key) == (KEY_B, KEY_A)
    ours = process_answer(caller, SessionDescription.parse(answer.serialize()))
    assert (ours.srtp_tx_key, ours.srtp_rx_key) == (KEY_A, KEY_B)
    assert (ours.remote_host, ours.remote_port, ours.payload_type, ours.dtmf_payload_type) == (
        "127.0.0.1",
        5000,
        0,
        101,
    )


def test_plain_answer_is_accepted_for_srtp_but_fails_srtp_required() -> None:
    plain = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        "m=audio 7000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
    )
    n = process_answer(LocalMedia("127.0.0.1", 4000, "srtp", KEY_A), plain)
    assert not n.encrypted and n.payload_type == 8 and n.dtmf_payload_type is None
    with pytest.raises(SdpError, match="required"):
        process_answer(LocalMedia("127.0.0.1", 4000, "srtp_required", KEY_A), plain)


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [("sendrecv", "sendrecv"), ("sendonly", "recvonly"), ("recvonly", "sendonly"), ("inactive", "inactive")],
)
def test_answer_direction_mirrors_the_offer(theirs: str, ours: str) -> None:
    offer = build_offer(LocalMedia("127.0.0.1", 4000), theirs)  # type: ignore[arg-type]
    answer, n = answer_offer(LocalMedia("127.0.0.1", 5000), SessionDescription.parse(offer.serialize()))
    assert n.direction == ours and answer.audio().direction == ours


def test_no_common_codec_is_an_sdp_error() -> None:
    g722 = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 9\r\n"
    )
    with pytest.raises(SdpError, match="no common audio codec"):
        answer_offer(LocalMedia("127.0.0.1", 5000), g722)
