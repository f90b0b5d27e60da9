"""``/v1/phone-numbers``: thin routes onto :mod:`outdial.numbers.service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response

from outdial.api.deps import PrincipalDep, SessionDep
from outdial.api.errors import ERROR_RESPONSES, ApiError, CodedValueError, ErrorEnvelope
from outdial.api.pagination import Page, PageParams, page_params
from outdial.numbers import service
from outdial.numbers.e164 import to_e164
from outdial.numbers.schemas import Kind, NumberCreate, NumberOut, NumberUpdate
from outdial.orgs.access import ORG_KEY_REQUIRED, require_org_key

router = APIRouter(prefix="/v1/phone-numbers", tags=["phone-numbers"])

_EXISTS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorEnvelope, "description": "The number is already in the organization"}
}


@router.post(
    "",
    status_code=201,
    summary="Add a phone number",
    description="The number starts unverified: verify it with `verify-voip` before it places calls. "
    "Demo numbers never place calls.",
    response_model=NumberOut,
    responses={**ERROR_RESPONSES, **ORG_KEY_REQUIRED, **_EXISTS},
)
async def create_number(
    principal: PrincipalDep, session: SessionDep, body: NumberCreate = Body(...)
) -> NumberOut:
    require_org_key(principal)
    row = await service.create_number(session, principal.org_id, body)
    await session.commit()
    return service.to_out(row)


@router.get(
    "",
    summary="List phone numbers",
    description="Newest first; filter by kind, active or an exact number.",
    response_model=Page[NumberOut],
    responses=ERROR_RESPONSES,
)
async def list_numbers(
    principal: PrincipalDep,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    kind: Annotated[Kind | None, Query(description="voip or demo")] = None,
    active: Annotated[bool | None, Query()] = None,
    number: Annotated[str | None, Query(max_length=32, description="E.164, exact match")] = None,
) -> Page[NumberOut]:
    e164 = None
    if number is not None:
        try:
            e164 = to_e164(number)
        except CodedValueError as exc:
            raise ApiError(400, exc.code, exc.message, "number") from None
    data, pagination = await service.list_numbers(
        session, principal.org_id, params, kind=kind, number=e164, active=active
    )
    return Page[NumberOut](data=data, pagination=pagination)


@router.get("/{number_id}", summary="Get a phone number", response_model=NumberOut, responses=ERROR_RESPONSES)
async def get_number(number_id: str, principal: PrincipalDep, session: SessionDep) -> NumberOut:
    return service.to_out(await service.get_number(session, principal.org_id, number_id))


@router.patch(
    "/{number_id}",
    summary="Update a phone number",
    description="Only the fields sent change. Moving it to another trunk clears `verified`.",
    response_model=NumberOut,
    responses={**ERROR_RESPONSES, **ORG_KEY_REQUIRED},
)
async def update_number(
    number_id: str, principal: PrincipalDep, session: SessionDep, body: NumberUpdate = Body(...)
) -> NumberOut:
    row = await service.get_number(session, principal.org_id, number_id)
    require_org_key(principal)
    await service.update_number(session, row, body.model_dump(exclude_unset=True))
    await session.commit()
    return service.to_out(row)


@router.delete(
    "/{number_id}",
    status_code=204,
    summary="Delete a phone number",
    response_class=Response,
    responses={**ERROR_RESPONSES, **ORG_KEY_REQUIRED},
)
async def delete_number(number_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    row = await service.get_number(session, principal.org_id, number_id)
    require_org_key(principal)
    await service.delete_number(session, row)
    await session.commit()
    return Response(status_code=204)
