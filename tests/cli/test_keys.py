"""``outdial keys create|list|revoke`` against a real database in a data dir."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outdial.api.auth import authenticate
from outdial.cli import _register, app
from outdial.store.db import Database
from outdial.store.models import Agent, Organization

_register()
runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("OUTDIAL_DATABASE_URL", raising=False)
    return {"OUTDIAL_DATA_DIR": str(tmp_path / "data")}


def _url(env: dict[str, str]) -> str:
    return f"sqlite+aiosqlite:///{Path(env['OUTDIAL_DATA_DIR']).resolve() / 'outdial.db'}"


def _create(env: dict[str, str], *args: str) -> dict[str, str]:
    result = runner.invoke(app, ["keys", "create", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


async def _principal(url: str, secret: str) -> tuple[str, str | None] | None:
    db = Database(url)
    try:
        async with db.session() as s:
            p = await authenticate(s, secret)
            return (p.org_id, p.agent_id) if p else None
    finally:
        await db.dispose()


async def _add_agent(url: str, org_id: str) -> str:
    db = Database(url)
    try:
        async with db.transaction() as s:
            agent = Agent(org_id=org_id, name="a", published=True, config={})
            s.add(agent)
            await s.flush()
            return agent.id
    finally:
        await db.dispose()


async def _org_count(url: str) -> int:
    from sqlalchemy import func, select

    db = Database(url)
    try:
        async with db.session() as s:
            return int((await s.execute(select(func.count()).select_from(Organization))).scalar_one())
    finally:
        await db.dispose()


def test_create_makes_the_org_once_and_prints_a_working_key(env: dict[str, str]) -> None:
    first = _create(env, "--org", "acme")
    second = _create(env, "--org", "acme")
    assert set(first) == {"org_id", "key_id", "api_key"}
    assert first["org_id"] == second["org_id"] and first["key_id"] != second["key_id"]
    assert first["api_key"].startswith("od_")
    assert asyncio.run(_principal(_url(env), first["api_key"])) == (first["org_id"], None)
    assert asyncio.run(_org_count(_url(env))) == 1


def test_agent_scope_must_be_an_agent_of_that_org(env: dict[str, str]) -> None:
    acme = _create(env, "--org", "acme")
    other = _create(env, "--org", "globex")
    agent_id = asyncio.run(_add_agent(_url(env), acme["org_id"]))
    scoped = _create(env, "--org", "acme", "--agent", agent_id)
    assert asyncio.run(_principal(_url(env), scoped["api_key"])) == (acme["org_id"], agent_id)

    refused = runner.invoke(
        app, ["keys", "create", "--org", "globex", "--agent", agent_id, "--json"], env=env
    )
    assert refused.exit_code == 2 and "has no agent" in refused.output
    assert other["org_id"] != acme["org_id"]


def test_unknown_agent_creates_no_organization(env: dict[str, str]) -> None:
    refused = runner.invoke(app, ["keys", "create", "--org", "new", "--agent", "nope", "--json"], env=env)
    assert refused.exit_code == 2
    _create(env, "--org", "acme")
    assert asyncio.run(_org_count(_url(env))) == 1


def test_list_shows_prefixes_never_secrets_and_revoke_disables_the_key(env: dict[str, str]) -> None:
    issued = _create(env, "--org", "acme")
    listed = runner.invoke(app, ["keys", "list", "--org", "acme", "--json"], env=env)
    assert listed.exit_code == 0
    keys = json.loads(listed.stdout)
    assert [k["key_id"] for k in keys] == [issued["key_id"]]
    assert issued["api_key"] not in listed.stdout and issued["api_key"].startswith(keys[0]["prefix"])

    assert runner.invoke(app, ["keys", "revoke", issued["key_id"]], env=env).exit_code == 0
    assert asyncio.run(_principal(_url(env), issued["api_key"])) is None
    again = runner.invoke(app, ["keys", "revoke", issued["key_id"]], env=env)
    assert again.exit_code == 2


def test_migrate_creates_the_database(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["migrate"], env=env)
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stdout
    assert (Path(env["OUTDIAL_DATA_DIR"]) / "outdial.db").exists()
