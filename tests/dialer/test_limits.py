"""Limits that hold under load: trunk and org concurrency, calls per second, worker capacity."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import timedelta

from sqlalchemy import select

from outdial.dialer.admit import Admitted
from outdial.dialer.placer import CallSnapshot, TrunkSnapshot
from outdial.dialer.worker import Worker
from outdial.store.db import Database
from outdial.store.models import Call, CallAttempt, Organization
from outdial.store.types import utcnow
from tests.dialer.support import (
    Script,
    ScriptedPlacer,
    attempts_of,
    fast_settings,
    make_calls,
    make_org,
    make_trunk,
    running,
    wait_for,
)


async def _all_completed(db: Database, org: Organization) -> None:
    async def check() -> bool:
        async with db.session() as s:
            rows = list(await s.scalars(select(Call.status).where(Call.org_id == org.id)))
            return bool(rows) and all(r == "completed" for r in rows)

    await wait_for(check, within=60)


def _gaps(placer: ScriptedPlacer) -> list[float]:
    times = sorted(p.at_monotonic for p in placer.placed)
    return [b - a for a, b in itertools.pairwise(times)]


async def test_trunk_max_concurrent_calls_holds(db: Database) -> None:
    org = await make_org(db)
    trunk = await make_trunk(db, org, max_concurrent_calls=3)
    placer = ScriptedPlacer(Script(talk=0.5))
    await make_calls(db, org, 12, trunk=trunk, notify=True)
    async with running(Worker(db, fast_settings(), placer)):
        await _all_completed(db, org)
    assert placer.max_active == 3
    assert len(placer.placed) == 12


async def test_org_max_concurrent_calls_holds_across_trunks(db: Database) -> None:
    org = await make_org(db, max_concurrent_calls=2)
    trunks = [await make_trunk(db, org), await make_trunk(db, org)]
    placer = ScriptedPlacer(Script(talk=0.5))
    for trunk in trunks:
        await make_calls(db, org, 4, trunk=trunk, notify=True)
    async with running(Worker(db, fast_settings(), placer)):
        await _all_completed(db, org)
    assert placer.max_active == 2


async def test_calls_per_second_spaces_invites(db: Database) -> None:
    org = await make_org(db)
    trunk = await make_trunk(db, org, calls_per_second=10)
    placer = ScriptedPlacer(Script(talk=0.01))
    calls = await make_calls(db, org, 12, trunk=trunk, notify=True)
    async with running(Worker(db, fast_settings(), placer)):
        await _all_completed(db, org)
    dialed = sorted([a.dialed_at for c in calls for a in await attempts_of(db, c.id)])
    assert min((b - a).total_seconds() for a, b in itertools.pairwise(dialed)) >= 0.1
    gaps = _gaps(placer)  # on the wire: the INVITE leaves at its slot
    assert min(gaps) >= 0.05, gaps  # wire timing jitters under load; the slots above are exact
    assert sum(gaps) >= 1.05


def _paced_call(n: int) -> CallSnapshot:
    trunk = TrunkSnapshot("trunk-1", "127.0.0.1:5060", "udp", None, None, "none", calls_per_second=10)
    return CallSnapshot(
        f"call-{n}",
        "org-1",
        f"att-{n}",
        1,
        "+18135551234",
        "+14155550100",
        None,
        {},
        {},
        None,
        {},
        45,
        600,
        None,
        trunk,
    )


async def test_a_late_wake_up_does_not_let_the_next_invite_follow_it_at_once(db: Database) -> None:
    worker = Worker(db, fast_settings(), ScriptedPlacer())
    now = utcnow()
    sent: list[float] = []

    async def dial(n: int) -> None:
        slot = now + timedelta(seconds=n / 10)  # the trunk's 10/s slots, as admission hands them out
        await worker._wait_for_slot(Admitted(_paced_call(n), slot))
        sent.append(time.monotonic())

    tasks = [asyncio.create_task(dial(n)) for n in range(3)]
    await asyncio.sleep(0.02)  # the first has gone; the other two wait for their slots
    time.sleep(0.25)  # noqa: ASYNC251 - the event loop stalls past both slots (a busy machine)
    await asyncio.gather(*tasks)
    assert len(sent) == 3 and sent[1] - sent[0] >= 0.25
    assert sent[2] - sent[1] >= 0.099, sent  # not right behind the late one: 1/cps on the wire


async def test_worker_capacity_bounds_live_calls(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(Script(talk=0.5))
    await make_calls(db, org, 6, notify=True)
    async with running(Worker(db, fast_settings(max_live_calls=2), placer)):
        await _all_completed(db, org)
    assert placer.max_active == 2


async def test_a_late_media_clock_stops_admission_until_it_recovers(db: Database) -> None:
    org = await make_org(db)
    placer = ScriptedPlacer(Script(talk=1.5))
    lateness = {"ms": 50.0}
    settings = fast_settings(max_media_lateness_ms=10, claim_batch=1)
    worker = Worker(db, settings, placer, media_lateness_ms=lambda: lateness["ms"])
    await make_calls(db, org, 3, notify=True)
    async with running(worker):
        # With no call of its own live, a worker admits one (someone must); then the late clock holds it.
        await wait_for(_sleep_then_true, within=2)
        assert len(placer.placed) == 1
        lateness["ms"] = 1.0
        await _all_completed(db, org)
    assert len(placer.placed) == 3


async def _sleep_then_true() -> bool:
    import asyncio

    await asyncio.sleep(0.4)
    return True


async def test_limits_hold_across_two_workers_on_postgres(pg_db: Database) -> None:
    org = await make_org(pg_db, max_concurrent_calls=5)
    trunk = await make_trunk(pg_db, org, max_concurrent_calls=4, calls_per_second=25)
    placer = ScriptedPlacer(Script(talk=0.6))
    await make_calls(pg_db, org, 30, trunk=trunk, notify=True)
    workers = [Worker(pg_db, fast_settings(), placer, worker_id=f"w{i}") for i in range(2)]
    async with running(*workers):
        await _all_completed(pg_db, org)
    assert placer.max_active == 4
    async with pg_db.session() as s:
        attempts = list(await s.scalars(select(CallAttempt)))
    # Slots are exactly 1/cps apart whichever worker took them, and no INVITE left before its slot
    # (on the wire a late INVITE of one worker may sit closer to the next worker's punctual one).
    slots = sorted(a.dialed_at for a in attempts)
    assert min((b - a).total_seconds() for a, b in itertools.pairwise(slots)) >= 0.04
    dialed_at = {a.id: a.dialed_at for a in attempts}
    assert all(p.at >= dialed_at[p.call.attempt_id] for p in placer.placed)
    assert {p.call.attempt_id for p in placer.placed}.__len__() == 30
    assert {a.worker_id for a in attempts} == {"w0", "w1"}
