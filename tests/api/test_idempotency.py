"""Idempotency-Key on POST /v1/calls: Stripe's semantics, per organization, safe under concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from outdial.api.auth import Principal
from outdial.api.errors import ApiError
from outdial.calls.service import create_call, parse_create_request
from outdial.store.db import Database
from outdial.store.models import IdempotencyKey
from outdial.store.types import utcnow
from tests.api.conftest import Ready, Seed
from tests.api.test_calls_support import CALLEE, assert_error, count_calls, events_of, post_call


def key(k: str) -> dict[str, str]:
    return {"Idempotency-Key": k}


async def test_the_same_key_and_body_replays_the_first_answer(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    first = await post_call(client, ready, headers=key("order-1"), metadata={"crm": 1})
    second = await post_call(client, ready, headers=key("order-1"), metadata={"crm": 1})

    assert first.status_code == second.status_code == 202
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await count_calls(db, ready.tenant.org_id) == 1
    assert len(await events_of(db, first.json()["id"])) == 1


async def test_the_same_key_with_another_body_is_a_conflict(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    await post_call(client, ready, headers=key("order-2"), metadata={"crm": 1})

    r = await post_call(client, ready, headers=key("order-2"), metadata={"crm": 2})

    assert_error(r, 409, "idempotency_conflict", "Idempotency-Key")
    assert await count_calls(db, ready.tenant.org_id) == 1


async def test_key_order_inside_the_body_does_not_make_another_request(
    client: httpx.AsyncClient, ready: Ready
) -> None:
    a = await post_call(client, ready, headers=key("k"), metadata={"a": 1, "b": 2})
    b = await post_call(client, ready, headers=key("k"), metadata={"b": 2, "a": 1})
    assert b.status_code == 202 and b.json()["id"] == a.json()["id"]


async def test_keys_belong_to_one_organization(client: httpx.AsyncClient, ready: Ready, seed: Seed) -> None:
    other = await seed.tenant("globex")
    other_agent = await seed.agent(other.org_id)
    await seed.number(other.org_id, "+14155550177", outbound_agent_id=other_agent)

    mine = await post_call(client, ready, headers=key("shared-key"))
    theirs = await client.post(
        "/v1/calls",
        json={"agent_id": other_agent, "to_number": CALLEE},
        headers={**other.headers, **key("shared-key")},
    )

    assert theirs.status_code == 202, theirs.text
    assert theirs.json()["id"] != mine.json()["id"]


async def test_a_refused_request_stores_nothing_so_the_key_can_be_retried(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    refused = await post_call(client, ready, headers=key("retry-me"), agent_id="missing")
    assert_error(refused, 404, "agent_not_found")

    fixed = await post_call(client, ready, headers=key("retry-me"))

    assert fixed.status_code == 202, fixed.text
    assert "Idempotent-Replayed" not in fixed.headers


async def test_keys_expire_after_24_hours(client: httpx.AsyncClient, ready: Ready, db: Database) -> None:
    first = await post_call(client, ready, headers=key("daily"))
    async with db.transaction() as s:
        await s.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=24, seconds=1)))

    again = await post_call(client, ready, headers=key("daily"), metadata={"new": True})

    assert again.status_code == 202, again.text
    assert again.json()["id"] != first.json()["id"]
    async with db.session() as s:
        rows = (await s.execute(select(IdempotencyKey))).scalars().all()
    assert [r.key for r in rows] == ["daily"] and rows[0].response_body["id"] == again.json()["id"]


async def test_a_key_younger_than_24_hours_still_replays(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    first = await post_call(client, ready, headers=key("almost"))
    async with db.transaction() as s:
        await s.execute(update(IdempotencyKey).values(created_at=utcnow() - timedelta(hours=23, minutes=59)))

    again = await post_call(client, ready, headers=key("almost"))

    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"


async def test_malformed_keys_are_refused(client: httpx.AsyncClient, ready: Ready) -> None:
    for bad in ("has space", "x" * 256, "tab\tkey"):
        r = await post_call(client, ready, headers=key(bad))
        assert_error(r, 400, "invalid_request")
    assert (await post_call(client, ready, headers=key("x" * 255))).status_code == 202


async def test_concurrent_duplicates_create_one_call(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    responses = await asyncio.gather(
        *(post_call(client, ready, headers=key("burst"), metadata={"n": 1}) for _ in range(8))
    )

    assert {r.status_code for r in responses} == {202}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 7
    assert await count_calls(db, ready.tenant.org_id) == 1
    assert len(await events_of(db, responses[0].json()["id"])) == 1


async def test_concurrent_different_bodies_under_one_key_create_one_call(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    responses = await asyncio.gather(
        *(post_call(client, ready, headers=key("race"), metadata={"n": i}) for i in range(6))
    )

    assert sorted(r.status_code for r in responses) == [202] + [409] * 5, [r.text for r in responses]
    assert await count_calls(db, ready.tenant.org_id) == 1


async def test_vendor_surfaces_share_keys_but_not_answers(ready: Ready, db: Database) -> None:
    """A key used on one surface (scope) is a conflict on another, even with the same request."""
    principal = Principal(org_id=ready.tenant.org_id, key_id=ready.tenant.key_id)
    request = parse_create_request({"agent_id": ready.agent_id, "to_number": CALLEE})
    async with db.session() as s:
        native = await create_call(s, principal, request, idempotency_key="k-1")
    async with db.session() as s:
        replay = await create_call(s, principal, request, idempotency_key="k-1")
    assert replay.replayed and replay.call == native.call
    async with db.session() as s:
        try:
            await create_call(
                s, principal, request, source="byo", idempotency_key="k-1", idempotency_scope="POST /v1/call"
            )
        except ApiError as exc:
            assert (exc.status, exc.code) == (409, "idempotency_conflict")
        else:
            raise AssertionError("a key reused on another surface must conflict")
