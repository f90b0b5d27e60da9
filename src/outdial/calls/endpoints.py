"""``/v1/calls``: place, read, list and cancel calls. Thin: the rules live in :mod:`.service`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from fastapi.responses import JSONResponse

from outdial.api.deps import PrincipalDep, SessionDep, SettingsDep
from outdial.api.errors import ERROR_RESPONSES, ErrorEnvelope
from outdial.api.pagination import Page, PageParams, page_params
from outdial.calls import examples, service
from outdial.calls.schemas import CallCreated, CallOut, CreateCallRequest
from outdial.lifecycle import CallStatus

router = APIRouter(prefix="/v1/calls", tags=["calls"])


def _err(description: str, code: str) -> dict[str, Any]:
    return {
        "model": ErrorEnvelope,
        "description": description,
        "content": {
            "application/json": {"example": {"error": {"code": code, "message": description, "param": None}}}
        },
    }


CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    202: {
        "description": "Accepted: queued (or scheduled). A replay of an Idempotency-Key answers the same, "
        "with the header `Idempotent-Replayed: true`.",
        "content": {"application/json": {"example": examples.CREATED}},
        "headers": {
            "Idempotent-Replayed": {
                "description": "`true` when this answer is the stored one of an earlier request with the "
                "same Idempotency-Key (nothing new was created).",
                "schema": {"type": "string", "enum": ["true"]},
            }
        },
    },
    400: _err(
        "Invalid request (invalid_request, invalid_phone_number, invalid_variables, call_context_too_long, "
        "metadata_too_large, invalid_callback_url, agent_not_published)",
        "invalid_phone_number",
    ),
    403: _err(
        "The caller number cannot place calls (outbound_blocked_demo_number, number_unverified) or the "
        "key is scoped to one agent (forbidden)",
        "number_unverified",
    ),
    404: _err("Unknown agent (agent_not_found) or caller number (from_number_not_found)", "agent_not_found"),
    409: _err(
        "Idempotency-Key reused with a different request (idempotency_conflict)", "idempotency_conflict"
    ),
}

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Retry safely: the same key with the same body returns the first answer; with a "
        "different body, 409 idempotency_conflict. Kept 24 hours, per organization.",
        examples=["order-4711-reminder"],
    ),
]


@router.post(
    "",
    status_code=202,
    summary="Place a call",
    description="Validates the request, stores the call as `queued` (or `scheduled` when `scheduled_at` is "
    "in the future) and answers at once; a dialer places it within seconds.",
    response_model=CallCreated,
    responses=CREATE_RESPONSES,
)
async def create_call(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[CreateCallRequest, Body(openapi_examples=examples.CREATE_EXAMPLES)],
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    result = await service.create_call(
        session, principal, body, settings=settings, idempotency_key=idempotency_key
    )
    return created_response(result)


def created_response(result: service.CreateCallResult) -> Response:
    """The 202 of a creation (also the fast path's, outdial/calls/fastpath.py). Serialized once, here
    (the model was validated when built): no second pass by ``response_model``."""
    return Response(
        result.call.model_dump_json(),
        status_code=202,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"} if result.replayed else None,
    )


@router.get(
    "",
    summary="List calls",
    description="Newest first. `total` is exact up to 1,000 matching calls; past that (PostgreSQL) it "
    "is the query planner's estimate and the response carries `X-Total-Estimated: true`.",
    response_model=Page[CallOut],
    responses={
        **ERROR_RESPONSES,
        200: {
            "content": {"application/json": {"example": examples.PAGE}},
            "headers": {
                "X-Total-Estimated": {
                    "description": "`true` when `total` is an estimate (more than 1,000 matches).",
                    "schema": {"type": "string", "enum": ["true"]},
                }
            },
        },
    },
)
async def list_calls(
    principal: PrincipalDep,
    session: SessionDep,
    settings: SettingsDep,
    params: Annotated[PageParams, Depends(page_params)],
    status: Annotated[CallStatus | None, Query(description="Only calls in this status.")] = None,
    agent_id: Annotated[str | None, Query(max_length=64, description="Only this agent's calls.")] = None,
    to_number: Annotated[
        str | None,
        Query(max_length=32, description="Only calls to this E.164 number.", examples=["+18135551234"]),
    ] = None,
    created_after: Annotated[datetime | None, Query(description="Created strictly after (ISO 8601).")] = None,
    created_before: Annotated[
        datetime | None, Query(description="Created strictly before (ISO 8601).")
    ] = None,
) -> JSONResponse:
    page = await service.list_calls(
        session,
        principal,
        params,
        settings,
        status=status,
        agent_id=agent_id,
        to_number=to_number,
        created_after=service.as_utc(created_after),
        created_before=service.as_utc(created_before),
    )
    body = Page[CallOut](data=page.data, pagination=page.pagination).model_dump(mode="json")
    headers = {} if page.total_exact else {"X-Total-Estimated": "true"}
    return JSONResponse(body, headers=headers)


CallId = Annotated[str, Path(max_length=64, description="The call's id.", examples=[examples.CALL_ID])]


@router.get(
    "/{call_id}",
    summary="Get a call",
    response_model=CallOut,
    responses={**ERROR_RESPONSES, 200: {"content": {"application/json": {"example": examples.CALL}}}},
)
async def get_call(
    principal: PrincipalDep, session: SessionDep, settings: SettingsDep, call_id: CallId
) -> CallOut:
    return await service.get_call(session, principal, call_id, settings)


@router.post(
    "/{call_id}/cancel",
    summary="Cancel a call",
    description="A queued or scheduled call is canceled at once. A live call (dialing, ringing, in "
    "progress) is hung up by its worker and shows its current status until then. 409 once the call "
    "has ended.",
    response_model=CallOut,
    responses={
        **ERROR_RESPONSES,
        200: {"content": {"application/json": {"example": examples.CANCELED}}},
        409: _err("The call already ended (call_not_cancelable)", "call_not_cancelable"),
    },
)
async def cancel_call(
    principal: PrincipalDep, session: SessionDep, settings: SettingsDep, call_id: CallId
) -> CallOut:
    return await service.cancel_call(session, principal, call_id, settings)
