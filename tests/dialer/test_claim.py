"""Claiming: due calls are leased to one worker at a time; expired leases are claimable again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from outdial.dialer.claim import claim_due
from outdial.lifecycle import CallStatus
from outdial.store.db import Database
from tests.dialer.support import load, make_calls, make_org

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


async def test_claim_leases_due_calls_and_leaves_future_ones(db: Database) -> None:
    org = await make_org(db)
    due = await make_calls(db, org, 3)
    later = await make_calls(db, org, 1, status="scheduled", next_attempt_at=NOW + timedelta(minutes=5))
    not_yet = await make_calls(db, org, 1, status="scheduled", scheduled_at=NOW + timedelta(hours=1))
    claimed = await claim_due(db, "w1", now=NOW, limit=10, lease_seconds=15)
    assert {c.id for c in claimed} == {c.id for c in due}
    first = await load(db, due[0].id)
    assert first.lease_owner == "w1"
    assert first.lease_expires_at == NOW + timedelta(seconds=15)
    assert first.status == CallStatus.QUEUED  # leased, not yet dialing
    for c in later + not_yet:
        assert (await load(db, c.id)).lease_owner is None


async def test_a_leased_call_is_not_claimed_again_until_its_lease_expires(db: Database) -> None:
    org = await make_org(db)
    [call] = await make_calls(db, org)
    assert [c.id for c in await claim_due(db, "w1", now=NOW, limit=10, lease_seconds=15)] == [call.id]
    assert await claim_due(db, "w2", now=NOW + timedelta(seconds=14), limit=10, lease_seconds=15) == []
    reclaimed = await claim_due(db, "w2", now=NOW + timedelta(seconds=16), limit=10, lease_seconds=15)
    assert [c.id for c in reclaimed] == [call.id]
    assert (await load(db, call.id)).lease_owner == "w2"


async def test_claim_respects_the_limit_and_due_order(db: Database) -> None:
    org = await make_org(db)
    calls = []
    for minutes in (3, 1, 2):
        calls += await make_calls(
            db, org, status="scheduled", next_attempt_at=NOW - timedelta(minutes=minutes)
        )
    claimed = await claim_due(db, "w1", now=NOW, limit=2, lease_seconds=15)
    assert [c.id for c in claimed] == [calls[0].id, calls[2].id]


async def test_a_call_outside_its_window_is_scheduled_at_the_opening(db: Database) -> None:
    org = await make_org(db)
    window = {"start": "09:00", "end": "20:00", "timezone": "America/New_York"}
    [call] = await make_calls(db, org, calling_window=window)
    early = datetime(2026, 11, 23, 13, 59, tzinfo=UTC)  # 08:59 in New York
    assert await claim_due(db, "w1", now=early, limit=10, lease_seconds=15) == []
    held = await load(db, call.id)
    assert held.status == CallStatus.SCHEDULED
    assert held.next_attempt_at == datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    assert held.lease_owner is None
    assert await claim_due(db, "w1", now=early + timedelta(seconds=30), limit=10, lease_seconds=15) == []
    opened = await claim_due(
        db, "w1", now=datetime(2026, 11, 23, 14, 0, tzinfo=UTC), limit=10, lease_seconds=15
    )
    assert [c.id for c in opened] == [call.id]


async def test_org_default_window_holds_calls_without_their_own(db: Database) -> None:
    org = await make_org(
        db, calling_window={"start": "09:00", "end": "17:00", "days": ["mon"], "timezone": "UTC"}
    )
    [call] = await make_calls(db, org)
    tuesday = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    assert await claim_due(db, "w1", now=tuesday, limit=10, lease_seconds=15) == []
    assert (await load(db, call.id)).next_attempt_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def test_concurrent_claimers_on_postgres_never_share_a_call(pg_db: Database) -> None:
    org = await make_org(pg_db)
    calls = await make_calls(pg_db, org, 400)
    seen: dict[str, list[str]] = {}

    async def claimer(name: str) -> None:
        while True:
            got = await claim_due(pg_db, name, now=datetime.now(UTC), limit=7, lease_seconds=60)
            if not got:
                return
            for c in got:
                seen.setdefault(c.id, []).append(name)

    await asyncio.gather(*(claimer(f"w{i}") for i in range(6)))
    assert set(seen) == {c.id for c in calls}
    assert all(len(owners) == 1 for owners in seen.values())
    assert len({o[0] for o in seen.values()}) > 1  # the work really was shared
