"""The fast path of ``POST /v1/calls`` answers every request exactly as FastAPI's route does.

Each request below goes to two apps on the same database: the real one (fast path in front) and one
without the fast path. Statuses, error envelopes and headers must be identical; created calls
identical but for their ids and times. A counter on the route shows which requests the fast path
served itself (well-formed ones, and the service's own refusals) and which it handed on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import Scope, Send

from outdial.api.app import create_app
from outdial.calls.fastpath import CreateCallFastPath
from outdial.config import Settings
from outdial.store.db import Database
from tests.api.conftest import Ready, Seed

VOLATILE = {"id", "room_name", "created_at"}


class Served:
    """Records whether the fast path answered each request itself (True) or handed it on (False)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: list[bool] = []
        serve = CreateCallFastPath._serve

        async def recorded(path: CreateCallFastPath, scope: Scope, body: bytes, send: Send) -> bool:
            self.answers.append(await serve(path, scope, body, send))
            return self.answers[-1]

        monkeypatch.setattr(CreateCallFastPath, "_serve", recorded)


Pair = tuple[httpx.AsyncClient, httpx.AsyncClient, Served]


@pytest.fixture
async def pair(settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Pair]:
    served = Served(monkeypatch)
    fast, plain = (
        create_app(settings, db, migrate=False),
        create_app(settings, db, migrate=False, fast_path=False),
    )
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://outdial.test") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url="http://outdial.test") as b,
    ):
        yield a, b, served


def comparable(response: httpx.Response) -> tuple[int, list[tuple[str, str]], Any]:
    """Status, headers and body; the body byte for byte, but a created call's ids and time."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k != "content-length"]
    if response.status_code != 202:
        return response.status_code, headers, response.content
    body = response.json()
    assert VOLATILE <= body.keys()
    return response.status_code, headers, {k: v for k, v in body.items() if k not in VOLATILE}


async def same_answer(pair: Pair, *, served: bool, **request: Any) -> httpx.Response:
    fast, plain, recorded = pair
    a = await fast.post("/v1/calls", **request)
    b = await plain.post("/v1/calls", **request)
    assert comparable(a) == comparable(b), (a.text, b.text)
    assert recorded.answers[-1] is served, (
        f"expected {'the fast path' if served else 'the route'} to answer {a.text}"
    )
    return a


async def test_well_formed_requests_are_served_by_the_fast_path_as_by_the_route(
    pair: Pair, ready: Ready
) -> None:
    auth = ready.tenant.headers
    body = {"agent_id": ready.agent_id, "to_number": "+18135551234", "metadata": {"crm": "ü", "n": [1, 2.5]}}
    created = await same_answer(pair, served=True, json=body, headers=auth)
    assert created.status_code == 202 and created.json()["status"] == "queued"
    await same_answer(
        pair,
        served=True,
        content=b'{"agent_id": "%s", "to_number": "8135551234", "country_code": "US"}'
        % ready.agent_id.encode(),
        headers={**auth, "Content-Type": "application/json; charset=utf-8"},
    )
    await same_answer(
        pair,
        served=True,
        json={**body, "scheduled_at": "2099-01-01T09:00:00+00:00"},
        headers={**auth, "authorization": "bearer " + ready.tenant.api_key},
    )


async def test_idempotent_replays_and_conflicts_answer_alike(pair: Pair, ready: Ready) -> None:
    fast, plain, _ = pair
    body = {"agent_id": ready.agent_id, "to_number": "+18135551234"}
    for client, key in ((fast, "k-fast"), (plain, "k-plain")):
        headers = {**ready.tenant.headers, "Idempotency-Key": key}
        first = await client.post("/v1/calls", json=body, headers=headers)
        again = await client.post("/v1/calls", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (202, 202)
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        conflict = await client.post("/v1/calls", json={**body, "to_number": "+18135550000"}, headers=headers)
        assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"


async def test_the_services_refusals_are_the_same_envelopes(pair: Pair, ready: Ready, seed: Seed) -> None:
    auth = ready.tenant.headers
    await same_answer(
        pair, served=True, json={"agent_id": "agt_nope", "to_number": "+18135551234"}, headers=auth
    )
    await same_answer(
        pair, served=True, json={"agent_id": ready.agent_id, "to_number": "+1813"}, headers=auth
    )
    await same_answer(
        pair,
        served=True,
        json={"agent_id": ready.agent_id, "to_number": "+18135551234", "from_number": "+14155550199"},
        headers=auth,
    )
    await same_answer(
        pair,
        served=True,
        json={"agent_id": ready.agent_id, "to_number": "+18135551234", "callback_url": "http://x.test/h"},
        headers=auth,
    )
    scoped = await seed.tenant("acme", agent_id=ready.agent_id)
    other = await seed.agent(ready.tenant.org_id, "Other")
    await same_answer(
        pair, served=True, json={"agent_id": other, "to_number": "+18135551234"}, headers=scoped.headers
    )


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"agent_id": "a", "to_number": ', {}),  # not JSON
        (b'{"agent_id": "AGENT", "to_number": "+18135551234"}', {"Content-Type": None}),  # no type: bytes
        (b"", {}),  # no body
        (b"[]", {}),
        (b"null", {}),
        (b'{"to_number": "+18135551234", "surprise": 1}', {}),  # an unknown field
        (b'{"agent_id": "AGENT", "to_number": "+18135551234"}', {"Content-Type": "text/plain"}),
        (b'{"agent_id": "AGENT", "to_number": "+18135551234"}', {"Idempotency-Key": "k" * 256}),
        (b'{"agent_id": "AGENT", "to_number": "+18135551234", "call_context": "%s"}' % (b"x" * 4001), {}),
    ],
)
async def test_requests_the_route_judges_are_handed_on_with_their_body(
    pair: Pair, ready: Ready, content: bytes, headers: dict[str, str | None]
) -> None:
    content = content.replace(b"AGENT", ready.agent_id.encode())
    sent = {"Content-Type": "application/json", **ready.tenant.headers, **headers}
    headers = {k: v for k, v in sent.items() if v is not None}
    answer = await same_answer(pair, served=False, content=content, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"]["code"]


@pytest.mark.parametrize("authorization", [None, "Bearer od_not_a_key", "Basic dXNlcjpwYXNz", "Bearer"])
async def test_requests_without_a_valid_key_are_handed_on(
    pair: Pair, ready: Ready, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {"agent_id": ready.agent_id, "to_number": "+18135551234"}
    answer = await same_answer(pair, served=False, json=body, headers=headers)
    assert answer.status_code == 401


async def test_other_methods_and_paths_are_not_touched(pair: Pair, ready: Ready) -> None:
    fast, _, recorded = pair
    assert (await fast.get("/v1/calls", headers=ready.tenant.headers)).status_code == 200
    moved = await fast.post("/v1/calls/", json={}, headers=ready.tenant.headers)
    assert moved.status_code == 307 and recorded.answers == []  # FastAPI's own redirect, as before
