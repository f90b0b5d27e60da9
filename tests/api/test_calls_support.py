"""Helpers shared by the calls tests (no tests here): post a call, check an error envelope, read rows."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from outdial.store.db import Database
from outdial.store.models import Call, CallEvent
from tests.api.conftest import Ready

CALLEE = "+18135551234"


async def post_call(
    client: httpx.AsyncClient, ready: Ready, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    """POST /v1/calls with the ready agent and a valid callee unless ``body`` overrides them."""
    payload: dict[str, Any] = {"agent_id": ready.agent_id, "to_number": CALLEE, **body}
    payload = {k: v for k, v in payload.items() if v is not _DROP}
    return await client.post("/v1/calls", json=payload, headers={**ready.tenant.headers, **(headers or {})})


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


_DROP: Any = _Drop()
DROP: Any = _DROP  # pass as a field value to leave that field out of the body


def assert_error(response: httpx.Response, status: int, code: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, response.text
    assert error["message"]
    if param is not None:
        assert error["param"] == param, response.text


async def stored_call(db: Database, call_id: str) -> Call:
    async with db.session() as s:
        return (await s.execute(select(Call).where(Call.id == call_id))).scalar_one()


async def events_of(db: Database, call_id: str) -> list[CallEvent]:
    async with db.session() as s:
        rows = await s.execute(select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id))
        return list(rows.scalars())


async def count_calls(db: Database, org_id: str) -> int:
    async with db.session() as s:
        return len((await s.execute(select(Call.id).where(Call.org_id == org_id))).all())
