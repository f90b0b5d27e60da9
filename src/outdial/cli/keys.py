"""``outdial keys create | list | revoke``: API keys, shown once and stored hashed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from sqlalchemy import select, update

from outdial.api.auth import IssuedKey, get_or_create_org, issue_key
from outdial.cli import app
from outdial.config import Settings
from outdial.store.migrate import migrated
from outdial.store.models import Agent, ApiKey, Organization
from outdial.store.types import utcnow

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


class KeyError_(Exception):
    """A request the operator must fix (unknown agent or key)."""


async def create_key(
    settings: Settings, org: str, agent_id: str | None = None, name: str | None = None
) -> IssuedKey:
    """Create ``org`` if needed and issue a key for it, optionally scoped to one of its agents."""
    async with migrated(settings) as db, db.transaction() as s:
        organization = await get_or_create_org(s, org)
        if agent_id is not None:
            found = await s.execute(
                select(Agent.id).where(Agent.org_id == organization.id, Agent.id == agent_id)
            )
            if found.scalar_one_or_none() is None:
                raise KeyError_(f"organization {org!r} has no agent {agent_id!r}")
        return await issue_key(s, organization.id, agent_id=agent_id, name=name)


async def _list(settings: Settings, org: str) -> list[dict[str, Any]]:
    async with migrated(settings) as db, db.session() as s:
        rows = await s.execute(
            select(ApiKey)
            .join(Organization, Organization.id == ApiKey.org_id)
            .where(Organization.name == org)
            .order_by(ApiKey.created_at)
        )
        return [
            {
                "key_id": k.id,
                "prefix": k.prefix,
                "agent_id": k.agent_id,
                "name": k.name,
                "created_at": k.created_at.isoformat(),
                "last_used_at": k.last_used_at.isoformat() if k.last_used_at else None,
                "revoked": k.revoked_at is not None,
            }
            for k in rows.scalars()
        ]


async def revoke_key(settings: Settings, key_id: str) -> None:
    async with migrated(settings) as db, db.transaction() as s:
        result = await s.execute(
            update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise KeyError_(f"no active key {key_id!r}")


@keys_app.command("create")
def create(
    org: str = typer.Option(..., "--org", help="Organization name (created if it does not exist)."),
    agent: str | None = typer.Option(
        None, "--agent", help="Scope the key to this agent of the organization."
    ),
    name: str | None = typer.Option(None, "--name", help="A label to recognise the key by."),
    as_json: bool = typer.Option(False, "--json", help='Print {"org_id", "key_id", "api_key"} as JSON.'),
) -> None:
    """Create an API key. The secret is printed once and never stored in clear."""
    try:
        issued = asyncio.run(create_key(Settings(), org, agent, name))
    except KeyError_ as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps({"org_id": issued.org_id, "key_id": issued.key_id, "api_key": issued.api_key}))
        return
    typer.echo(f"organization: {org} ({issued.org_id})")
    typer.echo(f"key id:       {issued.key_id}")
    typer.echo(f"api key:      {issued.api_key}")
    typer.echo("Store the key now: it is not shown again.")


@keys_app.command("list")
def list_keys(
    org: str = typer.Option(..., "--org", help="Organization name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List an organization's keys (ids and prefixes, never secrets)."""
    keys = asyncio.run(_list(Settings(), org))
    if as_json:
        typer.echo(json.dumps(keys))
        return
    for k in keys:
        scope = f"agent {k['agent_id']}" if k["agent_id"] else "organization"
        state = "revoked" if k["revoked"] else "active"
        typer.echo(f"{k['key_id']}  {k['prefix']}…  {scope}  {state}  created {k['created_at']}")


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key id (key_...).")) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    try:
        asyncio.run(revoke_key(Settings(), key_id))
    except KeyError_ as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked {key_id}")
