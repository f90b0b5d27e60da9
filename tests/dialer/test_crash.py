"""Crash safety for real: two worker processes on PostgreSQL dialing a few hundred calls into sipp,
one killed with SIGKILL mid-run. Every call ends exactly once and no attempt is ever dialed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from outdial.dialer.models import DialerWorker
from outdial.lifecycle import TERMINAL
from outdial.store.db import Database
from outdial.store.models import Call, CallAttempt, CallEvent
from tests.dialer import sipp_trunk
from tests.dialer.support import make_calls, make_org, make_trunk, wait_for
from tests.support.procs import OwnedProcess

pytestmark = [pytest.mark.interop, pytest.mark.postgres, pytest.mark.slow]

CALLS = 300
TERMINAL_VALUES = [s.value for s in TERMINAL]
WORKER_ENV = {
    "OUTDIAL_DIALER_LEASE_SECONDS": "2",
    "OUTDIAL_DIALER_HEARTBEAT_SECONDS": "0.5",
    "OUTDIAL_DIALER_REAP_SECONDS": "0.5",
    "OUTDIAL_DIALER_POLL_SECONDS": "0.5",
    "OUTDIAL_DIALER_MAX_LIVE_CALLS": "60",
    "OUTDIAL_DIALER_DRAIN_SECONDS": "5",
}


def start_worker(url: str, worker_id: str, log: Path) -> OwnedProcess:
    args = [sys.executable, "-m", "outdial.dialer", "--database-url", url, "--worker-id", worker_id]
    args += ["--no-agent", "--no-migrate", "--pool-size", "8", "--log-level", "warning"]
    env = {**os.environ, **WORKER_ENV}
    with log.open("wb") as out:
        return OwnedProcess(args, stdout=out, stderr=subprocess.STDOUT, env=env)


async def _count(db: Database, *where: object) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Call).where(*where)) or 0)


async def test_sigkill_of_one_worker_loses_nothing_and_dials_nothing_twice(
    pg_db: Database, fresh_pg_url: str, tmp_path: Path
) -> None:
    trunk = sipp_trunk.start_trunk(tmp_path, sipp_trunk.answer(ring_ms=50, talk_ms=500))
    workers: list[OwnedProcess] = []
    try:
        org = await make_org(pg_db)
        t = await make_trunk(pg_db, org, address=trunk.address, calls_per_second=60)
        workers = [start_worker(fresh_pg_url, w, tmp_path / f"{w}.log") for w in ("victim", "survivor")]

        async def both_running() -> bool:
            async with pg_db.session() as s:
                n = await s.scalar(
                    select(func.count()).select_from(DialerWorker).where(DialerWorker.stopped_at.is_(None))
                )
            return n == 2

        await wait_for(both_running, within=30, every=0.1)
        retry = {"max_attempts": 2, "on": ["failed"], "delay_seconds": 0}
        for _ in range(CALLS // 10):
            await make_calls(pg_db, org, 10, trunk=t, notify=True, retry=retry)

        async def victim_is_busy() -> bool:
            async with pg_db.session() as s:
                live = await s.scalar(
                    select(func.count())
                    .select_from(Call)
                    .where(
                        Call.lease_owner == "victim", Call.status.in_(["dialing", "ringing", "in_progress"])
                    )
                )
            return (live or 0) >= 5 and await _count(pg_db, Call.status.in_(TERMINAL_VALUES)) >= 20

        await wait_for(victim_is_busy, within=90, every=0.05)
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait(5)

        async def all_ended() -> bool:
            return await _count(pg_db, Call.org_id == org.id, Call.status.not_in(TERMINAL_VALUES)) == 0

        await wait_for(all_ended, within=120, every=0.2)
    finally:
        for w in workers:
            w.stop(timeout=15)
        trunk.stop()

    async with pg_db.session() as s:
        calls = list(await s.scalars(select(Call).where(Call.org_id == org.id)))
        attempts = list(await s.scalars(select(CallAttempt)))
        ended_events = Counter(
            await s.scalars(select(CallEvent.call_id).where(CallEvent.status.in_(TERMINAL_VALUES)))
        )
    assert len(calls) == CALLS
    # Exactly one terminal state per call.
    assert all(ended_events[c.id] == 1 for c in calls), [c.id for c in calls if ended_events[c.id] != 1][:5]
    # One attempt row per attempt, numbered 1..n.
    by_call: dict[str, list[int]] = {}
    for a in attempts:
        by_call.setdefault(a.call_id, []).append(a.number)
    for c in calls:
        assert sorted(by_call.get(c.id, [])) == list(range(1, c.attempt_count + 1))
    # The kill really hit live calls, and they ended worker_lost (retried when their policy says so).
    lost = [a for a in attempts if a.end_reason == "worker_lost"]
    assert lost, "the kill hit no live call"
    assert all(a.worker_id == "victim" and a.number == 1 for a in lost)
    # Their policy retries failed attempts: each lost call was dialed again, once, and completed.
    assert {c.id for c in calls if c.attempt_count == 2} == {a.call_id for a in lost}
    assert Counter(c.status for c in calls) == {"completed": CALLS}
    # sipp saw at most one INVITE transaction per attempt, and none for an attempt we never made.
    dials = trunk.dials_per_attempt()
    double = {k: v for k, v in dials.items() if len(v) > 1}
    assert double == {}
    made = {(a.call_id, a.number) for a in attempts}
    assert set(dials) <= made
    surviving = {(a.call_id, a.number) for a in attempts if a.worker_id == "survivor"}
    assert surviving <= set(dials)  # every attempt of the live worker did reach the trunk
