"""``/v1/organization/retention``: how long this organization's call data is kept."""

from __future__ import annotations

from fastapi import APIRouter, Body

from outdial.api.deps import PrincipalDep, SessionDep
from outdial.api.errors import ERROR_RESPONSES, ErrorEnvelope
from outdial.orgs.access import require_org_key
from outdial.retention import service
from outdial.retention.schemas import RetentionOut, RetentionUpdate
from outdial.webhooks.models import RetentionPolicy

router = APIRouter(prefix="/v1/organization/retention", tags=["organization"])


def _out(p: RetentionPolicy, stored: bool) -> RetentionOut:
    return RetentionOut(
        call_records_hours=p.call_records_hours,
        transcripts_hours=p.transcripts_hours,
        recordings_hours=p.recordings_hours,
        updated_at=p.updated_at if stored else None,
    )


@router.get("", response_model=RetentionOut, summary="Get your retention policy", responses=ERROR_RESPONSES)
async def get_retention(principal: PrincipalDep, session: SessionDep) -> RetentionOut:
    policy = await service.get_policy(session, principal.org_id)
    return _out(policy, stored=policy in session)


@router.patch(
    "",
    response_model=RetentionOut,
    summary="Set how long call records, transcripts and recordings are kept",
    description="Expired data is purged by the webhook sender's periodic job (every 5 minutes by "
    "default) and then answers 404. Only the fields sent change.",
    responses={**ERROR_RESPONSES, 403: {"model": ErrorEnvelope, "description": "Agent-scoped key"}},
)
async def update_retention(
    principal: PrincipalDep, session: SessionDep, body: RetentionUpdate = Body(...)
) -> RetentionOut:
    require_org_key(principal)
    policy = await service.set_policy(session, principal.org_id, body.model_dump(exclude_unset=True))
    await session.commit()
    return _out(policy, stored=True)
