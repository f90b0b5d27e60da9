"""Calls placed through sipp acting as the trunk: every outcome a real trunk produces, on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from outdial.lifecycle import EndReason
from outdial.media.g711 import ulaw_encode
from outdial.sip import Answered, EarlyMedia, Ended, Ringing, SipTimeout, Timers, TrunkConfig, UserAgent
from tests.sip.sippkit import (
    ACK_REINVITE,
    BYE_FROM_CALLEE,
    CAPTURE_DIALOG,
    REINVITE_HOLD,
    recv,
    response,
    scenario,
    start_sipp,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]
DTMF_PCAP = "/usr/share/sip-tester/dtmf_2833_1.pcap"


@pytest.fixture
async def ua() -> AsyncIterator[UserAgent]:
    agent = await UserAgent.start(timers=Timers(t1=0.1), sample_rate=8000)
    yield agent
    await agent.close()


FRAME = 160  # one 20 ms PCMU packet


def frames_arrived(sent: bytes, heard: bytes | bytearray) -> float:
    """Share of the sent 20 ms payloads that arrived byte for byte, in order.

    The playout side hands over exactly one payload per 20 ms, so each arrived packet is one
    160-byte chunk of `heard`; a packet the jitter buffer had to drop (late, on a loaded machine) is
    missing, never altered.
    """
    chunks = [heard[i : i + FRAME] for i in range(0, len(heard) - FRAME + 1, FRAME)]
    wanted = [sent[i : i + FRAME] for i in range(0, len(sent), FRAME)]
    found, pos = 0, 0
    for frame in wanted:
        try:
            pos = chunks.index(frame, pos) + 1
        except ValueError:
            continue
        found += 1
    return found / len(wanted)


def chirp_ulaw(seconds: float = 1.0) -> bytes:
    """A rising tone as µ-law without 0x7F (µ-law's "negative zero", which decodes like 0xFF): every other
    byte value survives decode→encode unchanged, so the payload can be compared byte for byte."""
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (9000 * np.sin(2 * np.pi * (300 + 700 * t) * t)).astype(np.int16)
    return ulaw_encode(pcm.tobytes()).replace(b"\x7f", b"\xff")


ANSWER_THEN_BYE = (
    recv("INVITE") + response(200, "OK", sdp="[media_port]") + recv("ACK") + recv("BYE") + response(200, "OK")
)


async def test_answered_call_receives_sipp_audio_bit_exactly_and_a_dtmf_digit(
    ua: UserAgent, tmp_path: Path
) -> None:
    audio = chirp_ulaw()
    (tmp_path / "callee.ulaw").write_bytes(audio)
    body = (
        recv("INVITE")
        + response(180, "Ringing")
        + response(200, "OK", sdp="[media_port]")
        + recv("ACK")
        + '<nop><action><exec rtp_stream="callee.ulaw,1,0"/></action></nop>\n'
        + '<pause milliseconds="1300"/>\n'
        + f'<nop><action><exec play_pcap_audio="{DTMF_PCAP}"/></action></nop>\n'
        + recv("BYE")
        + response(200, "OK")
    )
    sipp = start_sipp(tmp_path, "audio", scenario("audio", body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="+15551234567", from_="+15557654321")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    assert call.media is not None
    heard = bytearray()
    digits: list[str] = []
    call.media.set_audio_handler(lambda frame: heard.extend(ulaw_encode(frame)))
    call.media.set_dtmf_handler(digits.append)
    for _ in range(100):
        if digits and frames_arrived(audio, heard) == 1.0:
            break
        await asyncio.sleep(0.05)
    await call.hangup()
    ended = await call.wait_ended()
    assert ended.end_reason is EndReason.AGENT_HANGUP
    # On an idle machine every payload arrives (share 1.0); a loaded one may drop a late frame or two.
    assert frames_arrived(audio, heard) >= 0.95, "the callee's RTP payloads did not arrive byte for byte"
    # Nothing arrives altered: each 20 ms of what we heard is one of sipp's payloads or silence.
    sent_frames = {audio[i : i + FRAME] for i in range(0, len(audio), FRAME)}
    chunks = [bytes(heard[i : i + FRAME]) for i in range(0, len(heard) - FRAME + 1, FRAME)]
    assert all(c in sent_frames or c == b"\xff" * FRAME for c in chunks)
    assert digits == ["1"]
    assert await sipp.finished() == 0, sipp.output()


async def test_our_audio_reaches_sipp_and_comes_back_through_its_rtp_echo(
    ua: UserAgent, tmp_path: Path
) -> None:
    body = ANSWER_THEN_BYE
    sipp = start_sipp(tmp_path, "echo", scenario("echo", body), "-rtp_echo")
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    assert call.media is not None
    sent = chirp_ulaw(0.6)
    heard = bytearray()
    call.media.set_audio_handler(lambda frame: heard.extend(ulaw_encode(frame)))
    from outdial.media.g711 import ulaw_decode

    call.media.write(ulaw_decode(sent))
    for _ in range(60):
        if frames_arrived(sent, heard) == 1.0:
            break
        await asyncio.sleep(0.05)
    await call.hangup()
    assert frames_arrived(sent, heard) >= 0.9, "our RTP did not come back from sipp's echo"
    assert await sipp.finished() == 0, sipp.output()


@pytest.mark.parametrize(
    ("code", "reason", "end_reason"),
    [
        (486, "Busy Here", EndReason.BUSY),
        (600, "Busy Everywhere", EndReason.BUSY),
        (480, "Temporarily Unavailable", EndReason.NO_ANSWER),
        (408, "Request Timeout", EndReason.NO_ANSWER),
        (404, "Not Found", EndReason.REJECTED),
        (503, "Service Unavailable", EndReason.TRUNK_ERROR),
    ],
)
async def test_final_failure_maps_to_end_reason_and_keeps_the_status(
    ua: UserAgent, tmp_path: Path, code: int, reason: str, end_reason: EndReason
) -> None:
    body = recv("INVITE") + response(180, "Ringing") + response(code, reason) + recv("ACK")
    sipp = start_sipp(tmp_path, f"fail{code}", scenario(f"fail{code}", body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
    events = [ev async for ev in call.events()]
    assert events[0] == Ringing(180)
    assert events[-1] == Ended(code, end_reason, f"{code} {reason}")
    assert await sipp.finished() == 0, sipp.output()


async def test_ring_timeout_sends_cancel_then_acks_the_487(ua: UserAgent, tmp_path: Path) -> None:
    capture_cseq = '<action><ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseq"/></action>'
    body = (
        recv("INVITE", extra=capture_cseq)
        + response(180, "Ringing")
        + recv("CANCEL")
        + response(200, "OK", tag=False, retrans=False)
        + "<send><![CDATA[\nSIP/2.0 487 Request Terminated\n[last_Via:]\n[last_From:]\n"
        "[last_To:];tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\nCSeq: [$cseq] INVITE\n"
        "Content-Length: 0\n]]></send>\n" + recv("ACK")
    )
    sipp = start_sipp(tmp_path, "ringto", scenario("ringto", body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200", ring_timeout=0.5)
    ended = await asyncio.wait_for(call.wait_ended(), 5)
    assert (ended.sip_status, ended.end_reason) == (487, EndReason.NO_ANSWER)
    assert await sipp.finished() == 0, sipp.output()


AUTH_OK = '<label id="good"/>\n'


def auth_scenario(refusal: int = 403) -> str:
    """401 with qop=auth; the retry is checked by sipp's verifyauth; a bad one gets `refusal`."""
    challenge = 'WWW-Authenticate: Digest realm="outdial.test", nonce="n0nce[call_number]", qop="auth"'
    refuse = (
        response(401, "Unauthorized", extra=challenge.replace("n0nce", "again"))
        if refusal == 401
        else response(403, "Forbidden")
    )
    return scenario(
        "auth",
        recv("INVITE")
        + response(401, "Unauthorized", extra=challenge)
        + recv("ACK")
        + recv(
            "INVITE",
            extra='<action><verifyauth assign_to="authvalid" username="alice" password="s3cret"/></action>',
        )
        + '<nop test="authvalid" next="good"/>\n'
        + refuse
        + recv("ACK")
        + '<nop next="end"/>\n'
        + AUTH_OK
        + response(200, "OK", sdp="[media_port]")
        + recv("ACK")
        + recv("BYE")
        + response(200, "OK")
        + '<label id="end"/>\n',
    )


async def test_digest_challenge_with_qop_auth_is_answered_once(ua: UserAgent, tmp_path: Path) -> None:
    sipp = start_sipp(tmp_path, "auth", auth_scenario())
    trunk = TrunkConfig(address=sipp.address, username="alice", password="s3cret")
    call = await ua.invite(trunk, to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    await call.hangup()
    assert await sipp.finished() == 0, sipp.output()
    assert "qop=auth" in sipp.message_log()


@pytest.mark.parametrize("refusal", [403, 401])
async def test_wrong_password_is_refused_and_the_call_is_rejected_after_one_retry(
    ua: UserAgent, tmp_path: Path, refusal: int
) -> None:
    sipp = start_sipp(tmp_path, "auth", auth_scenario(refusal))
    trunk = TrunkConfig(address=sipp.address, username="alice", password="wrong")
    call = await ua.invite(trunk, to="100", from_="200")
    ended = await asyncio.wait_for(call.wait_ended(), 5)
    assert (ended.sip_status, ended.end_reason) == (refusal, EndReason.REJECTED)
    assert "authentication failed" in ended.reason
    assert await sipp.finished() == 0, sipp.output()
    assert sipp.message_log().count("Authorization:") == 1  # exactly one retry


async def test_callee_hangs_up_with_bye(ua: UserAgent, tmp_path: Path) -> None:
    body = (
        recv("INVITE", extra=CAPTURE_DIALOG)
        + response(200, "OK", sdp="[media_port]")
        + recv("ACK")
        + '<pause milliseconds="300"/>\n'
        + BYE_FROM_CALLEE
        + '<recv response="200"/>\n'
    )
    sipp = start_sipp(tmp_path, "calleebye", scenario("calleebye", body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
    events = [ev async for ev in call.events()]
    assert events[0] == Answered()
    assert isinstance(events[-1], Ended) and events[-1].end_reason is EndReason.CALLEE_HANGUP
    assert await sipp.finished() == 0, sipp.output()


class LossyLink(asyncio.DatagramProtocol):
    """A UDP hop in front of sipp that loses the first datagram it is sent (the INVITE) and relays the rest.

    A closed port would not do: it answers with an ICMP error, which fails the INVITE at once (§18.4).
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.client: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.dropped = self.relayed = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        if addr == self.upstream:
            if self.client is not None:
                self.transport.sendto(data, self.client)
        elif self.dropped == 0:
            self.client, self.dropped = addr, 1
        else:
            self.client = addr
            self.relayed += 1
            self.transport.sendto(data, self.upstream)


async def test_lost_invite_is_recovered_by_retransmission(ua: UserAgent, tmp_path: Path) -> None:
    sipp = start_sipp(tmp_path, "lost", scenario("lost", ANSWER_THEN_BYE))
    link = LossyLink(("127.0.0.1", sipp.port))
    hop, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: link, local_addr=("127.0.0.1", 0)
    )
    try:
        trunk = TrunkConfig(address=f"127.0.0.1:{hop.get_extra_info('sockname')[1]}")
        call = await ua.invite(trunk, to="100", from_="200")
        assert await asyncio.wait_for(call.wait_answered(), 5)
        await call.hangup()
        assert await sipp.finished() == 0, sipp.output()
    finally:
        hop.close()
    # The first INVITE was lost; timer A's retransmission got through.
    assert link.dropped == 1 and link.relayed >= 1


async def test_lost_200_is_recovered_by_the_callee_retransmitting_it(ua: UserAgent, tmp_path: Path) -> None:
    ok = response(200, "OK", sdp="[media_port]", retrans=False)
    lost_ok = ok.replace("<send>", '<send lost="100">', 1)
    # The first 200 never leaves sipp; our INVITE retransmissions meanwhile make sipp resend it, lost too
    # (same message); the later 200 gets through and the call completes.
    body = recv("INVITE") + lost_ok + '<pause milliseconds="400"/>\n' + ok + recv("ACK")
    body += recv("BYE") + response(200, "OK")
    sipp = start_sipp(tmp_path, "lost200", scenario("lost200", body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    await call.hangup()
    assert await sipp.finished() == 0, sipp.output()
    assert sipp.message_log().count("INVITE sip:") >= 2  # timer A kept retransmitting while no answer came


async def test_retransmitted_200_is_absorbed_and_acked_again(ua: UserAgent, tmp_path: Path) -> None:
    ok = response(200, "OK", sdp="[media_port]", retrans=False)
    # The second 200 is the retransmission a lost ACK causes; our re-ACK reaches sipp as a retransmitted
    # ACK, which it absorbs and logs.
    # [last_Via:] and [last_CSeq:] would now name the ACK: replay the INVITE's, captured on arrival.
    again = (
        ok.replace("[last_Via:]", "Via: [$via]")
        .replace("[last_CSeq:]", "CSeq: [$cseq]")
        .replace("[last_From:]", "From: [$from]")
    )
    capture = (
        '<action><ereg regexp="[^ ].*" search_in="hdr" header="Via:" assign_to="via"/>'
        '<ereg regexp="[^ ].*" search_in="hdr" header="CSeq:" assign_to="cseq"/>'
        '<ereg regexp="[^ ].*" search_in="hdr" header="From:" assign_to="from"/></action>'
    )
    body = recv("INVITE", extra=capture) + ok + recv("ACK") + again + recv("BYE") + response(200, "OK")
    sipp = start_sipp(tmp_path, "reack", scenario("reack", body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    await asyncio.sleep(0.2)
    await call.hangup()
    assert [type(ev) async for ev in call.events()] == [Answered, Ended]
    assert await sipp.finished() == 0, sipp.output()
    # sipp answers each repeated ACK by resending its last 200, so the exchange repeats until our BYE.
    assert sipp.message_log().count("ACK sip:") >= 2


async def test_options_ping_returns_the_status(ua: UserAgent, tmp_path: Path) -> None:
    sipp = start_sipp(tmp_path, "options", scenario("options", recv("OPTIONS") + response(200, "OK")))
    assert await ua.options_ping(TrunkConfig(address=sipp.address)) == 200
    assert await sipp.finished() == 0, sipp.output()


async def test_options_ping_to_nobody_times_out() -> None:
    """A trunk that swallows the request: timer F. (A closed port fails at once: tests/sip/test_ua.py.)"""
    import socket

    agent = await UserAgent.start(timers=Timers(t1=0.02))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole, pytest.raises(SipTimeout):
            black_hole.bind(("127.0.0.1", 0))
            port = black_hole.getsockname()[1]
            await agent.options_ping(TrunkConfig(address=f"127.0.0.1:{port}"))
    finally:
        await agent.close()


async def test_call_over_tcp_to_sipp(ua: UserAgent, tmp_path: Path) -> None:
    sipp = start_sipp(tmp_path, "tcp", scenario("tcp", ANSWER_THEN_BYE), transport="t1")
    call = await ua.invite(TrunkConfig(address=sipp.address, transport="tcp"), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    await call.hangup()
    assert await sipp.finished() == 0, sipp.output()
    assert "SIP/2.0/TCP" in sipp.message_log()


async def test_183_with_sdp_brings_early_media_before_the_answer(ua: UserAgent, tmp_path: Path) -> None:
    audio = chirp_ulaw(0.5)
    (tmp_path / "early.ulaw").write_bytes(audio)
    body = (
        recv("INVITE")
        + response(183, "Session Progress", sdp="[media_port]")
        + '<nop><action><exec rtp_stream="early.ulaw,1,0"/></action></nop>\n'
        + '<pause milliseconds="1000"/>\n'
        + response(200, "OK", sdp="[media_port]")
        + recv("ACK")
        + recv("BYE")
        + response(200, "OK")
    )
    sipp = start_sipp(tmp_path, "early", scenario("early", body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
    heard = bytearray()
    async for event in call.events():
        if isinstance(event, EarlyMedia):
            assert call.media is not None
            call.media.set_audio_handler(lambda frame: heard.extend(ulaw_encode(frame)))
        if isinstance(event, Answered):
            break
    assert frames_arrived(audio, heard) >= 0.9, "early media did not arrive before the 200 OK"
    await call.hangup()
    assert [type(e) async for e in call.events()] == [Ringing, EarlyMedia, Answered, Ended]
    assert await sipp.finished() == 0, sipp.output()


async def test_digits_go_by_sip_info_when_telephone_event_was_not_negotiated(
    ua: UserAgent, tmp_path: Path
) -> None:
    check = '<action><ereg regexp="Signal=7" search_in="body" check_it="true" assign_to="signal"/></action>'
    body = (
        recv("INVITE")
        + response(200, "OK", sdp="[media_port]", dtmf=False)
        + recv("ACK")
        + recv("INFO", extra=check)
        + response(200, "OK", retrans=False, extra="X-Got: [$signal]")  # sipp wants each variable used
        + recv("BYE")
        + response(200, "OK")
    )
    sipp = start_sipp(tmp_path, "info", scenario("info", body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    assert call.negotiated is not None and call.negotiated.dtmf_payload_type is None
    await call.send_dtmf("7")
    await call.hangup()
    assert await sipp.finished() == 0, sipp.output()
    assert "application/dtmf-relay" in sipp.message_log()


async def test_proxy_authentication_407_is_answered_with_proxy_authorization(
    ua: UserAgent, tmp_path: Path
) -> None:
    challenge = 'Proxy-Authenticate: Digest realm="proxy.test", nonce="pn[call_number]", qop="auth"'
    body = (
        recv("INVITE")
        + response(407, "Proxy Authentication Required", extra=challenge)
        + recv("ACK")
        + recv("INVITE", extra='<action><ereg regexp="Digest .*qop=auth" search_in="hdr" '
               'header="Proxy-Authorization:" check_it="true" assign_to="creds"/></action>')
        + response(200, "OK", sdp="[media_port]", extra="X-Got: [$creds]")
        + recv("ACK")
        + recv("BYE")
        + response(200, "OK")
    )  # fmt: skip
    sipp = start_sipp(tmp_path, "proxyauth", scenario("proxyauth", body))
    trunk = TrunkConfig(address=sipp.address, username="alice", password="s3cret")
    call = await ua.invite(trunk, to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    await call.hangup()
    assert await sipp.finished() == 0, sipp.output()
    log = sipp.message_log()
    assert 'realm="proxy.test"' in log and "CSeq: 2 INVITE" in log


async def test_callee_hold_reinvite_is_answered_recvonly_and_our_media_follows(
    ua: UserAgent, tmp_path: Path
) -> None:
    check = '<action><ereg regexp="a=recvonly" search_in="body" check_it="true" assign_to="dir"/></action>'
    body = (
        recv("INVITE", extra=CAPTURE_DIALOG)
        + response(200, "OK", sdp="[media_port]")
        + recv("ACK")
        + '<pause milliseconds="200"/>\n'
        + REINVITE_HOLD
        + '<recv response="100" optional="true"/>\n'
        + f'<recv response="200">\n{check}\n</recv>\n'
        + ACK_REINVITE.replace("Content-Length: 0", "X-Dir: [$dir]\nContent-Length: 0")
        + recv("BYE")
        + response(200, "OK")
    )
    sipp = start_sipp(tmp_path, "held", scenario("held", body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    for _ in range(60):
        if call.media is not None and call.media.direction == "recvonly":
            break
        await asyncio.sleep(0.05)
    assert call.media is not None and call.media.direction == "recvonly"
    await asyncio.sleep(0.1)  # the ACK for the re-INVITE's 200
    await call.hangup()
    assert await sipp.finished() == 0, sipp.output()


@pytest.mark.parametrize(
    ("bind", "advertise", "expected"),
    [("0.0.0.0", None, "127.0.0.1"), ("127.0.0.1", "192.0.2.10", "192.0.2.10")],
)
async def test_via_contact_and_sdp_carry_a_reachable_address(
    tmp_path: Path, bind: str, advertise: str | None, expected: str
) -> None:
    """Bound to the wildcard we advertise the routed source address; behind a static NAT, the public one."""
    agent = await UserAgent.start(bind, timers=Timers(t1=0.1), sample_rate=8000, advertise_host=advertise)
    try:
        sipp = start_sipp(tmp_path, "addr", scenario("addr", ANSWER_THEN_BYE))
        call = await agent.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
        assert await asyncio.wait_for(call.wait_answered(), 5)
        await call.hangup()
        assert await sipp.finished() == 0, sipp.output()
    finally:
        await agent.close()
    invite = sipp.message_log().split("INVITE sip:", 1)[1].split("-----", 1)[0]
    assert f"Via: SIP/2.0/UDP {expected}:" in invite
    assert f"Contact: <sip:200@{expected}:" in invite
    assert f"c=IN IP4 {expected}" in invite
    assert "0.0.0.0" not in invite
