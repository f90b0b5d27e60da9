"""Blind transfer (RFC 3515 REFER, RFC 5589 §6) with sipp as the trunk: the REFER names the target
through the trunk, the NOTIFYs' sipfrag is followed to a 2xx and then we hang up; a refused REFER, a
failed target and a peer that hangs up after accepting all end as they should."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from outdial.lifecycle import EndReason
from outdial.sip import Call, Timers, TransferFailed, TrunkConfig, UserAgent
from outdial.sip.session import sipfrag_status
from tests.sip.sippkit import BYE_FROM_CALLEE, CAPTURE_DIALOG, SippRun, recv, response, scenario, start_sipp

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

TARGET = "+15550001111"
# The dialog is captured only where the callee sends requests of its own (sipp refuses unused variables).
ANSWER = recv("INVITE") + response(200, "OK", sdp="[media_port]") + recv("ACK")
IN_DIALOG_202 = response(202, "Accepted", tag=False, retrans=False)  # the To-tag is ours already
ANSWER_CAPTURED = recv("INVITE", extra=CAPTURE_DIALOG) + response(200, "OK", sdp="[media_port]") + recv("ACK")


def notify(cseq: int, sipfrag: str, state: str) -> str:
    """A NOTIFY from the callee about its call to the transfer target, and our 200 for it."""
    return f"""<send retrans="500"><![CDATA[
NOTIFY [$remote_contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$local_party];tag=[pid]SIPpTag01[call_number]
To: [$remote_party]
[last_Call-ID:]
CSeq: {cseq} NOTIFY
Max-Forwards: 70
Event: refer
Subscription-State: {state}
Content-Type: message/sipfrag
Content-Length: [len]

SIP/2.0 {sipfrag}
]]></send>
<recv response="200"/>
"""


async def answered_call(ua: UserAgent, tmp_path: Path, name: str, body: str) -> tuple[SippRun, Call]:
    """sipp playing ``body`` as the trunk, and our call to it once answered."""
    sipp = start_sipp(tmp_path, name, scenario(name, body))
    call = await ua.invite(TrunkConfig(address=sipp.address), to="100", from_="200")
    assert await asyncio.wait_for(call.wait_answered(), 5)
    return sipp, call


@pytest.fixture
async def ua() -> AsyncIterator[UserAgent]:
    agent = await UserAgent.start(timers=Timers(t1=0.1), sample_rate=8000)
    yield agent
    await agent.close()


async def test_transfer_follows_the_notifies_to_a_200_and_then_hangs_up(
    ua: UserAgent, tmp_path: Path
) -> None:
    body = (
        ANSWER_CAPTURED
        + recv("REFER")
        + IN_DIALOG_202
        + notify(1, "100 Trying", "active;expires=60")
        + notify(2, "200 OK", "terminated;reason=noresource")
        + recv("BYE")
        + response(200, "OK", tag=False)
    )
    sipp, call = await answered_call(ua, tmp_path, "xfer", body)
    assert await asyncio.wait_for(call.transfer(TARGET), 10) == 200
    assert call.ended is not None and call.ended.end_reason is EndReason.AGENT_HANGUP
    assert await sipp.finished() == 0, sipp.output()
    log = sipp.message_log()
    assert f"Refer-To: <sip:{TARGET}@127.0.0.1:{sipp.port}>" in log
    # The call was ended only after the final NOTIFY (our BYE comes after the 200 to it).
    assert log.index("SIP/2.0 200 OK", log.index("CSeq: 2 NOTIFY")) < log.index("BYE sip:")


async def test_a_refused_refer_fails_the_transfer_and_leaves_the_call_up(
    ua: UserAgent, tmp_path: Path
) -> None:
    body = (
        ANSWER
        + recv("REFER")
        + response(603, "Decline", tag=False)
        + recv("BYE")
        + response(200, "OK", tag=False)
    )
    sipp, call = await answered_call(ua, tmp_path, "xfer603", body)
    with pytest.raises(TransferFailed, match="refused: 603") as failed:
        await asyncio.wait_for(call.transfer("sip:desk@example.net"), 10)
    assert failed.value.status == 603 and call.ended is None
    await call.hangup()
    assert await sipp.finished() == 0, sipp.output()
    assert "Refer-To: <sip:desk@example.net>" in sipp.message_log()


async def test_a_busy_target_fails_the_transfer_and_leaves_the_call_up(ua: UserAgent, tmp_path: Path) -> None:
    body = (
        ANSWER_CAPTURED
        + recv("REFER")
        + IN_DIALOG_202
        + notify(1, "486 Busy Here", "terminated;reason=noresource")
        + recv("BYE")
        + response(200, "OK", tag=False)
    )
    sipp, call = await answered_call(ua, tmp_path, "xfer486", body)
    with pytest.raises(TransferFailed, match="answered 486") as failed:
        await asyncio.wait_for(call.transfer(TARGET), 10)
    assert failed.value.status == 486 and call.ended is None
    await call.hangup()
    assert await sipp.finished() == 0, sipp.output()


async def test_a_peer_that_accepts_and_hangs_up_has_been_transferred(ua: UserAgent, tmp_path: Path) -> None:
    body = ANSWER_CAPTURED + recv("REFER") + IN_DIALOG_202 + BYE_FROM_CALLEE + '<recv response="200"/>\n'
    sipp, call = await answered_call(ua, tmp_path, "xferbye", body)
    assert await asyncio.wait_for(call.transfer(TARGET), 10) == 202
    assert call.ended is not None and call.ended.end_reason is EndReason.CALLEE_HANGUP
    assert await sipp.finished() == 0, sipp.output()


async def test_no_final_report_fails_the_transfer_after_the_wait(ua: UserAgent, tmp_path: Path) -> None:
    body = (
        ANSWER_CAPTURED
        + recv("REFER")
        + IN_DIALOG_202
        + notify(1, "100 Trying", "active;expires=60")
        + recv("BYE")
        + response(200, "OK", tag=False)
    )
    sipp, call = await answered_call(ua, tmp_path, "xferslow", body)
    with pytest.raises(TransferFailed, match="no final report"):
        await asyncio.wait_for(call.transfer(TARGET, report_within=1.0), 10)
    assert call.ended is None
    await call.hangup()
    assert await sipp.finished() == 0, sipp.output()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"SIP/2.0 200 OK\r\n", 200),
        (b"SIP/2.0 100 Trying", 100),
        (b"  SIP/2.0 486 Busy Here\r\nVia: x\r\n", 486),
        (b"", None),
        (b"HTTP/1.1 200 OK", None),
        (b"SIP/2.0 abc", None),
    ],
)
def test_sipfrag_status_line(body: bytes, status: int | None) -> None:
    assert sipfrag_status(body) == status
