"""The SIP placer end to end: dialer → outdial.sip → sipp as the trunk (→ agent session on answer)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from outdial.dialer.cancel import CancelOutcome, request_cancel
from outdial.dialer.sip_placer import SipPlacer
from outdial.dialer.worker import Worker
from outdial.store.db import Database
from outdial.store.models import Call, Transcript
from tests.dialer import sipp_trunk
from tests.dialer.support import (
    attempts_of,
    fast_settings,
    make_calls,
    make_org,
    make_trunk,
    running,
    wait_status,
)
from tests.support.procs import free_port

pytestmark = pytest.mark.interop

TERMINAL = ["completed", "no_answer", "busy", "failed", "canceled"]
AGENT = {"name": "Confirm", "first_message": "Hello, this is a test call.", "record": True}


@pytest.fixture
async def placer(tmp_path: Path) -> AsyncIterator[SipPlacer]:
    p = await SipPlacer.start(recording_dir=tmp_path / "rec", agent=True)
    yield p
    await p.close()


async def _place_one(db: Database, placer: SipPlacer, address: str, **fields: object) -> Call:
    org = await make_org(db)
    trunk = await make_trunk(db, org, address=address, transport=fields.pop("transport", "udp"))
    [call] = await make_calls(db, org, trunk=trunk, agent_config=AGENT, notify=True, **fields)
    async with running(Worker(db, fast_settings(end_grace_seconds=5), placer)):
        return await wait_status(db, call.id, *TERMINAL, within=20)


async def test_answered_call_is_completed_with_transcript_and_recording(
    db: Database, placer: SipPlacer, tmp_path: Path
) -> None:
    trunk = sipp_trunk.start_trunk(tmp_path, sipp_trunk.answer(ring_ms=100, talk_ms=2500))
    try:
        done = await _place_one(db, placer, trunk.address)
    finally:
        trunk.stop()
    assert (done.status, done.end_reason, done.sip_status_code) == ("completed", "callee_hangup", 200), (
        done.error
    )
    assert done.answered_at is not None and done.duration_seconds in (2, 3)
    async with db.session() as s:
        transcript = await s.get(Transcript, done.transcript_id)
    assert transcript is not None
    assert transcript.turns and transcript.turns[0]["role"] == "agent"
    assert "test call" in transcript.turns[0]["text"]
    assert done.recording_path and await asyncio.to_thread(os.path.getsize, done.recording_path) > 1000
    [attempt] = await attempts_of(db, done.id)
    [invite] = trunk.invites()
    assert (invite.call_id, invite.attempt, invite.sip_call_id) == (done.id, 1, attempt.sip_call_id)


async def test_busy_trunk_ends_busy(db: Database, placer: SipPlacer, tmp_path: Path) -> None:
    trunk = sipp_trunk.start_trunk(tmp_path, sipp_trunk.reject(486, "Busy Here"))
    try:
        done = await _place_one(db, placer, trunk.address)
    finally:
        trunk.stop()
    assert (done.status, done.end_reason, done.sip_status_code) == ("busy", "busy", 486)


async def test_rejected_call_fails_rejected_with_its_status(
    db: Database, placer: SipPlacer, tmp_path: Path
) -> None:
    trunk = sipp_trunk.start_trunk(tmp_path, sipp_trunk.reject(403, "Forbidden"))
    try:
        done = await _place_one(db, placer, trunk.address)
    finally:
        trunk.stop()
    assert (done.status, done.end_reason, done.sip_status_code) == ("failed", "rejected", 403)
    assert done.error and "403" in done.error


async def test_ring_timeout_cancels_and_ends_no_answer(
    db: Database, placer: SipPlacer, tmp_path: Path
) -> None:
    trunk = sipp_trunk.start_trunk(tmp_path, sipp_trunk.ring_forever())
    try:
        done = await _place_one(db, placer, trunk.address, ring_timeout_seconds=1)
    finally:
        trunk.stop()
    assert (done.status, done.end_reason, done.sip_status_code) == ("no_answer", "no_answer", 487)
    assert "CANCEL sip:" in trunk.messages.read_text()


async def test_unreachable_trunk_fails_with_trunk_error(db: Database, placer: SipPlacer) -> None:
    done = await _place_one(db, placer, f"127.0.0.1:{free_port('tcp')}", transport="tcp")
    assert (done.status, done.end_reason) == ("failed", "trunk_error")
    assert done.error and "unreachable" in done.error


async def test_no_human_speech_hangs_up_at_max_hold(db: Database, placer: SipPlacer, tmp_path: Path) -> None:
    trunk = sipp_trunk.start_trunk(tmp_path, sipp_trunk.answer(ring_ms=50, talk_ms=15000))
    try:
        done = await _place_one(db, placer, trunk.address, max_hold_seconds=1)
    finally:
        trunk.stop()
    assert (done.status, done.end_reason) == ("completed", "max_hold")
    assert "BYE sip:" in trunk.messages.read_text()


async def test_cancel_while_ringing_sends_cancel(db: Database, placer: SipPlacer, tmp_path: Path) -> None:
    trunk = sipp_trunk.start_trunk(tmp_path, sipp_trunk.ring_forever())
    org = await make_org(db)
    t = await make_trunk(db, org, address=trunk.address)
    [call] = await make_calls(db, org, trunk=t, agent_config=AGENT, notify=True)
    try:
        async with running(Worker(db, fast_settings(), placer)):
            await wait_status(db, call.id, "ringing")
            async with db.transaction() as s:
                row = await s.get(Call, call.id)
                assert row is not None
                assert await request_cancel(s, row) == CancelOutcome.REQUESTED
            done = await wait_status(db, call.id, *TERMINAL, within=10)
    finally:
        trunk.stop()
    assert (done.status, done.end_reason, done.sip_status_code) == ("canceled", "canceled", 487)
    assert "CANCEL sip:" in trunk.messages.read_text()


async def test_busy_first_attempt_is_retried_and_answered(
    db: Database, placer: SipPlacer, tmp_path: Path
) -> None:
    trunk = sipp_trunk.start_trunk(tmp_path, sipp_trunk.busy_then_answer(talk_ms=500))
    retry = {"max_attempts": 3, "on": ["busy"], "delay_seconds": 0.2}
    try:
        done = await _place_one(db, placer, trunk.address, retry=retry)
    finally:
        trunk.stop()
    assert (done.status, done.end_reason, done.attempt_count) == ("completed", "callee_hangup", 2), done.error
    first, second = await attempts_of(db, done.id)
    assert (first.status, first.sip_status_code) == ("busy", 486)
    assert second.status == "completed"
    assert {(i.attempt, i.sip_call_id) for i in trunk.invites()} == {
        (1, first.sip_call_id),
        (2, second.sip_call_id),
    }


async def test_cancel_while_in_progress_sends_bye(db: Database, placer: SipPlacer, tmp_path: Path) -> None:
    trunk = sipp_trunk.start_trunk(tmp_path, sipp_trunk.answer(ring_ms=50, talk_ms=15000))
    org = await make_org(db)
    t = await make_trunk(db, org, address=trunk.address)
    [call] = await make_calls(db, org, trunk=t, agent_config=AGENT, notify=True)
    try:
        async with running(Worker(db, fast_settings(), placer)):
            await wait_status(db, call.id, "in_progress", within=10)
            async with db.transaction() as s:
                row = await s.get(Call, call.id)
                assert row is not None
                assert await request_cancel(s, row) == CancelOutcome.REQUESTED
            done = await wait_status(db, call.id, *TERMINAL, within=10)
    finally:
        trunk.stop()
    assert (done.status, done.end_reason) == ("canceled", "canceled")
    assert done.answered_at is not None and done.transcript_id is not None
    assert "BYE sip:" in trunk.messages.read_text()
