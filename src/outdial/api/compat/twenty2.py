"""Twenty2-compatible trigger: ``POST /api/agent/trigger-outbound-call``.

HTTP Basic (username: the API key's id, password: the API key) plus ``x-workspace-id`` (the key's
organization). Numbers without a country code are read in the organization's ``default_country``.
Every answer, refusals included, is in Twenty2's shape: ``{success, ...}`` or
``{success: false, error: {code, message, status}}``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from outdial.api.auth import Principal, authenticate
from outdial.api.compat.common import body_doc, json_object, parse
from outdial.api.deps import DbDep, SettingsDep
from outdial.api.errors import ApiError
from outdial.calls import service as calls
from outdial.calls.validation import normalize_number
from outdial.orgs.access import agent_visible, org_row
from outdial.store.models import Agent, Organization

router = APIRouter(tags=["compat: Twenty2"])

EXAMPLE: dict[str, Any] = {
    "agent_id": "69de483c68b23495c853b43a",
    "callee_phone": "9999999999",
    "caller_phone": "9999999999",
    "input_parameters": {"agentName": "Rohit"},
}

# Native codes → Twenty2's (status kept unless given).
CODES: dict[str, tuple[str, int | None]] = {
    "agent_not_found": ("INVALID_AGENT", 400),
    "agent_not_published": ("INVALID_AGENT", 400),
    "invalid_phone_number": ("INVALID_PHONE_NUMBER", None),
    "from_number_not_found": ("CALLER_NOT_ACTIVE", 400),
    "outbound_blocked_demo_number": ("CALLER_NOT_ACTIVE", 400),
    "number_unverified": ("CALLER_NOT_VERIFIED", None),
    "invalid_variables": ("INVALID_INPUT_PARAMETERS", None),
    "unauthorized": ("UNAUTHORIZED", 401),
    "invalid_request": ("INVALID_REQUEST", None),
}


class TriggerCall(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    agent_id: str = Field(min_length=1, max_length=64, description="The ID of the published agent to use.")
    callee_phone: str = Field(min_length=1, max_length=40, description="Recipient, without country code.")
    caller_phone: str = Field(
        min_length=1, max_length=40, description="Caller, without country code; active in the workspace."
    )
    input_parameters: dict[str, Any] = Field(
        default_factory=dict, description="Must match the input parameters defined on the agent."
    )


class TriggerOk(BaseModel):
    success: bool = True
    call_id: str
    status: str = "initiated"
    message: str = "Call queued successfully."


class Twenty2Error(BaseModel):
    code: str
    message: str
    status: int


class TriggerFailed(BaseModel):
    success: bool = False
    error: Twenty2Error


def _error(code: str, message: str, status: int) -> JSONResponse:
    return JSONResponse(
        {"success": False, "error": {"code": code, "message": message, "status": status}}, status
    )


def _translate(exc: ApiError) -> JSONResponse:
    code, status = CODES.get(exc.code, (exc.code.upper(), None))
    message = exc.message
    if code == "INVALID_AGENT":
        message = "The agent_id provided does not exist or is not published."
    return _error(code, message, status or exc.status)


UNAUTHORIZED = ApiError(401, "unauthorized", "Invalid or missing credentials.")


async def _principal(request: Request, db: DbDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token:
        raise UNAUTHORIZED
    try:
        username, sep, password = base64.b64decode(token.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise UNAUTHORIZED from exc
    if not sep:
        raise UNAUTHORIZED
    async with db.session() as session:
        principal = await authenticate(session, password)
    workspace = request.headers.get("x-workspace-id")
    if principal is None or principal.key_id != username or workspace != principal.org_id:
        raise UNAUTHORIZED
    return principal


def _number(raw: str, country: str | None, field: str) -> str:
    text = raw.strip()
    if text.startswith("+"):
        return normalize_number(text, None, param=field)
    if country is None:
        raise ApiError(
            400,
            "invalid_phone_number",
            f"{field} {raw!r} has no country code and the workspace has no default country: "
            'set it with PATCH /v1/organization {"default_country": "IN"}, or send +<country code>.',
            field,
        )
    return normalize_number(text, country, param=field)


@router.post(
    "/api/agent/trigger-outbound-call",
    summary="Trigger an outbound call (Twenty2)",
    description="HTTP Basic: username = API key id, password = API key; `x-workspace-id` = organization id.",
    response_model=TriggerOk,
    responses={
        400: {"model": TriggerFailed, "description": "INVALID_AGENT, INVALID_PHONE_NUMBER, ..."},
        401: {"model": TriggerFailed, "description": "UNAUTHORIZED"},
        402: {"model": TriggerFailed, "description": "INSUFFICIENT_BALANCE"},
        403: {"model": TriggerFailed, "description": "NUMBER_ON_DNC_LIST, CALLER_NOT_VERIFIED"},
    },
    openapi_extra=body_doc(TriggerCall, EXAMPLE),
)
async def trigger_outbound_call(request: Request, db: DbDep, settings: SettingsDep) -> Any:
    try:
        principal = await _principal(request, db)
        body: TriggerCall = parse(TriggerCall, await json_object(request))
        async with db.session() as session:
            agent = await org_row(session, Agent, principal.org_id, body.agent_id)
            if agent is None or not agent.published or not agent_visible(principal, agent.id):
                raise ApiError(400, "agent_not_found", "invalid agent", "agent_id")
            org = await session.get(Organization, principal.org_id)
            country = org.default_country if org else None
            request_model = calls.parse_create_request(
                {
                    "agent_id": body.agent_id,
                    "to_number": _number(body.callee_phone, country, "callee_phone"),
                    "from_number": _number(body.caller_phone, country, "caller_phone"),
                    "variables": body.input_parameters,
                }
            )
            result = await calls.create_call(
                session, principal, request_model, source="twenty2", settings=settings
            )
    except ApiError as exc:
        return _translate(exc)
    return TriggerOk(call_id=result.call.id)
