"""An agent's transfer step through the real placer: dialer → outdial.sip → sipp as the trunk, which
takes the REFER (RFC 3515) and reports the target's answer in NOTIFYs; or refuses it, and the agent
apologizes instead of dropping the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from outdial.dialer.sip_placer import SipPlacer
from outdial.dialer.worker import Worker
from outdial.store.db import Database
from outdial.store.models import Call, Transcript
from tests.dialer import sipp_trunk
from tests.dialer.sipp_trunk import CAPTURE_DIALOG, SDP, _recv_invite, _send
from tests.dialer.support import fast_settings, make_calls, make_org, make_trunk, running, wait_status

pytestmark = pytest.mark.interop

DESK = "+15550001111"
AGENT = {
    "name": "Front desk",
    "first_message": "Let me put you through to our front desk.",
    "brain": {"type": "flow", "steps": [{"id": "desk", "transfer": DESK}]},
}
IN_DIALOG = "[last_To:]"  # a response inside the dialog: the To-tag is there already
ANSWER_REST = _send("200 OK", body=SDP, retrans=True) + '<recv request="ACK"/>\n'
NOTIFY_200 = (
    '<send retrans="500"><![CDATA[\nNOTIFY [$their_contact] SIP/2.0\n'
    "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
    "From: [$our_party];tag=[pid]SIPpTag01[call_number]\nTo: [$their_party]\n[last_Call-ID:]\n"
    "CSeq: 1 NOTIFY\nMax-Forwards: 70\nEvent: refer\nSubscription-State: terminated;reason=noresource\n"
    "Content-Type: message/sipfrag\nContent-Length: [len]\n\nSIP/2.0 200 OK\n]]></send>\n"
    '<recv response="200"/>\n'
)


@pytest.fixture
async def placer(tmp_path: Path) -> AsyncIterator[SipPlacer]:
    p = await SipPlacer.start(recording_dir=tmp_path / "rec", agent=True)
    yield p
    await p.close()


async def _place(db: Database, placer: SipPlacer, tmp_path: Path, body: str) -> tuple[Call, str]:
    trunk = sipp_trunk.start_trunk(tmp_path, body)
    try:
        org = await make_org(db)
        row = await make_trunk(db, org, address=trunk.address)
        [call] = await make_calls(db, org, trunk=row, agent_config=AGENT, notify=True)
        async with running(Worker(db, fast_settings(end_grace_seconds=5), placer)):
            done = await wait_status(db, call.id, "completed", "failed", within=30)
    finally:
        trunk.stop()
    return done, trunk.messages.read_text(errors="replace")


async def test_transfer_step_refers_the_callee_and_ends_the_call_transferred(
    db: Database, placer: SipPlacer, tmp_path: Path
) -> None:
    body = (
        _recv_invite(CAPTURE_DIALOG)  # the NOTIFY is built from the dialog
        + ANSWER_REST
        + '<recv request="REFER"/>\n'
        + _send("202 Accepted", to=IN_DIALOG)
        + NOTIFY_200
        + '<recv request="BYE"/>\n'
        + _send("200 OK", to=IN_DIALOG)
    )
    done, log = await _place(db, placer, tmp_path, body)
    assert (done.status, done.end_reason) == ("completed", "transferred"), done.error
    assert f"Refer-To: <sip:{DESK}@" in log
    # the BYE came after the NOTIFY that reported the desk's 200
    assert log.index("CSeq: 1 NOTIFY") < log.index("BYE sip:")


async def test_a_refused_transfer_is_apologized_for_not_dropped(
    db: Database, placer: SipPlacer, tmp_path: Path
) -> None:
    body = (
        _recv_invite()
        + ANSWER_REST
        + '<recv request="REFER"/>\n'
        + _send("603 Decline", to=IN_DIALOG)
        + '<recv request="BYE"/>\n'
        + _send("200 OK", to=IN_DIALOG)
    )
    done, _ = await _place(db, placer, tmp_path, body)
    assert (done.status, done.end_reason) == ("completed", "agent_hangup"), done.error
    assert done.outcome is not None and "603" in done.outcome["transfer_failed"]
    async with db.session() as s:
        transcript = await s.get(Transcript, done.transcript_id)
    assert transcript is not None
    assert "could not transfer your call" in transcript.turns[-1]["text"]
