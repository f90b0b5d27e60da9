"""Agent queries, always filtered on the organization."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.orgs.access import org_row
from outdial.store.models import Agent, PhoneNumber


async def get(session: AsyncSession, org_id: str, agent_id: str) -> Agent | None:
    return await org_row(session, Agent, org_id, agent_id)


def list_query(org_id: str, *, only_id: str | None = None, published: bool | None = None) -> Select[Any]:
    query = select(Agent).where(Agent.org_id == org_id)
    if only_id is not None:
        query = query.where(Agent.id == only_id)
    if published is not None:
        query = query.where(Agent.published == published)
    return query.order_by(Agent.created_at.desc(), Agent.id.desc())


async def outbound_numbers(session: AsyncSession, org_id: str, agent_ids: Sequence[str]) -> dict[str, str]:
    """agent id -> id of its outbound phone number (the oldest active one when several point at it)."""
    if not agent_ids:
        return {}
    query = (
        select(PhoneNumber.outbound_agent_id, PhoneNumber.id)
        .where(
            PhoneNumber.org_id == org_id,
            PhoneNumber.outbound_agent_id.in_(list(agent_ids)),
            PhoneNumber.active.is_(True),
        )
        .order_by(PhoneNumber.created_at, PhoneNumber.id)
    )
    found: dict[str, str] = {}
    for agent_id, number_id in (await session.execute(query)).all():
        if agent_id is not None:
            found.setdefault(agent_id, number_id)
    return found
