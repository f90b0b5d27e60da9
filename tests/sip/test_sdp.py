"""SDP offer/answer for one audio stream (RFC 3264) with SDES keys (RFC 4568)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outdial.sip.sdp import (
    SUITE,
    Crypto,
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


def test_answer_echoes_the_offered_crypto_tag() -> None:
    offer = build_offer(LocalMedia("127.0.0.1", 4000, "srtp", KEY_A))
    text = offer.serialize().decode().replace("a=crypto:1 ", "a=crypto:7 ")
    answer, _ = answer_offer(LocalMedia("127.0.0.1", 5000, "none", KEY_B), SessionDescription.parse(text))
    assert answer.audio().attr("crypto") == [str(Crypto(7, SUITE, KEY_B))]


def test_pcmu_under_a_dynamic_payload_number_is_not_taken_for_ours() -> None:
    dynamic = SessionDescription.parse(
        "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
        "m=audio 7000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n"
    )
    with pytest.raises(SdpError, match="no common audio codec"):
        answer_offer(LocalMedia("127.0.0.1", 5000), dynamic)


_SDP_LINES = st.sampled_from(
    [
        "v=0",
        "o=- 1 1 IN IP4 10.0.0.1",
        "c=IN IP4 10.0.0.1",
        "m=audio 7000 RTP/AVP 0 101",
        "m=audio 7000 RTP/SAVP 0",
        "a=rtpmap:101 telephone-event/8000",
        "a=sendonly",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_SDP_LINES, st.text(max_size=40)), max_size=12))
def test_any_sdp_text_gives_an_answer_or_an_sdp_error(lines: list[str]) -> None:
    local = LocalMedia("127.0.0.1", 5000, "srtp", KEY_B)
    try:
        answer, negotiated = answer_offer(local, SessionDescription.parse("\r\n".join(lines)))
    except SdpError:
        return
    assert negotiated.payload_type in (0, 8)
    SessionDescription.parse(answer.serialize())
