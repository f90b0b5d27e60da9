"""Crash safety: a dead worker's never-dialed calls are reclaimed; its live calls end worker_lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from outdial.dialer import admit as admission
from outdial.dialer.claim import claim_due
from outdial.dialer.worker import Worker
from outdial.lifecycle import CallStatus, EndReason
from outdial.store.db import Database
from outdial.store.models import Call
from tests.dialer.support import (
    Script,
    ScriptedPlacer,
    attempts_of,
    fast_settings,
    make_calls,
    make_org,
    running,
    wait_status,
)

TERMINAL = ["completed", "no_answer", "busy", "failed", "canceled"]


async def _dial_as_dead_worker(db: Database, call: Call, lease_seconds: float = 1.0) -> None:
    """What a worker does right before it dies: claim and commit dialing, then nothing."""
    now = datetime.now(UTC)
    assert [c.id for c in await claim_due(db, "dead", now=now, limit=1, lease_seconds=lease_seconds)] == [
        call.id
    ]
    outcome = await admission.admit(db, "dead", call.id, now=now, lease_seconds=lease_seconds)
    assert isinstance(outcome, admission.Admitted)


async def test_a_claimed_never_dialed_call_is_dialed_by_another_worker_after_the_lease(db: Database) -> None:
    org = await make_org(db)
    [call] = await make_calls(db, org)
    claimed_at = datetime.now(UTC)
    await claim_due(db, "dead", now=claimed_at, limit=1, lease_seconds=1.5)
    placer = ScriptedPlacer()
    async with running(Worker(db, fast_settings(), placer, worker_id="alive")):
        done = await wait_status(db, call.id, *TERMINAL)
    assert done.status == CallStatus.COMPLETED
    [attempt] = await attempts_of(db, call.id)
    assert attempt.worker_id == "alive"
    assert attempt.dialed_at >= claimed_at + timedelta(seconds=1.5)


async def test_a_dialing_call_of_a_dead_worker_ends_worker_lost_and_is_not_redialed(db: Database) -> None:
    org = await make_org(db)
    [call] = await make_calls(db, org)
    await _dial_as_dead_worker(db, call)
    placer = ScriptedPlacer()
    async with running(Worker(db, fast_settings(), placer, worker_id="alive")):
        done = await wait_status(db, call.id, *TERMINAL)
    assert (done.status, done.end_reason) == ("failed", "worker_lost")
    assert "dead" in (done.error or "")
    assert done.lease_owner is None
    [attempt] = await attempts_of(db, call.id)
    assert (attempt.worker_id, attempt.end_reason) == ("dead", EndReason.WORKER_LOST)
    assert attempt.ended_at is not None
    assert placer.placed == []


async def test_a_lost_call_is_retried_when_its_policy_retries_failed(db: Database) -> None:
    org = await make_org(db)
    [call] = await make_calls(db, org, retry={"max_attempts": 2, "on": ["failed"], "delay_seconds": 0})
    await _dial_as_dead_worker(db, call)
    placer = ScriptedPlacer()
    async with running(Worker(db, fast_settings(), placer, worker_id="alive")):
        done = await wait_status(db, call.id, *TERMINAL)
    assert done.status == CallStatus.COMPLETED
    first, second = await attempts_of(db, call.id)
    assert (first.worker_id, first.end_reason) == ("dead", "worker_lost")
    assert (second.worker_id, second.status) == ("alive", "completed")
    assert [p.call.attempt_number for p in placer.placed] == [2]


async def test_a_lost_call_is_not_retried_when_its_policy_does_not_say_failed(db: Database) -> None:
    org = await make_org(db)
    [call] = await make_calls(
        db, org, retry={"max_attempts": 3, "on": ["busy", "no_answer"], "delay_seconds": 0}
    )
    await _dial_as_dead_worker(db, call)
    async with running(Worker(db, fast_settings(), ScriptedPlacer(), worker_id="alive")):
        done = await wait_status(db, call.id, *TERMINAL)
    assert (done.status, done.end_reason, done.attempt_count) == ("failed", "worker_lost", 1)


async def test_a_worker_restarting_under_its_id_ends_its_old_live_calls_at_once(db: Database) -> None:
    org = await make_org(db)
    [call] = await make_calls(db, org)
    await _dial_as_dead_worker(db, call, lease_seconds=3600)
    async with running(Worker(db, fast_settings(), ScriptedPlacer(), worker_id="dead")):
        done = await wait_status(db, call.id, *TERMINAL, within=2)
    assert (done.status, done.end_reason) == ("failed", "worker_lost")


async def test_heartbeats_keep_a_long_call_alive_past_its_lease(db: Database) -> None:
    org = await make_org(db)
    [call] = await make_calls(db, org)
    placer = ScriptedPlacer(Script(talk=2.5))
    async with running(Worker(db, fast_settings(lease_seconds=0.8, heartbeat_seconds=0.2), placer)):
        done = await wait_status(db, call.id, *TERMINAL)
    assert (done.status, done.end_reason) == ("completed", "callee_hangup")
