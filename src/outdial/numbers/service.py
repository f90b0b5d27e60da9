"""Phone numbers: the caller IDs an organization calls from, each routed through one of its trunks.

Whether a number may place a call is decided where calls are created (``outdial.calls.draft``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.agents import repository as agents_repository
from outdial.api.errors import ApiError, bad_request, not_found
from outdial.api.pagination import PageParams, Pagination, paginate
from outdial.numbers import repository
from outdial.numbers.schemas import NumberCreate, NumberOut
from outdial.store.models import PhoneNumber
from outdial.trunks.service import get_trunk


def to_out(row: PhoneNumber) -> NumberOut:
    return NumberOut.model_validate(row)


def _exists(number: str) -> ApiError:
    return ApiError(409, "phone_number_exists", f"{number} is already one of your phone numbers.", "number")


async def get_number(session: AsyncSession, org_id: str, number_id: str) -> PhoneNumber:
    row = await repository.get(session, org_id, number_id)
    if row is None:
        raise not_found("phone number")
    return row


async def _check_links(session: AsyncSession, org_id: str, kind: str, fields: dict[str, Any]) -> None:
    """trunk_id and outbound_agent_id must name the org's own objects; voip needs a trunk."""
    trunk_id = fields.get("trunk_id")
    if kind == "voip" and trunk_id is None:
        raise bad_request("A voip number needs trunk_id: the SIP trunk its calls go out through.", "trunk_id")
    if trunk_id is not None:
        await get_trunk(session, org_id, trunk_id, param="trunk_id")
    agent_id = fields.get("outbound_agent_id")
    if agent_id is not None and await agents_repository.get(session, org_id, agent_id) is None:
        raise not_found("agent", code="agent_not_found", param="outbound_agent_id")


async def create_number(session: AsyncSession, org_id: str, body: NumberCreate) -> PhoneNumber:
    fields = body.model_dump()
    await _check_links(session, org_id, body.kind, fields)
    if await repository.by_number(session, org_id, body.number) is not None:
        raise _exists(body.number)
    row = PhoneNumber(org_id=org_id, verified=False, **fields)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent insert of the same number won the race
        await session.rollback()
        raise _exists(body.number) from None
    return row


async def update_number(session: AsyncSession, row: PhoneNumber, changes: dict[str, Any]) -> PhoneNumber:
    for name in ("kind", "active"):
        if name in changes and changes[name] is None:
            raise bad_request(f"{name} cannot be null.", param=name)
    merged = {
        "trunk_id": changes.get("trunk_id", row.trunk_id),
        "outbound_agent_id": changes.get("outbound_agent_id", row.outbound_agent_id),
    }
    await _check_links(session, row.org_id, changes.get("kind", row.kind), merged)
    if "trunk_id" in changes and changes["trunk_id"] != row.trunk_id:
        row.verified, row.verified_at = False, None
    for name, value in changes.items():
        setattr(row, name, value)
    await session.flush()
    return row


async def delete_number(session: AsyncSession, row: PhoneNumber) -> None:
    await session.delete(row)
    await session.flush()


async def list_numbers(
    session: AsyncSession,
    org_id: str,
    params: PageParams,
    *,
    kind: str | None = None,
    number: str | None = None,
    active: bool | None = None,
) -> tuple[list[NumberOut], Pagination]:
    query = repository.list_query(org_id, kind=kind, number=number, active=active)
    rows, pagination = await paginate(session, query, params)
    return [to_out(r) for r in rows], pagination
