"""The worker end to end with a scripted far end: every field of the record, retries, timers, cancel."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select

from outdial.dialer.cancel import CancelOutcome, request_cancel
from outdial.dialer.clock import ManualClock
from outdial.dialer.worker import Worker
from outdial.lifecycle import CallStatus, EndReason, EventType
from outdial.store.db import Database
from outdial.store.models import Call, Transcript
from tests.dialer.support import (
    Script,
    ScriptedPlacer,
    attempts_of,
    events_of,
    fast_settings,
    make_calls,
    make_org,
    make_trunk,
    running,
    wait_for,
    wait_status,
)

TERMINAL = [s.value for s in (CallStatus.COMPLETED, CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.FAILED)]
TERMINAL.append(CallStatus.CANCELED.value)


async def test_an_answered_call_fills_every_field_of_its_record(db: Database) -> None:
    org = await make_org(db)
    trunk = await make_trunk(db, org)
    turns = [{"role": "agent", "text": "Hello", "start_ms": 0, "end_ms": 500}]
    placer = ScriptedPlacer(Script(talk=1.1, transcript=turns, outcome={"confirmed": True}))
    [call] = await make_calls(db, org, trunk=trunk)
    async with running(Worker(db, fast_settings(), placer, worker_id="w1")):
        done = await wait_status(db, call.id, *TERMINAL)
    assert done.status == CallStatus.COMPLETED and done.end_reason == EndReason.CALLEE_HANGUP
    assert done.dialed_at and done.answered_at and done.ended_at
    assert done.dialed_at <= done.answered_at <= done.ended_at
    assert done.duration_seconds == 1
    assert done.sip_status_code == 200
    assert done.answered_by == "human"
    assert done.recording_path == "/tmp/rec.wav"
    assert done.outcome == {"confirmed": True}
    assert done.lease_owner is None and done.attempt_count == 1
    async with db.session() as s:
        transcript = await s.get(Transcript, done.transcript_id)
    assert transcript is not None and transcript.turns == turns
    [attempt] = await attempts_of(db, call.id)
    assert attempt.number == 1 and attempt.worker_id == "w1"
    assert attempt.sip_call_id == f"sip-{call.id}-1"
    assert attempt.status == CallStatus.COMPLETED and attempt.end_reason == EndReason.CALLEE_HANGUP
    assert attempt.answered_at is not None and attempt.ended_at is not None
    events = await events_of(db, call.id)
    assert [e.status for e in events] == ["dialing", "ringing", "in_progress", "completed", "completed"]
    assert [e.type for e in events] == [None, "call.ringing", "call.answered", "call.ended", "call.analyzed"]
    assert events[-1].data == {"outcome": {"confirmed": True}}
    # The placer saw the snapshot of the committed attempt: dialing came first.
    assert placer.placed[0].call.attempt_id == attempt.id


async def test_busy_ends_busy_with_the_sip_status(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(Script(fail=EndReason.BUSY, fail_status=486))
    [call] = await make_calls(db, org)
    async with running(Worker(db, fast_settings(), placer)):
        done = await wait_status(db, call.id, *TERMINAL)
    assert (done.status, done.end_reason, done.sip_status_code) == ("busy", "busy", 486)
    assert done.answered_at is None and done.duration_seconds is None


async def test_ring_timeout_cancels_and_ends_no_answer(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(Script(answer_after=None))
    [call] = await make_calls(db, org, ring_timeout_seconds=1)
    async with running(Worker(db, fast_settings(), placer)):
        done = await wait_status(db, call.id, *TERMINAL)
    assert (done.status, done.end_reason) == ("no_answer", "no_answer")
    assert placer.placed[0].ended_by_request == EndReason.NO_ANSWER
    assert 0.9 <= (done.ended_at - done.dialed_at).total_seconds() < 3


async def test_retry_then_success_schedules_between_attempts(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(by_attempt={1: Script(fail=EndReason.BUSY, fail_status=486), 2: Script()})
    retry = {"max_attempts": 3, "on": ["busy", "no_answer"], "delay_seconds": 0.3}
    [call] = await make_calls(db, org, retry=retry)
    async with running(Worker(db, fast_settings(), placer)):
        done = await wait_status(db, call.id, *TERMINAL)
    assert done.status == CallStatus.COMPLETED and done.attempt_count == 2
    first, second = await attempts_of(db, call.id)
    assert (first.status, first.end_reason, first.sip_status_code) == ("busy", "busy", 486)
    assert second.status == "completed"
    assert (second.dialed_at - first.ended_at).total_seconds() >= 0.3
    events = await events_of(db, call.id)
    retried = [e for e in events if e.type == EventType.CALL_RETRY_SCHEDULED]
    assert len(retried) == 1 and retried[0].status == "scheduled"
    assert retried[0].data["end_reason"] == "busy"
    assert [e.status for e in events].count("dialing") == 2


async def test_retries_stop_at_max_attempts(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(Script(fail=EndReason.BUSY, fail_status=486))
    [call] = await make_calls(db, org, retry={"max_attempts": 2, "on": ["busy"], "delay_seconds": 0})
    async with running(Worker(db, fast_settings(), placer)):
        done = await wait_status(db, call.id, *TERMINAL)
    assert done.status == CallStatus.BUSY and done.attempt_count == 2
    assert len(await attempts_of(db, call.id)) == 2


async def test_a_call_is_never_dialed_before_its_window_opens(db: Database) -> None:
    org = await make_org(db)
    clock = ManualClock(datetime(2026, 11, 23, 13, 59, 50, tzinfo=UTC))  # 08:59:50 in New York
    placer = ScriptedPlacer()
    [call] = await make_calls(db, org, calling_window={"start": "09:00", "end": "20:00"})  # +1 212: New York
    worker = Worker(db, fast_settings(), placer, clock=clock)
    async with running(worker):
        held = await wait_status(db, call.id, "scheduled")
        assert held.next_attempt_at == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
        await asyncio.sleep(0.5)
        assert placer.placed == []
        clock.advance(10)
        worker.wake()
        done = await wait_status(db, call.id, *TERMINAL)
    assert done.status == CallStatus.COMPLETED
    assert placer.placed[0].call.id == call.id
    assert done.dialed_at == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


async def test_a_retry_waits_for_the_window_to_reopen(db: Database) -> None:
    org = await make_org(db)
    clock = ManualClock(datetime(2026, 11, 24, 0, 59, 59, tzinfo=UTC))  # 19:59:59 in New York
    placer = ScriptedPlacer(Script(fail=EndReason.BUSY, fail_status=486))
    [call] = await make_calls(
        db,
        org,
        calling_window={"start": "09:00", "end": "20:00", "timezone": "America/New_York"},
        retry={"max_attempts": 2, "on": ["busy"], "delay_seconds": 60},
    )
    async with running(Worker(db, fast_settings(), placer, clock=clock)):
        held = await wait_status(db, call.id, "scheduled")
    assert held.next_attempt_at == datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 09:00 next morning
    assert len(placer.placed) == 1


async def test_max_duration_hangs_up(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(Script(talk=30))
    [call] = await make_calls(db, org, max_duration_seconds=1)
    async with running(Worker(db, fast_settings(), placer)):
        done = await wait_status(db, call.id, *TERMINAL)
    assert (done.status, done.end_reason) == ("completed", "max_duration")
    assert placer.placed[0].ended_by_request == EndReason.MAX_DURATION


async def test_max_hold_hangs_up_when_no_human_speaks(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(Script(talk=30, human_speech_after=None))
    [call] = await make_calls(db, org, max_hold_seconds=1)
    async with running(Worker(db, fast_settings(), placer)):
        done = await wait_status(db, call.id, *TERMINAL)
    assert (done.status, done.end_reason) == ("completed", "max_hold")


async def test_max_hold_does_not_fire_once_a_human_spoke(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(Script(talk=1.5, human_speech_after=0.2))
    [call] = await make_calls(db, org, max_hold_seconds=1)
    async with running(Worker(db, fast_settings(), placer)):
        done = await wait_status(db, call.id, *TERMINAL)
    assert (done.status, done.end_reason) == ("completed", "callee_hangup")


async def _cancel(db: Database, call_id: str) -> CancelOutcome:
    async with db.transaction() as s:
        call = await s.get(Call, call_id)
        assert call is not None
        return await request_cancel(s, call)


async def test_cancel_a_queued_or_scheduled_call_ends_it_at_once(db: Database) -> None:
    org = await make_org(db)
    [queued] = await make_calls(db, org)
    [scheduled] = await make_calls(
        db, org, status="scheduled", next_attempt_at=datetime(2030, 1, 1, tzinfo=UTC)
    )
    assert await _cancel(db, queued.id) == CancelOutcome.CANCELED
    assert await _cancel(db, scheduled.id) == CancelOutcome.CANCELED
    placer = ScriptedPlacer()
    async with running(Worker(db, fast_settings(), placer)):
        await asyncio.sleep(0.3)
    for c in (queued, scheduled):
        done = await wait_status(db, c.id, "canceled")
        assert done.end_reason == EndReason.CANCELED
    assert placer.placed == []
    assert await _cancel(db, queued.id) == CancelOutcome.ALREADY_ENDED


async def _cancel_live_at(db: Database, script: Script, stage: str) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(script)
    [call] = await make_calls(
        db, org, retry={"max_attempts": 3, "on": ["failed", "no_answer"], "delay_seconds": 0}
    )
    async with running(Worker(db, fast_settings(), placer)):
        await wait_status(db, call.id, stage)
        assert await _cancel(db, call.id) == CancelOutcome.REQUESTED
        done = await wait_status(db, call.id, *TERMINAL, within=5)
    assert (done.status, done.end_reason) == ("canceled", "canceled")
    assert placer.placed[0].ended_by_request == EndReason.CANCELED
    assert len(placer.placed) == 1  # a canceled call is not retried


async def test_cancel_while_dialing(db: Database) -> None:
    await _cancel_live_at(db, Script(ring_after=30), "dialing")


async def test_cancel_while_ringing(db: Database) -> None:
    await _cancel_live_at(db, Script(answer_after=None), "ringing")


async def test_cancel_while_in_progress(db: Database) -> None:
    await _cancel_live_at(db, Script(talk=30), "in_progress")


async def test_new_call_is_picked_up_at_once_by_notification(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer()
    async with running(Worker(db, fast_settings(poll_seconds=30), placer)):
        await asyncio.sleep(0.3)  # the worker is idle, its next poll 30 s away
        latencies = []
        for _ in range(5):
            loop = asyncio.get_running_loop()
            start = loop.time()
            [call] = await make_calls(db, org, notify=True)
            await wait_for(lambda cid=call.id: _placed(placer, cid), within=5, every=0.002)
            latencies.append(loop.time() - start)
    # Far below the 30 s poll: the notification woke the worker (the bound allows a loaded host's hiccup).
    assert sorted(latencies)[2] < 0.25 and max(latencies) < 2, latencies


async def _placed(placer: ScriptedPlacer, call_id: str) -> bool:
    return any(p.call.id == call_id for p in placer.placed)


async def test_every_call_ends_once_under_load(db: Database) -> None:
    org = await make_org(db)
    trunk = await make_trunk(db, org)
    placer = ScriptedPlacer(Script(talk=0.02))
    calls = await make_calls(db, org, 60, trunk=trunk, notify=True)
    async with running(Worker(db, fast_settings(), placer)):

        async def all_done() -> bool:
            async with db.session() as s:
                rows = await s.scalars(select(Call.status).where(Call.org_id == org.id))
                return all(r == "completed" for r in rows)

        await wait_for(all_done, within=30)
    assert sorted(p.call.id for p in placer.placed) == sorted(c.id for c in calls)
