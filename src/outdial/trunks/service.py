"""SIP trunks: the organization's carriers. Reachability (verify-voip) is checked per phone number."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.errors import ApiError, bad_request, not_found
from outdial.api.pagination import PageParams, Pagination, paginate
from outdial.store.models import SipTrunk
from outdial.store.types import utcnow
from outdial.trunks import repository
from outdial.trunks.schemas import TrunkCreate, TrunkOut

_NOT_NULL = ("address", "transport", "media_encryption")
# A number verified through the old route may not be reachable through the new one.
_ROUTE_FIELDS = ("address", "transport")


def to_out(trunk: SipTrunk) -> TrunkOut:
    return TrunkOut(
        id=trunk.id,
        name=trunk.name,
        address=trunk.address,
        transport=trunk.transport,  # type: ignore[arg-type]
        username=trunk.username,
        has_password=bool(trunk.password),
        media_encryption=trunk.media_encryption,  # type: ignore[arg-type]
        max_concurrent_calls=trunk.max_concurrent_calls,
        calls_per_second=trunk.calls_per_second,
        created_at=trunk.created_at,
        updated_at=trunk.updated_at,
    )


async def get_trunk(
    session: AsyncSession, org_id: str, trunk_id: str, *, param: str | None = None
) -> SipTrunk:
    """The org's trunk or 404; ``param`` names the request field when the id came from a body."""
    trunk = await repository.get(session, org_id, trunk_id)
    if trunk is None:
        if param is not None:
            raise not_found("SIP trunk", code="trunk_not_found", param=param)
        raise not_found("SIP trunk")
    return trunk


async def create_trunk(session: AsyncSession, org_id: str, body: TrunkCreate) -> SipTrunk:
    trunk = SipTrunk(org_id=org_id, **body.model_dump())
    session.add(trunk)
    await session.flush()
    return trunk


async def update_trunk(session: AsyncSession, trunk: SipTrunk, changes: dict[str, Any]) -> SipTrunk:
    for name in _NOT_NULL:
        if name in changes and changes[name] is None:
            raise bad_request(f"{name} cannot be null.", param=name)
    route_changed = any(name in changes and changes[name] != getattr(trunk, name) for name in _ROUTE_FIELDS)
    for name, value in changes.items():
        setattr(trunk, name, value)
    trunk.updated_at = utcnow()
    if route_changed:
        await repository.unverify_numbers(session, trunk.org_id, trunk.id)
    await session.flush()
    return trunk


async def delete_trunk(session: AsyncSession, trunk: SipTrunk) -> None:
    in_use = await repository.numbers_using(session, trunk.org_id, trunk.id)
    if in_use:
        raise ApiError(
            409,
            "trunk_in_use",
            f"{in_use} phone number(s) use this trunk; move or delete them first.",
            "trunk_id",
        )
    await session.delete(trunk)
    await session.flush()


async def list_trunks(
    session: AsyncSession, org_id: str, params: PageParams
) -> tuple[list[TrunkOut], Pagination]:
    rows, pagination = await paginate(session, repository.list_query(org_id), params)
    return [to_out(t) for t in rows], pagination
