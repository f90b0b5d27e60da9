"""Agents: create, read, update, delete within one organization, and their resolved config.

The stored ``config`` JSON holds every field but ``name`` and ``published`` (columns), defaults filled
in at write time. Reads re-resolve it through :class:`AgentConfig`, so a default added later applies.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.agent.settings import AgentConfig, AgentConfigError, validate_agent_config
from outdial.agents import repository
from outdial.agents.schemas import AgentOut
from outdial.api.auth import Principal
from outdial.api.errors import ApiError, bad_request, not_found
from outdial.api.pagination import PageParams, Pagination, paginate
from outdial.orgs.access import agent_visible
from outdial.store.models import Agent, ApiKey
from outdial.store.types import utcnow

_SECRET_HOLDERS = ("brain", "stt", "tts", "vad")
_SECRET_FIELD = "api_key"


def agent_not_found() -> ApiError:
    return not_found("agent", code="agent_not_found", param="agent_id")


def resolved_config(agent: Agent) -> AgentConfig:
    """The agent's full configuration (stored fields plus current defaults), secrets in clear.

    Stored fields the runtime no longer knows are dropped rather than failing every read.
    """
    known = AgentConfig.model_fields
    stored = {k: v for k, v in (agent.config or {}).items() if k in known}
    return AgentConfig.model_validate({**stored, "name": agent.name, "published": agent.published})


async def get_agent(session: AsyncSession, principal: Principal, agent_id: str) -> Agent:
    """The agent if the caller's key may use it; else 404 ``agent_not_found`` (other orgs look absent)."""
    agent = await repository.get(session, principal.org_id, agent_id)
    if agent is None or not agent_visible(principal, agent_id):
        raise agent_not_found()
    return agent


def redact(secret: str) -> str:
    return "****" + secret[-4:] if len(secret) > 8 else "****"


def _redacted(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    for holder in _SECRET_HOLDERS:
        sub = out.get(holder)
        if isinstance(sub, dict) and sub.get(_SECRET_FIELD):
            out[holder] = {**sub, _SECRET_FIELD: redact(str(sub[_SECRET_FIELD]))}
    return out


def _keep_secrets(incoming: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """A redacted key sent back unchanged (read, edit, write) keeps the stored secret."""
    out = dict(incoming)
    for holder in _SECRET_HOLDERS:
        new, old = out.get(holder), current.get(holder)
        if not (isinstance(new, dict) and isinstance(old, dict)):
            continue
        secret = old.get(_SECRET_FIELD)
        if secret and new.get(_SECRET_FIELD) == redact(str(secret)):
            out[holder] = {**new, _SECRET_FIELD: secret}
    return out


def to_out(agent: Agent, outbound_number_id: str | None) -> AgentOut:
    config = _redacted(resolved_config(agent).model_dump(mode="json"))
    return AgentOut.model_validate(
        {
            **config,
            "id": agent.id,
            "outbound_phone_number_id": outbound_number_id,
            "created_at": agent.created_at,
            "updated_at": agent.updated_at,
        }
    )


async def out(session: AsyncSession, agent: Agent) -> AgentOut:
    numbers = await repository.outbound_numbers(session, agent.org_id, [agent.id])
    return to_out(agent, numbers.get(agent.id))


def _checked(raw: dict[str, Any]) -> AgentConfig:
    """Parse and check that the providers can run here; any problem is a 400 naming the field."""
    try:
        config = AgentConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first.get("loc", ())) or None
        message = str(first.get("msg", "Invalid agent.")).removeprefix("Value error, ")
        raise bad_request(message, param=param) from exc
    try:
        return validate_agent_config(config)
    except AgentConfigError as exc:
        raise ApiError(400, exc.code, str(exc), exc.param) from exc


def _apply(agent: Agent, config: AgentConfig) -> None:
    data = config.model_dump(mode="json")
    agent.name = data.pop("name")
    agent.published = data.pop("published")
    agent.config = data


async def create_agent(session: AsyncSession, org_id: str, body: AgentConfig) -> Agent:
    config = _checked(body.model_dump(mode="json"))
    agent = Agent(org_id=org_id)
    _apply(agent, config)
    session.add(agent)
    await session.flush()
    return agent


async def update_agent(session: AsyncSession, agent: Agent, changes: dict[str, Any]) -> Agent:
    current = resolved_config(agent).model_dump(mode="json")
    merged = {**current, **_keep_secrets(changes, current)}
    _apply(agent, _checked(merged))
    agent.updated_at = utcnow()
    await session.flush()
    return agent


async def delete_agent(session: AsyncSession, agent: Agent) -> None:
    # Keys scoped to this agent have nothing left to act on: revoke them with it.
    await session.execute(
        update(ApiKey)
        .where(ApiKey.org_id == agent.org_id, ApiKey.agent_id == agent.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.delete(agent)
    await session.flush()


async def list_agents(
    session: AsyncSession, principal: Principal, params: PageParams, published: bool | None
) -> tuple[list[AgentOut], Pagination]:
    query = repository.list_query(principal.org_id, only_id=principal.agent_id, published=published)
    rows, pagination = await paginate(session, query, params)
    numbers = await repository.outbound_numbers(session, principal.org_id, [a.id for a in rows])
    return [to_out(a, numbers.get(a.id)) for a in rows], pagination
