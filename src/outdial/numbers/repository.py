"""Phone number queries, always filtered on the organization."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.orgs.access import org_row
from outdial.store.models import PhoneNumber


async def get(session: AsyncSession, org_id: str, number_id: str) -> PhoneNumber | None:
    return await org_row(session, PhoneNumber, org_id, number_id)


async def by_number(session: AsyncSession, org_id: str, e164: str) -> PhoneNumber | None:
    query = select(PhoneNumber).where(PhoneNumber.org_id == org_id, PhoneNumber.number == e164)
    return (await session.execute(query)).scalar_one_or_none()


def list_query(
    org_id: str, *, kind: str | None = None, number: str | None = None, active: bool | None = None
) -> Select[Any]:
    query = select(PhoneNumber).where(PhoneNumber.org_id == org_id)
    if kind is not None:
        query = query.where(PhoneNumber.kind == kind)
    if number is not None:
        query = query.where(PhoneNumber.number == number)
    if active is not None:
        query = query.where(PhoneNumber.active == active)
    return query.order_by(PhoneNumber.created_at.desc(), PhoneNumber.id.desc())


async def outbound_for_agent(session: AsyncSession, org_id: str, agent_id: str) -> PhoneNumber | None:
    query = (
        select(PhoneNumber)
        .where(
            PhoneNumber.org_id == org_id,
            PhoneNumber.outbound_agent_id == agent_id,
            PhoneNumber.active.is_(True),
        )
        .order_by(PhoneNumber.created_at, PhoneNumber.id)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()
