"""Bring-your-own-number style: ``POST /v1/call`` from one of the organization's VoIP numbers.

Answers 201 ``{call_id, status: "initiated"}``. Refusals use the native envelope with the statuses
the guide lists: 400 (agent_id and config both or neither, and the number has no outbound agent),
402 (balance), 403 (demo or unverified number), 404 (from_number not the org's), 502 (the trunk is
failing right now: safe to retry).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.agents.schemas import AgentCreate
from outdial.api.deps import PrincipalDep, SessionDep, SettingsDep
from outdial.api.errors import ERROR_RESPONSES, ApiError, ErrorEnvelope
from outdial.calls import service as calls
from outdial.calls.checks import PRE_CREATE_CHECKS
from outdial.lifecycle import EndReason
from outdial.store.models import Call, CallAttempt
from outdial.store.types import utcnow

router = APIRouter(tags=["compat: bring your own number"])

SCOPE = "POST /v1/call"
# The trunk counts as failing when its last attempts within the window all ended trunk_error.
FAILING_ATTEMPTS = 3
FAILING_WINDOW = timedelta(seconds=60)

EXAMPLE: dict[str, Any] = {
    "from_number": "+14155550100",
    "to_number": "+18135551234",
    "agent_id": "ag_1",
    "variables": {},
}


class ByoCall(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    from_number: str = Field(
        min_length=1, max_length=40, description="One of your verified VoIP numbers (E.164)."
    )
    to_number: str = Field(min_length=1, max_length=40, description="E.164.")
    agent_id: str | None = Field(default=None, max_length=64)
    config: AgentCreate | None = Field(
        default=None, description="A one-off inline agent instead of agent_id."
    )
    variables: dict[str, Any] = Field(default_factory=dict)
    max_hold_seconds: int | None = Field(
        default=None, description="Hang up when no human speaks for this long."
    )
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=255)


class ByoCreated(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"call_id": "5b0c...", "status": "initiated"}]})

    call_id: str
    status: str = "initiated"


async def trunk_not_failing(session: AsyncSession, call: Call) -> None:
    """Pre-create check for this surface: a trunk whose recent attempts all failed is a 502."""
    if call.trunk_id is None:
        return
    since = utcnow() - FAILING_WINDOW
    rows = (
        (
            await session.execute(
                select(CallAttempt.end_reason)
                .join(Call, Call.id == CallAttempt.call_id)
                .where(
                    Call.org_id == call.org_id, Call.trunk_id == call.trunk_id, CallAttempt.ended_at >= since
                )
                .order_by(CallAttempt.ended_at.desc())
                .limit(FAILING_ATTEMPTS)
            )
        )
        .scalars()
        .all()
    )
    if len(rows) == FAILING_ATTEMPTS and all(r == EndReason.TRUNK_ERROR.value for r in rows):
        raise ApiError(
            502,
            "upstream_unavailable",
            f"The SIP trunk of {call.from_number} failed its last {FAILING_ATTEMPTS} calls; "
            "this is transient, safe to retry.",
        )


@router.post(
    "/v1/call",
    status_code=201,
    response_model=ByoCreated,
    summary="Place a call from your own number (bring-your-own-number style)",
    responses={
        **ERROR_RESPONSES,
        402: {"model": ErrorEnvelope, "description": "insufficient_balance"},
        403: {"model": ErrorEnvelope, "description": "outbound_blocked_demo_number or number_unverified"},
        502: {"model": ErrorEnvelope, "description": "upstream_unavailable: the trunk is failing; retry"},
    },
)
async def place_call(
    body: ByoCall,
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_header: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> ByoCreated:
    if body.agent_id is not None and body.config is not None:
        raise ApiError(400, "invalid_request", "Give agent_id or config, not both.", "agent_id")
    if body.idempotency_key and idempotency_header and body.idempotency_key != idempotency_header:
        raise ApiError(
            400,
            "invalid_request",
            "idempotency_key and the Idempotency-Key header differ.",
            "idempotency_key",
        )
    data: dict[str, Any] = {
        "to_number": body.to_number,
        "from_number": body.from_number,
        "variables": body.variables,
        "max_hold_seconds": body.max_hold_seconds,
    }
    if body.agent_id is not None:
        data["agent_id"] = body.agent_id
    if body.config is not None:
        data["agent"] = body.config.model_dump(exclude_unset=True)
    request = calls.parse_create_request(data)
    result = await calls.create_call(
        session,
        principal,
        request,
        source="byo",
        settings=settings,
        idempotency_key=body.idempotency_key or idempotency_header,
        idempotency_scope=SCOPE,
        agent_from_number=True,
        checks=[*PRE_CREATE_CHECKS, trunk_not_failing],
    )
    return ByoCreated(call_id=result.call.id)
