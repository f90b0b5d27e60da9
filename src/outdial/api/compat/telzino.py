"""Telzino-compatible outbound calls: ``/v1/agents/{agentId}/outbound-calls`` (create, list, get).

A thin translation onto :mod:`outdial.calls.service`; errors use the native envelope.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from outdial.api.auth import Principal
from outdial.api.deps import PrincipalDep, SessionDep, SettingsDep
from outdial.api.errors import ERROR_RESPONSES, ApiError, not_found
from outdial.api.pagination import Page, PageParams, page_params
from outdial.calls import service as calls
from outdial.calls.schemas import CallCreated, CallOut
from outdial.calls.validation import CALL_CONTEXT_MAX_CHARS
from outdial.lifecycle import CallStatus
from outdial.orgs.access import agent_visible, org_row
from outdial.store.models import Agent

router = APIRouter(prefix="/v1/agents/{agentId}/outbound-calls", tags=["compat: Telzino"])

AgentIdPath = Annotated[
    str, Path(alias="agentId", max_length=64, description="The agent that makes the call (UUID).")
]


class TelzinoCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "to_number": "+18135551234",
                    "call_context": "You are calling John to confirm his appointment tomorrow at 2pm.",
                    "metadata": {"crm_id": "123"},
                    "callback_url": "https://your-system.com/telzino/call-result",
                }
            ]
        },
    )

    to_number: str = Field(min_length=1, max_length=40, description="E.164 only, e.g. +18135551234.")
    call_context: str | None = Field(
        default=None, description=f"At most {CALL_CONTEXT_MAX_CHARS} characters."
    )
    metadata: dict[str, Any] | None = Field(
        default=None, description="At most 16 KB serialized; echoed verbatim."
    )
    callback_url: str | None = Field(default=None, max_length=2048, description="https, public host.")


class TelzinoCall(BaseModel):
    """A call as Telzino's Get/List Outbound Call(s) shows it."""

    id: str
    agent_id: str | None
    to_number: str
    status: str
    request_metadata: Any
    transcript_id: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration: int | None
    error: str | None
    sip_status_code: int | None


def _record(call: CallOut) -> TelzinoCall:
    return TelzinoCall(
        id=call.id,
        agent_id=call.agent_id,
        to_number=call.to_number,
        status=call.status.value,
        request_metadata=call.request_metadata,
        transcript_id=call.transcript_id,
        created_at=call.created_at,
        answered_at=call.answered_at,
        ended_at=call.ended_at,
        duration=call.duration_seconds,
        error=call.error,
        sip_status_code=call.sip_status_code,
    )


async def _check_agent(session: SessionDep, principal: Principal, agent_id: str) -> None:
    """The agent must be one of the caller's (a scoped key: that very agent); else 404."""
    agent = await org_row(session, Agent, principal.org_id, agent_id)
    if agent is None or not agent_visible(principal, agent_id):
        raise not_found("agent", code="agent_not_found", param="agentId")


@router.post(
    "",
    status_code=202,
    response_model=CallCreated,
    summary="Create an outbound call (Telzino)",
    description="Returns 202 at once with status `queued`; the call dials within moments.",
    responses=ERROR_RESPONSES,
)
async def create_outbound_call(
    agent_id: AgentIdPath,
    body: TelzinoCreate,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> CallCreated:
    await _check_agent(session, principal, agent_id)
    if not body.to_number.startswith("+"):
        raise ApiError(
            400,
            "invalid_phone_number",
            f"to_number {body.to_number!r} must be in E.164 format, e.g. +18135551234.",
            "to_number",
        )
    request = calls.parse_create_request(
        {
            "agent_id": agent_id,
            "to_number": body.to_number,
            "call_context": body.call_context,
            "metadata": body.metadata if body.metadata is not None else {},
            "callback_url": body.callback_url,
        }
    )
    result = await calls.create_call(session, principal, request, source="telzino", settings=settings)
    return result.call


@router.get(
    "",
    response_model=Page[TelzinoCall],
    summary="List outbound calls (Telzino)",
    description="Newest first; `limit` at most 100 (default 50).",
    responses=ERROR_RESPONSES,
)
async def list_outbound_calls(
    agent_id: AgentIdPath,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    params: Annotated[PageParams, Depends(page_params)],
    status: Annotated[CallStatus | None, Query(description="Filter by lifecycle status")] = None,
) -> Page[TelzinoCall]:
    await _check_agent(session, principal, agent_id)
    page = await calls.list_calls(session, principal, params, settings, status=status, agent_id=agent_id)
    return Page[TelzinoCall](data=[_record(c) for c in page.data], pagination=page.pagination)


@router.get(
    "/{call_id}",
    response_model=TelzinoCall,
    summary="Get an outbound call (Telzino)",
    responses=ERROR_RESPONSES,
)
async def get_outbound_call(
    agent_id: AgentIdPath,
    call_id: str,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
) -> TelzinoCall:
    await _check_agent(session, principal, agent_id)
    call = await calls.get_call(session, principal, call_id, settings)
    if call.agent_id != agent_id:
        raise not_found("call", param="id")
    return _record(call)
