"""Our UAC calling our UAS over UDP, TCP and TLS: ringing, answer, reject, CANCEL, BYE, hold, DTMF."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from outdial.lifecycle import EndReason
from outdial.sip import (
    Answered,
    Ended,
    IncomingCall,
    Ringing,
    Timers,
    TrunkConfig,
    UserAgent,
)

pytestmark = pytest.mark.timeout(30)


@dataclass
class Pair:
    caller: UserAgent
    callee: UserAgent
    ca_file: str
    incoming: list[IncomingCall] = field(default_factory=list)

    def trunk(self, transport: str = "udp", **kw: object) -> TrunkConfig:
        host, port = self.callee.listening(transport)
        return TrunkConfig(address=f"{host}:{port}", transport=transport, tls_ca_file=self.ca_file, **kw)  # type: ignore[arg-type]

    def on_invite(self, handler: Callable[[IncomingCall], Awaitable[None]]) -> None:
        async def wrapped(incoming: IncomingCall) -> None:
            self.incoming.append(incoming)
            await handler(incoming)

        self.callee.on_invite = wrapped


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    fast = Timers(t1=0.05)
    callee = await UserAgent.start(
        tcp_port=0, tls_port=0, tls_certfile=str(tmp_path / "server.pem"), timers=fast, sample_rate=8000
    )
    caller = await UserAgent.start(timers=fast, sample_rate=8000)
    yield Pair(caller, callee, str(tmp_path / "ca.pem"))
    await caller.close()
    await callee.close()


async def answer_after_ring(incoming: IncomingCall) -> None:
    await incoming.ring()
    await incoming.answer()


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
async def test_call_rings_is_answered_and_the_callee_sees_our_hangup(pair: Pair, transport: str) -> None:
    pair.on_invite(answer_after_ring)
    call = await pair.caller.invite(
        pair.trunk(transport), to="+15551234567", from_="+15557654321", headers={"X-Crm-Id": "42"}
    )
    assert await asyncio.wait_for(call.wait_answered(), 5)
    incoming = pair.incoming[0]
    assert incoming.caller == "+15557654321" and incoming.callee == "+15551234567"
    assert incoming.headers.get("X-Crm-Id") == "42"
    assert incoming.headers.get("P-Asserted-Identity") == "<sip:+15557654321@127.0.0.1>"
    assert incoming.flow.transport == transport.upper()
    await call.hangup()
    assert [type(e) for e in [e async for e in call.events()]] == [Ringing, Answered, Ended]
    ended = await asyncio.wait_for(incoming.wait_ended(), 5)
    assert ended.end_reason is EndReason.CALLEE_HANGUP  # from the callee's side: the other party hung up


@pytest.mark.parametrize("transport", ["udp", "tls"])
async def test_callee_hangs_up_and_the_call_ends_callee_hangup(pair: Pair, transport: str) -> None:
    pair.on_invite(answer_after_ring)
    call = await pair.caller.invite(pair.trunk(transport), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    await asyncio.sleep(0.1)  # let the ACK land before the BYE
    await pair.incoming[0].hangup()
    ended = await asyncio.wait_for(call.wait_ended(), 5)
    assert (ended.sip_status, ended.end_reason) == (None, EndReason.CALLEE_HANGUP)


async def test_rejection_keeps_the_status_and_maps_to_busy(pair: Pair) -> None:
    async def busy(incoming: IncomingCall) -> None:
        await incoming.reject(486)

    pair.on_invite(busy)
    call = await pair.caller.invite(pair.trunk(), to="100", from_="200")
    ended = await asyncio.wait_for(call.wait_ended(), 5)
    assert (ended.sip_status, ended.end_reason) == (486, EndReason.BUSY)


async def test_caller_cancel_ends_both_sides_with_487(pair: Pair) -> None:
    rang = asyncio.Event()

    async def ring_only(incoming: IncomingCall) -> None:
        await incoming.ring()
        rang.set()

    pair.on_invite(ring_only)
    call = await pair.caller.invite(pair.trunk("tcp"), to="100", from_="200")
    await asyncio.wait_for(rang.wait(), 5)
    ended = await asyncio.wait_for(call.cancel(), 5)
    assert (ended.sip_status, ended.end_reason) == (487, EndReason.CANCELED)
    theirs = await asyncio.wait_for(pair.incoming[0].wait_ended(), 5)
    assert (theirs.sip_status, theirs.end_reason) == (487, EndReason.CANCELED)


async def test_hold_and_unhold_move_the_callee_media_direction(pair: Pair) -> None:
    pair.on_invite(answer_after_ring)
    call = await pair.caller.invite(pair.trunk(), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    incoming = pair.incoming[0]
    assert incoming.media is not None and call.media is not None
    await call.hold()
    assert (call.media.direction, incoming.media.direction) == ("sendonly", "recvonly")
    await call.hold("inactive")
    assert (call.media.direction, incoming.media.direction) == ("inactive", "inactive")
    await call.unhold()
    assert (call.media.direction, incoming.media.direction) == ("sendrecv", "sendrecv")
    await call.hangup()


async def test_rfc4733_digits_reach_the_callee(pair: Pair) -> None:
    pair.on_invite(answer_after_ring)
    call = await pair.caller.invite(pair.trunk(), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    incoming = pair.incoming[0]
    assert incoming.media is not None
    digits: list[str] = []
    incoming.media.set_dtmf_handler(digits.append)
    await call.send_dtmf("42#")
    for _ in range(40):
        if len(digits) == 3:
            break
        await asyncio.sleep(0.05)
    assert digits == ["4", "2", "#"]
    await call.hangup()


async def test_srtp_required_call_between_our_agents_is_encrypted(pair: Pair) -> None:
    pair.on_invite(answer_after_ring)
    call = await pair.caller.invite(pair.trunk(media_encryption="srtp_required"), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    assert call.negotiated is not None and call.negotiated.encrypted
    await call.hangup()


async def test_unreachable_tcp_trunk_ends_as_trunk_error(pair: Pair) -> None:
    from tests.support.procs import free_port

    call = await pair.caller.invite(
        TrunkConfig(address=f"127.0.0.1:{free_port()}", transport="tcp"), to="100", from_="200"
    )
    ended = await asyncio.wait_for(call.wait_ended(), 5)
    assert (ended.sip_status, ended.end_reason) == (None, EndReason.TRUNK_ERROR)
    assert "unreachable" in ended.reason


async def test_unreachable_udp_trunk_ends_at_the_icmp_error_not_at_timer_b(pair: Pair) -> None:
    """RFC 3261 §18.4: a port-unreachable ICMP error fails the INVITE at once (timer B would be 32 s)."""
    import time

    from tests.support.procs import free_port

    port = free_port("udp")
    started = time.monotonic()
    call = await pair.caller.invite(TrunkConfig(address=f"127.0.0.1:{port}"), to="100", from_="200")
    ended = await asyncio.wait_for(call.wait_ended(), 5)
    assert time.monotonic() - started < 2
    assert (ended.sip_status, ended.end_reason) == (None, EndReason.TRUNK_ERROR)
    assert ended.reason == f"trunk unreachable: ICMP port unreachable from 127.0.0.1:{port}"


async def test_options_ping_to_a_closed_udp_port_fails_at_once(pair: Pair) -> None:
    from outdial.sip.errors import SipError, SipTimeout
    from tests.support.procs import free_port

    with pytest.raises(SipError, match="ICMP port unreachable") as raised:
        await asyncio.wait_for(
            pair.caller.options_ping(TrunkConfig(address=f"127.0.0.1:{free_port('udp')}")), 2
        )
    assert not isinstance(raised.value, SipTimeout)


async def test_options_ping_over_tls_is_answered_by_our_uas(pair: Pair) -> None:
    assert await pair.caller.options_ping(pair.trunk("tls")) == 200


async def test_response_goes_to_the_source_port_with_rport_and_received_filled_in(pair: Pair) -> None:
    """RFC 3581: the Via claims port 5999, the packet comes from elsewhere; the answer follows the packet."""
    import socket

    from outdial.sip.message import Response, parse_message

    host, port = pair.callee.address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(3)
        src_port = sock.getsockname()[1]
        sock.sendto(
            (
                f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
                "Via: SIP/2.0/UDP 192.0.2.1:5999;branch=z9hG4bKr1;rport\r\n"
                "From: <sip:probe@192.0.2.1>;tag=p\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: rport-1\r\n"
                "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            (host, port),
        )
        data = await asyncio.to_thread(sock.recv, 4096)
    reply = parse_message(data)
    assert isinstance(reply, Response) and reply.status == 200
    assert reply.via.params["rport"] == str(src_port)
    assert reply.via.params["received"] == "127.0.0.1"


async def test_closing_the_agent_cancels_a_ringing_call(pair: Pair) -> None:
    rang = asyncio.Event()

    async def ring_only(incoming: IncomingCall) -> None:
        await incoming.ring()
        rang.set()

    pair.on_invite(ring_only)
    call = await pair.caller.invite(pair.trunk(), to="100", from_="200")
    await asyncio.wait_for(rang.wait(), 5)
    await asyncio.wait_for(pair.caller.close(), 5)
    assert call.ended is not None and (call.ended.sip_status, call.ended.end_reason) == (
        487,
        EndReason.CANCELED,
    )
    theirs = await asyncio.wait_for(pair.incoming[0].wait_ended(), 5)
    assert theirs.end_reason is EndReason.CANCELED
    assert call.media is not None and call.media.closed


async def test_closing_the_agent_gives_up_on_a_peer_that_vanished(pair: Pair) -> None:
    pair.on_invite(answer_after_ring)
    call = await pair.caller.invite(pair.trunk(), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    import socket

    host, port = pair.callee.listening("udp")
    await pair.callee.transport.close()  # the far end disappears without a BYE ...
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
        for _ in range(50):  # the closed transport lets go of its socket on a later loop iteration
            try:
                black_hole.bind((host, port))  # ... and its address swallows packets (no ICMP error)
                break
            except OSError:
                await asyncio.sleep(0.01)
        # Our BYE goes unanswered (timer F would take 64*T1 = 3.2 s); close gives up after 2 s.
        await asyncio.wait_for(pair.caller.close(), 3)
    assert call.ended is not None and call.ended.end_reason is EndReason.NETWORK_ERROR
    assert call.media is not None and call.media.closed


async def test_hanging_up_on_a_peer_whose_port_closed_ends_at_once(pair: Pair) -> None:
    """The BYE draws an ICMP port unreachable: the call ends as we asked, without waiting for timer F."""
    pair.on_invite(answer_after_ring)
    call = await pair.caller.invite(pair.trunk(), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    await pair.callee.transport.close()
    await asyncio.wait_for(call.hangup(), 1)
    assert call.ended is not None and call.ended.end_reason is EndReason.AGENT_HANGUP


async def test_trunk_closing_the_tcp_connection_fails_the_call_at_once(pair: Pair) -> None:
    """No waiting for timer B: a connection that dies under a pending INVITE ends the call trunk_error."""

    async def hang_up_on_us(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(hang_up_on_us, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    agent = await UserAgent.start(timers=Timers(t1=0.5), sample_rate=8000)  # timer B would be 32 s
    try:
        call = await agent.invite(
            TrunkConfig(address=f"127.0.0.1:{port}", transport="tcp"), to="100", from_="200"
        )
        ended = await asyncio.wait_for(call.wait_ended(), 3)
    finally:
        await agent.close()
        server.close()
    assert (ended.sip_status, ended.end_reason) == (None, EndReason.TRUNK_ERROR)
