"""SIP trunk queries, always filtered on the organization."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.orgs.access import org_row
from outdial.store.models import PhoneNumber, SipTrunk


async def get(session: AsyncSession, org_id: str, trunk_id: str) -> SipTrunk | None:
    return await org_row(session, SipTrunk, org_id, trunk_id)


def list_query(org_id: str) -> Select[Any]:
    return (
        select(SipTrunk)
        .where(SipTrunk.org_id == org_id)
        .order_by(SipTrunk.created_at.desc(), SipTrunk.id.desc())
    )


async def numbers_using(session: AsyncSession, org_id: str, trunk_id: str) -> int:
    query = select(func.count()).where(PhoneNumber.org_id == org_id, PhoneNumber.trunk_id == trunk_id)
    return int((await session.execute(query)).scalar_one())


async def unverify_numbers(session: AsyncSession, org_id: str, trunk_id: str) -> None:
    await session.execute(
        update(PhoneNumber)
        .where(PhoneNumber.org_id == org_id, PhoneNumber.trunk_id == trunk_id)
        .values(verified=False, verified_at=None)
    )
