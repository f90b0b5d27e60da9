"""``/v1/organization``: the caller's organization and its defaults."""

from __future__ import annotations

from fastapi import APIRouter, Body

from outdial.api.deps import PrincipalDep, SessionDep
from outdial.api.errors import ERROR_RESPONSES
from outdial.orgs import service
from outdial.orgs.access import ORG_KEY_REQUIRED, require_org_key
from outdial.orgs.schemas import OrganizationOut, OrganizationUpdate

router = APIRouter(prefix="/v1/organization", tags=["organization"])


@router.get(
    "",
    summary="Get your organization",
    response_model=OrganizationOut,
    responses=ERROR_RESPONSES,
)
async def get_organization(principal: PrincipalDep, session: SessionDep) -> OrganizationOut:
    return service.to_out(await service.get_org(session, principal.org_id))


@router.patch(
    "",
    summary="Update your organization's defaults",
    description="Sets the default country, the org-wide concurrency cap and the default calling window. "
    "Only the fields sent change; null clears a field.",
    response_model=OrganizationOut,
    responses={**ERROR_RESPONSES, **ORG_KEY_REQUIRED},
)
async def update_organization(
    principal: PrincipalDep, session: SessionDep, body: OrganizationUpdate = Body(...)
) -> OrganizationOut:
    require_org_key(principal)
    org = await service.update_org(session, principal.org_id, body)
    await session.commit()
    return service.to_out(org)
