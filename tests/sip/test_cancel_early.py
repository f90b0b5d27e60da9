"""Giving up on a call before the trunk answered anything (RFC 3261 §9.1).

No CANCEL may go out before a provisional response, yet the call's owner must not wait for one: the
call ends at once and the INVITE transaction finishes in the background. The trunk here is a scripted
UDP socket that parses what we send and answers only what each test tells it to.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import cast

import pytest

from outdial.lifecycle import EndReason
from outdial.sip import Ended, Timers, TrunkConfig, UserAgent
from outdial.sip.call import Call
from outdial.sip.message import Request, Response, parse_message
from outdial.sip.transaction import make_response

pytestmark = pytest.mark.timeout(30)

T1 = 0.02  # timer B = 64*T1 = 1.28 s
ANSWER_SDP = (
    b"v=0\r\no=trunk 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


class ScriptedTrunk(asyncio.DatagramProtocol):
    """Receives everything on a UDP port, answers nothing unless told to."""

    def __init__(self) -> None:
        self.received: list[tuple[float, Request]] = []
        self._arrived = asyncio.Event()
        self.transport: asyncio.DatagramTransport | None = None
        self.peer: tuple[str, int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = parse_message(data)
        assert isinstance(msg, Request), f"the trunk got a response: {msg}"
        self.peer = addr
        self.received.append((time.monotonic(), msg))
        self._arrived.set()
        self._arrived = asyncio.Event()

    @property
    def address(self) -> str:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return f"{host}:{port}"

    def methods(self) -> list[str]:
        return [req.method for _, req in self.received]

    def count(self, method: str) -> int:
        return self.methods().count(method)

    async def next(self, method: str, start: int = 0, within: float = 3.0) -> Request:
        """The first `method` request received at index >= start, waiting for it if need be."""

        async def find() -> Request:
            while True:
                for _, req in self.received[start:]:
                    if req.method == method:
                        return req
                await self._arrived.wait()

        return await asyncio.wait_for(find(), within)

    def send(self, resp: Response) -> None:
        assert self.transport is not None and self.peer is not None
        self.transport.sendto(resp.serialize(), self.peer)

    def answer(self, req: Request, status: int, reason: str, *, sdp: bool = False) -> Response:
        resp = make_response(req, status, reason, to_tag="trunk1" if req.method == "INVITE" else None)
        if status < 300 and req.method == "INVITE":
            host, port = self.address.split(":")
            resp.headers.add("Contact", f"<sip:trunk@{host}:{port}>")
        if sdp:
            resp.headers.add("Content-Type", "application/sdp")
            resp.body = ANSWER_SDP
        self.send(resp)
        return resp


@pytest.fixture
async def trunk() -> AsyncIterator[ScriptedTrunk]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(ScriptedTrunk, local_addr=("127.0.0.1", 0))
    yield proto
    transport.close()


@pytest.fixture
async def ua() -> AsyncIterator[UserAgent]:
    agent = await UserAgent.start(timers=Timers(t1=T1), sample_rate=8000)
    yield agent
    await agent.close()


async def dial(ua: UserAgent, trunk: ScriptedTrunk, ring_timeout: float = 45.0) -> tuple[Call, Request]:
    call = await ua.invite(
        TrunkConfig(address=trunk.address), to="100", from_="200", ring_timeout=ring_timeout
    )
    invite = await trunk.next("INVITE")
    return call, invite


async def timed(coro: asyncio.Future[Ended] | asyncio.Task[Ended], limit: float = 0.1) -> Ended:
    started = time.monotonic()
    ended = await asyncio.wait_for(coro, 5)
    assert time.monotonic() - started < limit, "giving up waited for the trunk"
    return ended


async def test_cancel_before_any_response_ends_the_call_at_once(ua: UserAgent, trunk: ScriptedTrunk) -> None:
    call, _ = await dial(ua, trunk)
    ended = await timed(asyncio.ensure_future(call.cancel()))
    assert (ended.sip_status, ended.end_reason) == (None, EndReason.CANCELED)
    assert [e async for e in call.events()] == [ended]
    assert call.media is not None
    await asyncio.sleep(0.05)
    assert call.media.closed
    assert "CANCEL" not in trunk.methods()  # §9.1: none before a provisional response


async def test_hangup_before_any_response_ends_the_call_canceled_at_once(
    ua: UserAgent, trunk: ScriptedTrunk
) -> None:
    call, _ = await dial(ua, trunk)
    started = time.monotonic()
    await asyncio.wait_for(call.hangup(), 5)
    assert time.monotonic() - started < 0.1
    assert call.ended is not None and (call.ended.sip_status, call.ended.end_reason) == (
        None,
        EndReason.CANCELED,
    )


async def test_ring_timeout_on_a_silent_trunk_ends_no_answer_before_timer_b(
    ua: UserAgent, trunk: ScriptedTrunk
) -> None:
    call, _ = await dial(ua, trunk, ring_timeout=0.3)
    started = time.monotonic()
    ended = await asyncio.wait_for(call.wait_ended(), 5)
    assert time.monotonic() - started < 0.3 + 0.1 < 64 * T1
    assert (ended.sip_status, ended.end_reason) == (None, EndReason.NO_ANSWER)
    assert "CANCEL" not in trunk.methods()


async def test_a_late_180_gets_the_held_back_cancel_and_the_487_is_acked(
    ua: UserAgent, trunk: ScriptedTrunk
) -> None:
    call, invite = await dial(ua, trunk)
    ended = await timed(asyncio.ensure_future(call.cancel()))
    await asyncio.sleep(0.1)
    assert "CANCEL" not in trunk.methods()
    mark = len(trunk.received)
    trunk.answer(invite, 180, "Ringing")
    cancel = await trunk.next("CANCEL", mark)
    assert cancel.via.branch == invite.via.branch and cancel.cseq == (invite.cseq[0], "CANCEL")
    assert cancel.uri == invite.uri and cancel.call_id == invite.call_id
    trunk.answer(cancel, 200, "OK")
    trunk.answer(invite, 487, "Request Terminated")
    ack = await trunk.next("ACK", mark)
    assert ack.via.branch == invite.via.branch and ack.cseq == (invite.cseq[0], "ACK")
    assert ack.to.tag == "trunk1"
    # The 180 stopped the INVITE's retransmissions; nothing more goes out, and the call's end stands.
    await asyncio.sleep(6 * T1)
    assert trunk.methods()[mark:] == ["CANCEL", "ACK"]
    assert call.ended == ended and [e async for e in call.events()] == [ended]


async def test_a_late_200_is_acked_and_hung_up_with_bye(ua: UserAgent, trunk: ScriptedTrunk) -> None:
    call, invite = await dial(ua, trunk)
    ended = await timed(asyncio.ensure_future(call.cancel()))
    mark = len(trunk.received)
    trunk.answer(invite, 200, "OK", sdp=True)
    ack = await trunk.next("ACK", mark)
    bye = await trunk.next("BYE", mark)
    assert ack.cseq == (invite.cseq[0], "ACK") and ack.to.tag == "trunk1"
    assert bye.to.tag == "trunk1" and bye.call_id == invite.call_id and bye.cseq[0] > invite.cseq[0]
    assert bye.uri.startswith("sip:trunk@")  # the remote target from the 200's Contact
    trunk.answer(bye, 200, "OK")
    for _ in range(50):  # the BYE's transaction settles, then the dialog is forgotten
        if not ua._dialogs:
            break
        await asyncio.sleep(0.02)
    assert not ua._dialogs and not ua._sessions
    assert "CANCEL" not in trunk.methods()
    assert call.ended == ended and not call.answered


async def test_silence_after_cancel_ends_at_timer_b_quietly(
    ua: UserAgent, trunk: ScriptedTrunk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outdial.sip")
    call, _ = await dial(ua, trunk)
    ended = await timed(asyncio.ensure_future(call.cancel()))
    # Timer A keeps retransmitting the INVITE (the trunk may yet ring, then gets the CANCEL) until timer B.
    started = time.monotonic()
    for _ in range(100):
        if not ua._client:
            break
        await asyncio.sleep(0.05)
    assert not ua._client, "the INVITE transaction outlived timer B"
    assert time.monotonic() - started > 64 * T1 - 0.2  # it did live until timer B, not less
    sent = trunk.count("INVITE")
    assert sent >= 5
    await asyncio.sleep(0.3)
    assert trunk.count("INVITE") == sent and trunk.methods() == ["INVITE"] * sent
    assert not ua._tasks  # nothing runs for the call any more
    assert call.ended == ended
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_closing_the_agent_while_the_invite_still_retransmits(
    ua: UserAgent, trunk: ScriptedTrunk
) -> None:
    call, _ = await dial(ua, trunk)
    ended = await timed(asyncio.ensure_future(call.cancel()))
    [runner] = ua._client.values()
    assert runner._timers  # timers A and B still armed
    await asyncio.wait_for(ua.close(), 1)
    assert not runner._timers and not ua._tasks
    sent = trunk.count("INVITE")
    await asyncio.sleep(0.3)
    assert trunk.count("INVITE") == sent and call.ended == ended


async def test_closing_the_agent_ends_an_unanswered_invite_at_once(
    ua: UserAgent, trunk: ScriptedTrunk
) -> None:
    call, _ = await dial(ua, trunk)
    started = time.monotonic()
    await asyncio.wait_for(ua.close(), 1)
    assert time.monotonic() - started < 0.5  # no 2 s wait for a CANCEL that may not be sent
    assert call.ended is not None and call.ended.end_reason is EndReason.CANCELED
    assert "CANCEL" not in trunk.methods()
