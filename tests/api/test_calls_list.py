"""GET /v1/calls reads its page its own way (on PostgreSQL, straight on asyncpg): same records, same rows."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from outdial.calls import repository, serializers
from outdial.calls.repository import CallFilters
from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.models import Call, CallAttempt
from tests.api.conftest import Ready, Seed

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _call(ready: Ready, n: int, **fields: Any) -> Call:
    values: dict[str, Any] = {
        "org_id": ready.tenant.org_id,
        "agent_id": ready.agent_id,
        "to_number": "+18135550100",
        "from_number": ready.number,
        "status": "queued",
        "created_at": T0 + timedelta(minutes=n),
        **fields,
    }
    return Call(**values)


async def _ids(client: httpx.AsyncClient, ready: Ready, query: str) -> list[str]:
    r = await client.get(f"/v1/calls?limit=100&{query}", headers=ready.tenant.headers)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["data"]]


async def test_a_listed_call_is_the_record_of_the_stored_call(
    client: httpx.AsyncClient, ready: Ready, db: Database, settings: Settings
) -> None:
    async with db.transaction() as s:
        full = _call(
            ready,
            1,
            status="completed",
            end_reason="callee_hangup",
            answered_by="human",
            request_metadata={"z": 1, "a": [1, {"b": None}], "é": "ü"},  # key order and text kept
            variables={"name": "Ada", "n": 2.5},
            sip_headers={"X-Campaign": "spring"},
            retry={"max_attempts": 3, "on": ["busy"]},
            calling_window={"start": "09:00", "end": "17:00", "timezone": "UTC"},
            outcome={"ok": True, "notes": None},
            recording_path="rec.wav",
            attempt_count=2,
            dialed_at=T0,
            answered_at=T0 + timedelta(seconds=3),
            ended_at=T0 + timedelta(seconds=63),
            duration_seconds=60,
            sip_status_code=200,
            cost_cents=4,
            billable_minutes=1,
            callback_delivered=True,
        )
        bare = _call(ready, 2, request_metadata=None, variables={}, sip_headers={}, agent_id=None)
        listed_string = _call(ready, 3, request_metadata="just text")
        s.add_all([full, bare, listed_string])
        await s.flush()
        for number in (2, 1):  # stored out of order: records show the first attempt first
            s.add(CallAttempt(call_id=full.id, number=number, status="completed", dialed_at=T0,
                              end_reason="busy" if number == 1 else "callee_hangup"))  # fmt: skip

    r = await client.get("/v1/calls", headers=ready.tenant.headers)

    assert r.status_code == 200, r.text
    listed = r.json()["data"]
    async with db.session() as s:
        calls = {c.id: c for c in (await s.execute(select(Call))).scalars()}
        attempts = list((await s.execute(select(CallAttempt).order_by(CallAttempt.number))).scalars())
        expected = [
            serializers.call_out(
                calls[c["id"]], [a for a in attempts if a.call_id == c["id"]], settings
            ).model_dump(mode="json")
            for c in listed
        ]
    assert [c["id"] for c in listed] == [listed_string.id, bare.id, full.id]
    for got, want in zip(listed, expected, strict=True):
        # The signed link carries its expiry second: compare where it points, not when it lapses.
        assert (got.pop("recording_url") or "").split("?")[0] == (want.pop("recording_url") or "").split("?")[
            0
        ]
        assert got == want
    assert list(listed[2]["request_metadata"]) == ["z", "a", "é"]
    assert [a["number"] for a in listed[2]["attempts"]] == [1, 2]


async def test_every_combination_of_filters_lists_exactly_its_calls(
    client: httpx.AsyncClient, ready: Ready, db: Database, seed: Seed
) -> None:
    other_agent = await seed.agent(ready.tenant.org_id, "Other")
    async with db.transaction() as s:
        calls = [
            _call(
                ready,
                n,
                agent_id=(ready.agent_id, other_agent)[n % 2],
                status=("queued", "completed", "failed")[n % 3],
                to_number=("+18135550100", "+18135550199")[n // 4 % 2],
            )
            for n in range(12)
        ]
        s.add_all(calls)
    filters: dict[str, tuple[str, Any]] = {
        "agent_id": (other_agent, lambda c: c.agent_id == other_agent),
        "status": ("completed", lambda c: c.status == "completed"),
        "to_number": ("%2B18135550199", lambda c: c.to_number == "+18135550199"),
        "created_after": ("2026-03-01T12:02:00Z", lambda c: c.created_at > T0 + timedelta(minutes=2)),
        "created_before": ("2026-03-01T12:10:00Z", lambda c: c.created_at < T0 + timedelta(minutes=10)),
    }
    newest_first = sorted(calls, key=lambda c: c.created_at, reverse=True)

    for size in range(len(filters) + 1):
        for names in itertools.combinations(filters, size):
            query = "&".join(f"{name}={filters[name][0]}" for name in names)
            want = [c.id for c in newest_first if all(filters[name][1](c) for name in names)]
            assert await _ids(client, ready, query) == want, query


async def test_the_exact_count_limit_is_read_on_every_request(
    client: httpx.AsyncClient, ready: Ready, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.transaction() as s:
        s.add_all([_call(ready, n) for n in range(5)])
    monkeypatch.setattr(repository, "_estimates", {})

    monkeypatch.setattr(repository, "EXACT_COUNT_LIMIT", 2)
    small_limit = (await client.get("/v1/calls?limit=2", headers=ready.tenant.headers)).json()
    monkeypatch.setattr(repository, "EXACT_COUNT_LIMIT", 1_000)
    default_limit = await client.get("/v1/calls?limit=2", headers=ready.tenant.headers)

    assert small_limit["pagination"]["total"] >= 3  # past the limit: estimated (PostgreSQL) or counted
    assert "X-Total-Estimated" not in default_limit.headers
    assert default_limit.json()["pagination"] == {
        "page": 1, "limit": 2, "total": 5, "totalPages": 3, "hasNext": True, "hasPrev": False,
    }  # fmt: skip


async def test_a_page_read_in_a_session_includes_its_pending_calls(ready: Ready, db: Database) -> None:
    async with db.session() as s:
        pending = _call(ready, 1)
        s.add(pending)  # not flushed: the read flushes first, as SQLAlchemy's own queries do

        rows, bounded = await repository.list_page(s, CallFilters(ready.tenant.org_id), offset=0, limit=10)

        assert [r.id for r in rows] == [pending.id] and bounded == 1
        await s.rollback()


async def test_attempts_read_with_a_page_serve_only_the_next_read_of_that_session(
    ready: Ready, db: Database
) -> None:
    async with db.transaction() as s:
        call = _call(ready, 1, attempt_count=1)
        s.add(call)
        await s.flush()
        s.add(CallAttempt(call_id=call.id, number=1, status="busy"))
    async with db.session() as s:
        await repository.list_page(s, CallFilters(ready.tenant.org_id), offset=0, limit=10)
        first = await repository.attempts_for(s, [call.id])
        s.add(CallAttempt(call_id=call.id, number=2, status="completed"))  # pending, then flushed
        second = await repository.attempts_for(s, [call.id])
        await repository.list_page(s, CallFilters(ready.tenant.org_id), offset=0, limit=10)
        s.add(CallAttempt(call_id=call.id, number=3, status="completed"))  # a change since the page
        third = await repository.attempts_for(s, [call.id])
        await s.rollback()

    assert [(a.number, a.status) for a in first[call.id]] == [(1, "busy")]
    assert [a.number for a in second[call.id]] == [1, 2]
    assert [a.number for a in third[call.id]] == [1, 2, 3]
