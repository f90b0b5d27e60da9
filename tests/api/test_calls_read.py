"""GET /v1/calls/{id}, GET /v1/calls and POST /v1/calls/{id}/cancel, over both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from outdial.calls import repository
from outdial.calls.transitions import change_status
from outdial.dialer.models import CancelRequest
from outdial.lifecycle import CallStatus, EndReason
from outdial.store.db import Database
from outdial.store.models import Call, CallAttempt
from tests.api.conftest import Ready, Seed
from tests.api.test_calls_support import CALLEE, assert_error, events_of, post_call

OTHER_CALLEE = "+447911123456"


async def _create(client: httpx.AsyncClient, ready: Ready, **body: object) -> str:
    r = await post_call(client, ready, **body)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def _move(db: Database, call_id: str, *steps: tuple[CallStatus, EndReason | None]) -> None:
    """Walk a call through lifecycle steps the way the dialer does (change_status, one transaction)."""
    async with db.transaction() as s:
        call = (await s.execute(select(Call).where(Call.id == call_id))).scalar_one()
        for status, reason in steps:
            change_status(s, call, status, end_reason=reason)


ANSWERED = ((CallStatus.DIALING, None), (CallStatus.RINGING, None), (CallStatus.IN_PROGRESS, None))
COMPLETED = (*ANSWERED, (CallStatus.COMPLETED, EndReason.CALLEE_HANGUP))


async def test_get_returns_every_field_of_a_finished_call(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    call_id = await _create(client, ready, metadata={"crm_id": "123"}, variables={}, call_context="Hi")
    await _move(db, call_id, *COMPLETED)
    now = datetime.now(UTC)
    async with db.transaction() as s:
        call = (await s.execute(select(Call).where(Call.id == call_id))).scalar_one()
        call.answered_by, call.sip_status_code, call.transcript_id = "human", 200, "t-1"
        call.recording_path, call.outcome, call.cost_cents, call.billable_minutes = (
            "rec.wav",
            {"ok": True},
            12,
            2,
        )
        call.attempt_count = 1
        s.add(CallAttempt(call_id=call_id, number=1, status="completed", end_reason="callee_hangup",
                          sip_status_code=200, dialed_at=now, answered_at=now, ended_at=now))  # fmt: skip

    r = await client.get(f"/v1/calls/{call_id}", headers=ready.tenant.headers)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == call_id and body["agent_id"] == ready.agent_id
    assert (body["to_number"], body["from_number"]) == (CALLEE, ready.number)
    assert (body["status"], body["end_reason"], body["answered_by"]) == (
        "completed",
        "callee_hangup",
        "human",
    )
    assert body["request_metadata"] == {"crm_id": "123"} and body["call_context"] == "Hi"
    for stamp in ("created_at", "dialed_at", "answered_at", "ended_at"):
        assert datetime.fromisoformat(body[stamp]).tzinfo is not None, stamp
    assert body["duration_seconds"] == 0
    assert (body["sip_status_code"], body["transcript_id"], body["outcome"], body["cost"]) == (
        200,
        "t-1",
        {"ok": True},
        12,
    )
    assert [a["number"] for a in body["attempts"]] == [1]
    assert body["attempts"][0]["end_reason"] == "callee_hangup"
    link = urlsplit(body["recording_url"])
    assert link.path == f"/v1/recordings/{call_id}"
    assert {"expires", "signature"} <= set(parse_qs(link.query))
    assert body["callback_delivered"] is False and body["error"] is None


async def test_a_call_without_recording_has_a_null_recording_url(
    client: httpx.AsyncClient, ready: Ready
) -> None:
    call_id = await _create(client, ready)
    body = (await client.get(f"/v1/calls/{call_id}", headers=ready.tenant.headers)).json()
    assert body["recording_url"] is None and body["attempts"] == [] and body["cost"] is None


async def test_other_organizations_calls_are_404_everywhere(
    client: httpx.AsyncClient, ready: Ready, seed: Seed
) -> None:
    call_id = await _create(client, ready)
    other = await seed.tenant("globex")

    assert_error(await client.get(f"/v1/calls/{call_id}", headers=other.headers), 404, "not_found")
    assert_error(await client.post(f"/v1/calls/{call_id}/cancel", headers=other.headers), 404, "not_found")
    listed = (await client.get("/v1/calls", headers=other.headers)).json()
    assert listed["data"] == [] and listed["pagination"]["total"] == 0
    assert_error(await client.get("/v1/calls/does-not-exist", headers=ready.tenant.headers), 404, "not_found")


async def test_a_key_scoped_to_an_agent_sees_only_that_agents_calls(
    client: httpx.AsyncClient, ready: Ready, seed: Seed
) -> None:
    other_agent = await seed.agent(ready.tenant.org_id, "Other")
    mine = await _create(client, ready)
    theirs = await _create(client, ready, agent_id=other_agent, from_number=ready.number)
    scoped = await seed.tenant("acme", agent_id=ready.agent_id)

    listed = (await client.get("/v1/calls", headers=scoped.headers)).json()
    assert [c["id"] for c in listed["data"]] == [mine]
    filtered = (await client.get(f"/v1/calls?agent_id={other_agent}", headers=scoped.headers)).json()
    assert filtered["data"] == []
    assert (await client.get(f"/v1/calls/{mine}", headers=scoped.headers)).status_code == 200
    assert_error(await client.get(f"/v1/calls/{theirs}", headers=scoped.headers), 404, "not_found")
    assert_error(await client.post(f"/v1/calls/{theirs}/cancel", headers=scoped.headers), 404, "not_found")


async def test_list_is_newest_first_and_paginates(client: httpx.AsyncClient, ready: Ready) -> None:
    ids = [await _create(client, ready) for _ in range(5)]
    h = ready.tenant.headers

    first = (await client.get("/v1/calls?limit=2", headers=h)).json()
    second = (await client.get("/v1/calls?limit=2&page=2", headers=h)).json()
    last = (await client.get("/v1/calls?limit=2&page=3", headers=h)).json()
    beyond = (await client.get("/v1/calls?limit=2&page=4", headers=h)).json()

    seen = [c["id"] for page in (first, second, last) for c in page["data"]]
    assert seen == ids[::-1]
    assert first["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 5,
        "totalPages": 3,
        "hasNext": True,
        "hasPrev": False,
    }
    assert second["pagination"] == {
        "page": 2,
        "limit": 2,
        "total": 5,
        "totalPages": 3,
        "hasNext": True,
        "hasPrev": True,
    }
    assert last["pagination"] == {
        "page": 3,
        "limit": 2,
        "total": 5,
        "totalPages": 3,
        "hasNext": False,
        "hasPrev": True,
    }
    assert beyond["data"] == [] and beyond["pagination"]["total"] == 5 and not beyond["pagination"]["hasNext"]
    default = (await client.get("/v1/calls", headers=h)).json()
    assert default["pagination"]["limit"] == 50 and default["pagination"]["totalPages"] == 1


async def test_list_refuses_bad_parameters(client: httpx.AsyncClient, ready: Ready) -> None:
    for query in ("limit=0", "limit=101", "page=0", "status=ringing_loudly", "created_after=yesterday"):
        r = await client.get(f"/v1/calls?{query}", headers=ready.tenant.headers)
        assert r.status_code == 400, query
        assert_error(r, 400, "invalid_request")


async def test_list_filters(client: httpx.AsyncClient, ready: Ready, seed: Seed, db: Database) -> None:
    other_agent = await seed.agent(ready.tenant.org_id, "Other")
    a = await _create(client, ready)
    b = await _create(client, ready, to_number=OTHER_CALLEE)
    c = await _create(client, ready, agent_id=other_agent, from_number=ready.number)
    await _move(db, a, *COMPLETED)
    h = ready.tenant.headers

    async def ids(query: str) -> list[str]:
        r = await client.get(f"/v1/calls?{query}", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["pagination"]["total"] == len(r.json()["data"])
        return [x["id"] for x in r.json()["data"]]

    assert await ids("status=completed") == [a]
    assert await ids("status=queued") == [c, b]
    assert await ids(f"agent_id={other_agent}") == [c]
    assert await ids(f"to_number=%2B{OTHER_CALLEE[1:]}") == [b]
    assert await ids(f"agent_id={ready.agent_id}&status=queued") == [b]
    assert_error(
        await client.get("/v1/calls?to_number=0044", headers=h), 400, "invalid_phone_number", "to_number"
    )

    async with db.session() as s:
        created = {x.id: x.created_at for x in (await s.execute(select(Call))).scalars()}
    mid = created[b].isoformat().replace("+00:00", "Z")
    assert await ids(f"created_after={mid}") == [c]
    assert await ids(f"created_before={mid}") == [a]
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")  # no offset: UTC
    assert await ids(f"created_before={later}") == [c, b, a]


async def test_totals_past_the_exact_limit_stay_consistent(
    client: httpx.AsyncClient, ready: Ready, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repository, "EXACT_COUNT_LIMIT", 3)
    monkeypatch.setattr(repository, "_estimates", {})
    for _ in range(6):
        await _create(client, ready)

    r = await client.get("/v1/calls?limit=2&page=2", headers=ready.tenant.headers)

    page = r.json()["pagination"]
    assert len(r.json()["data"]) == 2 and page["hasNext"] is True and page["hasPrev"] is True
    if db.is_sqlite:  # SQLite counts exactly past the limit
        assert "X-Total-Estimated" not in r.headers
        assert (page["total"], page["totalPages"]) == (6, 3)
    else:  # PostgreSQL: the planner's estimate, never below the limit nor contradicting hasNext
        assert r.headers["X-Total-Estimated"] == "true"
        assert page["total"] >= 4 and page["totalPages"] >= 3
    small = await client.get("/v1/calls?limit=2&status=completed", headers=ready.tenant.headers)
    assert "X-Total-Estimated" not in small.headers and small.json()["pagination"]["total"] == 0


async def test_cancel_a_pending_call(client: httpx.AsyncClient, ready: Ready, db: Database) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for pending, scheduled_at in (("queued", None), ("scheduled", later)):
        call_id = await _create(client, ready, scheduled_at=scheduled_at)

        r = await client.post(f"/v1/calls/{call_id}/cancel", headers=ready.tenant.headers)

        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["end_reason"]) == ("canceled", "canceled"), pending
        assert body["ended_at"] is not None
        events = await events_of(db, call_id)
        assert [(e.type, e.from_status, e.status, e.end_reason) for e in events] == [
            ("call.queued", None, pending, None),
            ("call.ended", pending, "canceled", "canceled"),
        ]
        again = await client.post(f"/v1/calls/{call_id}/cancel", headers=ready.tenant.headers)
        assert_error(again, 409, "call_not_cancelable", "id")


async def test_cancel_a_live_call_asks_its_worker(
    client: httpx.AsyncClient, ready: Ready, db: Database
) -> None:
    call_id = await _create(client, ready)
    await _move(db, call_id, *ANSWERED)

    r = await client.post(f"/v1/calls/{call_id}/cancel", headers=ready.tenant.headers)

    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"  # until the worker hangs up
    async with db.session() as s:
        assert await s.get(CancelRequest, call_id) is not None


ENDINGS: dict[str, tuple[tuple[CallStatus, EndReason | None], ...]] = {
    "completed": COMPLETED,
    "no_answer": ((CallStatus.DIALING, None), (CallStatus.NO_ANSWER, EndReason.NO_ANSWER)),
    "busy": ((CallStatus.DIALING, None), (CallStatus.BUSY, EndReason.BUSY)),
    "failed": ((CallStatus.FAILED, EndReason.TRUNK_ERROR),),
}


async def test_cancel_is_409_once_terminal(client: httpx.AsyncClient, ready: Ready, db: Database) -> None:
    for status, steps in ENDINGS.items():
        call_id = await _create(client, ready)
        await _move(db, call_id, *steps)

        r = await client.post(f"/v1/calls/{call_id}/cancel", headers=ready.tenant.headers)

        assert_error(r, 409, "call_not_cancelable", "id")
        got = await client.get(f"/v1/calls/{call_id}", headers=ready.tenant.headers)
        assert got.json()["status"] == status
        assert len(await events_of(db, call_id)) == 1 + len(steps)  # cancel wrote nothing
