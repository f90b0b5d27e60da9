"""``/v1/agents``: thin routes onto :mod:`outdial.agents.service`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Response

from outdial.agents import service
from outdial.agents.schemas import AgentCreate, AgentOut, AgentUpdate
from outdial.api.deps import PrincipalDep, SessionDep
from outdial.api.errors import ERROR_RESPONSES
from outdial.api.pagination import Page, PageParams, page_params
from outdial.orgs.access import ORG_KEY_REQUIRED, require_org_key

router = APIRouter(prefix="/v1/agents", tags=["agents"])


@router.post(
    "",
    status_code=201,
    summary="Create an agent",
    description="Only `name` is required; every other field has a working offline default "
    "(flow brain, pocketsphinx STT, espeak TTS, webrtc VAD).",
    response_model=AgentOut,
    responses={**ERROR_RESPONSES, **ORG_KEY_REQUIRED},
)
async def create_agent(
    principal: PrincipalDep, session: SessionDep, body: AgentCreate = Body(...)
) -> AgentOut:
    require_org_key(principal)
    agent = await service.create_agent(session, principal.org_id, body)
    await session.commit()
    return service.to_out(agent, None)


@router.get(
    "",
    summary="List agents",
    description="Newest first. A key scoped to one agent lists only that agent.",
    response_model=Page[AgentOut],
    responses=ERROR_RESPONSES,
)
async def list_agents(
    principal: PrincipalDep,
    session: SessionDep,
    params: Annotated[PageParams, Depends(page_params)],
    published: Annotated[bool | None, Query(description="Only published (or unpublished) agents")] = None,
) -> Page[AgentOut]:
    data, pagination = await service.list_agents(session, principal, params, published)
    return Page[AgentOut](data=data, pagination=pagination)


@router.get(
    "/{agent_id}",
    summary="Get an agent",
    response_model=AgentOut,
    responses=ERROR_RESPONSES,
)
async def get_agent(agent_id: str, principal: PrincipalDep, session: SessionDep) -> AgentOut:
    return await service.out(session, await service.get_agent(session, principal, agent_id))


@router.patch(
    "/{agent_id}",
    summary="Update an agent",
    description="Only the fields sent change. Nested objects (brain, stt, tts, vad, turn_taking) are "
    "replaced whole; a redacted `api_key` sent back unchanged keeps the stored key.",
    response_model=AgentOut,
    responses=ERROR_RESPONSES,
)
async def update_agent(
    agent_id: str, principal: PrincipalDep, session: SessionDep, body: AgentUpdate = Body(...)
) -> AgentOut:
    agent = await service.get_agent(session, principal, agent_id)
    await service.update_agent(session, agent, body.model_dump(mode="json", exclude_unset=True))
    await session.commit()
    return await service.out(session, agent)


@router.delete(
    "/{agent_id}",
    status_code=204,
    summary="Delete an agent",
    description="Its phone numbers lose their outbound agent; API keys scoped to it are revoked. "
    "Calls already placed keep a copy of the agent.",
    response_class=Response,
    responses={**ERROR_RESPONSES, **ORG_KEY_REQUIRED},
)
async def delete_agent(agent_id: str, principal: PrincipalDep, session: SessionDep) -> Response:
    agent = await service.get_agent(session, principal, agent_id)
    require_org_key(principal)
    await service.delete_agent(session, agent)
    await session.commit()
    return Response(status_code=204)
