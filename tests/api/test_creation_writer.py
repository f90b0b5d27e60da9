"""SQLite: creations run on one writer thread and share commits; each keeps its own answer."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.errors import ApiError
from outdial.calls.writer import CreationWriter, JobSuspended, writer_for
from outdial.store.db import Database
from outdial.store.models import Organization
from tests.api.conftest import Ready, Seed
from tests.api.test_calls_support import CALLEE, count_calls, events_of, post_call


@pytest.fixture
async def writer(db: Database) -> CreationWriter:
    if not db.is_sqlite:
        pytest.skip("the creation writer serves SQLite databases (PostgreSQL has concurrent writers)")
    async with db.session() as s:
        found = writer_for(s)
    assert found is not None
    return found


async def test_concurrent_creations_share_commits(
    client: httpx.AsyncClient, ready: Ready, db: Database, writer: CreationWriter
) -> None:
    before = writer.stats.batches
    responses = await asyncio.gather(
        *(post_call(client, ready, to_number=f"+1813555{i:04d}", metadata={"i": i}) for i in range(16))
    )

    assert [r.status_code for r in responses] == [202] * 16, [r.text for r in responses]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 16
    assert await count_calls(db, ready.tenant.org_id) == 16
    for i, r in enumerate(responses):
        got = (await client.get(f"/v1/calls/{r.json()['id']}", headers=ready.tenant.headers)).json()
        assert got["to_number"] == f"+1813555{i:04d}" and got["request_metadata"] == {"i": i}
        assert [e.type for e in await events_of(db, got["id"])] == ["call.queued"]
    assert writer.stats.batches - before < 16  # some creations shared a transaction


async def test_a_refused_creation_leaves_the_others_of_its_batch(
    client: httpx.AsyncClient, ready: Ready, db: Database, seed: Seed, writer: CreationWriter
) -> None:
    listed = "+18135559999"
    r = await client.post("/v1/dnc", json={"number": listed}, headers=ready.tenant.headers)
    assert r.status_code in (200, 201), r.text
    bodies: list[dict[str, Any]] = []
    for i in range(12):
        if i % 4 == 1:
            bodies.append({"to_number": listed})  # 403 number_on_dnc_list
        elif i % 4 == 3:
            bodies.append({"agent_id": "no-such-agent"})  # 404 agent_not_found
        else:
            bodies.append({"to_number": f"+1813555{i:04d}"})
    responses = await asyncio.gather(*(post_call(client, ready, **b) for b in bodies))

    codes = [r.status_code for r in responses]
    assert codes == [202, 403, 202, 404] * 3, [r.text for r in responses]
    assert await count_calls(db, ready.tenant.org_id) == 6


def _add_org(name: str) -> Any:
    async def job(session: AsyncSession) -> str:
        connection = await session.connection()
        await connection.execute(insert(Organization.__table__), {"id": name, "name": name, "settings": {}})
        return name

    return job


async def test_each_job_of_a_batch_succeeds_or_fails_alone(db: Database, writer: CreationWriter) -> None:
    async def refused(session: AsyncSession) -> str:
        await _add_org("org-refused")(session)  # its write is rolled back with the refusal
        raise ApiError(403, "forbidden", "no")

    async def suspends(session: AsyncSession) -> str:
        await asyncio.sleep(0)
        return "never"

    jobs = [_add_org("org-a"), refused, _add_org("org-a"), suspends, _add_org("org-b")]
    outcomes = await asyncio.get_running_loop().run_in_executor(None, writer._run_batch, jobs)

    assert [o.ok for o in outcomes] == [True, False, False, False, True]
    assert isinstance(outcomes[1].error, ApiError)
    assert "UNIQUE" in str(outcomes[2].error).upper()  # the same primary key twice: only this job fails
    assert isinstance(outcomes[3].error, JobSuspended)
    async with db.session() as s:
        names = set((await s.execute(select(Organization.id))).scalars())
    assert {"org-a", "org-b"} <= names and "org-refused" not in names


async def test_answers_come_after_the_commit(
    client: httpx.AsyncClient, ready: Ready, db: Database, writer: CreationWriter
) -> None:
    """A 202 means the call is stored: another connection sees it as soon as the answer arrives."""
    r = await post_call(client, ready, to_number=CALLEE)
    assert r.status_code == 202
    other = Database(db.url)
    try:
        assert await count_calls(other, ready.tenant.org_id) == 1
    finally:
        await other.dispose()


async def test_a_batch_reads_its_agent_once_and_later_batches_see_changes(
    client: httpx.AsyncClient, ready: Ready, writer: CreationWriter
) -> None:
    agent_reads: list[str] = []

    def record(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        if "FROM agents" in statement:
            agent_reads.append(statement)

    event.listen(writer._engine, "before_cursor_execute", record)
    try:
        responses = await asyncio.gather(
            *(post_call(client, ready, to_number=f"+1813555{i:04d}") for i in range(12))
        )
    finally:
        event.remove(writer._engine, "before_cursor_execute", record)
    assert [r.status_code for r in responses] == [202] * 12
    assert 1 <= len(agent_reads) < 12  # one read per batch, not per creation

    r = await client.patch(
        f"/v1/agents/{ready.agent_id}", json={"published": False}, headers=ready.tenant.headers
    )
    assert r.status_code == 200, r.text
    refused = await post_call(client, ready, to_number="+18135550042")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "agent_not_published"
