"""``/v1/sip-trunks``: thin routes onto :mod:`outdial.trunks.service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response

from outdial.api.deps import PrincipalDep, SessionDep
from outdial.api.errors import ERROR_RESPONSES, ErrorEnvelope
from outdial.api.pagination import Page, PageParams, page_params
from outdial.orgs.access import ORG_KEY_REQUIRED, require_org_key
from outdial.trunks import service
from outdial.trunks.schemas import TrunkCreate, TrunkOut, TrunkUpdate

router = APIRouter(prefix="/v1/sip-trunks", tags=["sip-trunks"])

_IN_USE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorEnvelope, "description": "Phone numbers still use the trunk"}
}


@router.post(
    "",
    status_code=201,
    summary="Add a SIP trunk",
    response_model=TrunkOut,
    responses={**ERROR_RESPONSES, **ORG_KEY_REQUIRED},
)
async def create_trunk(
    principal: PrincipalDep, session: SessionDep, body: TrunkCreate = Body(...)
) -> TrunkOut:
    require_org_key(principal)
    trunk = await service.create_trunk(session, principal.org_id, body)
    await session.commit()
    return service.to_out(trunk)


@router.get(
    "",
    summary="List SIP trunks",
    description="Newest first.",
    response_model=Page[TrunkOut],
    responses=ERROR_RESPONSES,
)
async def list_trunks(
    principal: PrincipalDep, session: SessionDep, params: Annotated[PageParams, Depends(page_params)]
) -> Page[TrunkOut]:
    data, pagination = await service.list_trunks(session, principal.org_id, params)
    return Page[TrunkOut](data=data, pagination=pagination)


@router.get("/{trunk_id}", summary="Get a SIP trunk", response_model=TrunkOut, responses=ERROR_RESPONSES)
async def get_trunk(trunk_id: str, principal: PrincipalDep, session: SessionDep) -> TrunkOut:
    return service.to_out(await service.get_trunk(session, principal.org_id, trunk_id))


@router.patch(
    "/{trunk_id}",
    summary="Update a SIP trunk",
    description="Only the fields sent change. A new address or transport clears `verified` on the "
    "trunk's phone numbers (verify them again).",
    response_model=TrunkOut,
    responses={**ERROR_RESPONSES, **ORG_KEY_REQUIRED},
)
async def update_trunk(
    trunk_id: str, principal: PrincipalDep, session: SessionDep, body: TrunkUpdate = Body(...)
) -> TrunkOut:
    trunk = await service.get_trunk(session, principal.org_id, trunk_id)
    require_org_key(principal)
    await service.update_trunk(session, trunk, body.model_dump(exclude_unset=True))
    await session.commit()
    return service.to_out(trunk)


@router.delete(
    "/{trunk_id}",
    status_code=204,
    summary="Delete a SIP trunk",
    description="Refused (409 `trunk_in_use`) while phone numbers use it.",
    response_class=Response,
    responses={**ERROR_RESPONSES, **ORG_KEY_REQUIRED, **_IN_USE},
)
async def delete_trunk(trunk_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    trunk = await service.get_trunk(session, principal.org_id, trunk_id)
    require_org_key(principal)
    await service.delete_trunk(session, trunk)
    await session.commit()
    return Response(status_code=204)
