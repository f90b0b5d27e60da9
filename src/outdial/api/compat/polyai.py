"""PolyAI-compatible outbound calling: ``POST /v1/outbound-calling`` and its status route.

Authenticated by ``X-PolyAi-Auth-Token``: an API key scoped to one agent (PolyAI's "connector").
An unscoped key, or an agent not set up for outbound calls (unpublished, or without an outbound
number), is a 401 as on PolyAI. Metadata values are strings; each key also travels to the trunk as
an ``X-`` SIP header. Errors use the native envelope.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.auth import Principal, authenticate
from outdial.api.deps import DbDep, SessionDep, SettingsDep
from outdial.api.errors import ERROR_RESPONSES, ApiError, CodedValueError, not_found
from outdial.calls import service as calls
from outdial.calls.checks import PRE_CREATE_CHECKS
from outdial.lifecycle import CallStatus
from outdial.numbers.repository import outbound_for_agent
from outdial.orgs.access import org_row
from outdial.store.models import Agent, Call, SipTrunk

router = APIRouter(prefix="/v1/outbound-calling", tags=["compat: PolyAI"])

METADATA_MAX_BASE64_BYTES = 26 * 1024
# A SIP request over UDP must stay well under the path MTU (RFC 3261 §18.1.1); over TLS any size fits.
UDP_HEADER_BUDGET_BYTES = 1000
SID_PREFIX = "OUT-"
_HEADER_KEY = re.compile(r"^[A-Za-z0-9\-_.!%*+`'~]+$")

Encryption = Literal["TLS/SRTP", "TLS/RTP", "UDP/SRTP", "UDP/RTP"]
# transport, media_encryption of the call for each choice.
ENCRYPTION: dict[str, tuple[str, str]] = {
    "TLS/SRTP": ("tls", "srtp_required"),
    "TLS/RTP": ("tls", "none"),
    "UDP/SRTP": ("udp", "srtp_required"),
    "UDP/RTP": ("udp", "none"),
}

EXAMPLE: dict[str, Any] = {
    "to_number": "+16176451984",
    "metadata": {
        "patient_first_name": "Paul",
        "patient_last_name": "Glynn",
        "variant": "Inpatient at St Charles",
    },
}


class OutboundCall(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    to_number: str = Field(min_length=1, max_length=40, description="E.164, or national with country_code.")
    country_code: str | None = Field(
        default=None, min_length=2, max_length=2, description="ISO 3166-1 alpha-2."
    )
    metadata: dict[str, str] = Field(
        default_factory=dict,
        description="String values only; its JSON in base64 must be under 26 KB. Each key is sent as an "
        "X- SIP header and is readable by the agent.",
    )
    encryption: Encryption = Field(default="TLS/SRTP", description="Signalling/media protection of the leg.")

    @field_validator("metadata", mode="before")
    @classmethod
    def _strings_only(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise CodedValueError("invalid_request", "metadata must be an object of string values.")
        for key, item in value.items():
            if not isinstance(item, str):
                raise CodedValueError(
                    "invalid_request",
                    f"metadata value of {key!r} must be a string, not {type(item).__name__}.",
                )
        size = len(base64.b64encode(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()))
        if size >= METADATA_MAX_BASE64_BYTES:
            raise CodedValueError(
                "metadata_too_large",
                f"metadata is {size} bytes in base64; it must be under {METADATA_MAX_BASE64_BYTES} (26 KB).",
            )
        for key, item in value.items():
            if not _HEADER_KEY.match(key) or len(key) > 64:
                raise CodedValueError(
                    "invalid_request",
                    f"metadata key {key!r} cannot be a SIP header name (at most 64 letters, digits, -_.).",
                )
            if "\r" in item or "\n" in item or "\x00" in item:
                raise CodedValueError(
                    "invalid_request", f"metadata value of {key!r} must be one line of text."
                )
        return value


class CallSid(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"call_sid": "OUT-550e8400-e29b-41d4-a716-446655440000"}]}
    )

    call_sid: str = Field(description="Always prefixed with OUT-.")


class CallStatusOut(BaseModel):
    call_sid: str
    status: Literal["queued", "calling", "success", "failure"]
    reason: str | None = Field(description="The end reason once the call has ended.")


POLY_STATUS: dict[CallStatus, str] = {
    CallStatus.QUEUED: "queued",
    CallStatus.SCHEDULED: "queued",
    CallStatus.DIALING: "calling",
    CallStatus.RINGING: "calling",
    CallStatus.IN_PROGRESS: "calling",
    CallStatus.COMPLETED: "success",
    CallStatus.NO_ANSWER: "failure",
    CallStatus.BUSY: "failure",
    CallStatus.FAILED: "failure",
    CallStatus.CANCELED: "failure",
}


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message)


async def connector(
    db: DbDep,
    token: Annotated[
        str | None, Header(alias="X-PolyAi-Auth-Token", description="An agent-scoped API key.")
    ] = None,
) -> Principal:
    """The agent-scoped principal of the token, or 401."""
    if not token:
        raise _unauthorized("Missing X-PolyAi-Auth-Token.")
    async with db.session() as session:
        principal = await authenticate(session, token)
    if principal is None:
        raise _unauthorized("Invalid X-PolyAi-Auth-Token.")
    if principal.agent_id is None:
        raise _unauthorized(
            "This token is not tied to an agent: create one with "
            "`outdial keys create --org NAME --agent AGENT_ID`."
        )
    return principal


ConnectorDep = Annotated[Principal, Depends(connector)]


async def _outbound_ready(session: AsyncSession, principal: Principal) -> None:
    assert principal.agent_id is not None
    agent = await org_row(session, Agent, principal.org_id, principal.agent_id)
    if agent is None or not agent.published:
        raise _unauthorized(
            "The agent behind this token is not configured for outbound calling (not published)."
        )
    if await outbound_for_agent(session, principal.org_id, agent.id) is None:
        raise _unauthorized(
            "The agent behind this token is not configured for outbound calling: give it an outbound "
            "number (PATCH /v1/phone-numbers/{id} with outbound_agent_id)."
        )


async def trunk_supports(session: AsyncSession, call: Call) -> None:
    """Pre-create check for this surface: the trunk must be able to carry the chosen protection."""
    trunk = await session.get(SipTrunk, call.trunk_id) if call.trunk_id else None
    if trunk is None:
        return  # the caller-number checks already refused a number without a trunk
    media = "SRTP" if call.media_encryption != "none" else "RTP"
    wanted = f"{(call.transport or 'udp').upper()}/{media}"
    if call.transport == "tls" and trunk.transport != "tls":
        raise ApiError(
            400,
            "invalid_request",
            f"encryption {wanted}: the trunk is configured for {trunk.transport}, not TLS.",
            "encryption",
        )
    if call.transport == "udp" and trunk.transport != "udp":
        raise ApiError(
            400,
            "invalid_request",
            f"encryption {wanted}: the trunk is configured for {trunk.transport}, not UDP.",
            "encryption",
        )
    if call.media_encryption != "none" and trunk.media_encryption == "none":
        raise ApiError(
            400, "invalid_request", f"encryption {wanted}: the trunk is not set up for SRTP.", "encryption"
        )
    if call.media_encryption == "none" and trunk.media_encryption == "srtp_required":
        raise ApiError(400, "invalid_request", f"encryption {wanted}: the trunk requires SRTP.", "encryption")


def sip_headers(metadata: dict[str, str], transport: str) -> dict[str, str]:
    """Each metadata key as an ``X-`` header; over UDP the headers must fit one datagram."""
    headers = {(k if k[:2].lower() == "x-" else f"X-{k}"): v for k, v in metadata.items()}
    if len({h.lower() for h in headers}) != len(headers):
        raise ApiError(
            400, "invalid_request", "metadata keys differ only by case or an X- prefix.", "metadata"
        )
    size = sum(len(k) + len(v) + 4 for k, v in headers.items())
    if transport == "udp" and size > UDP_HEADER_BUDGET_BYTES:
        raise ApiError(
            400,
            "invalid_request",
            f"metadata makes {size} bytes of SIP headers, more than a UDP INVITE can carry "
            f"({UDP_HEADER_BUDGET_BYTES}); use encryption TLS/SRTP or TLS/RTP for large metadata.",
            "metadata",
        )
    return headers


@router.post(
    "",
    response_model=CallSid,
    summary="Trigger an outbound call (PolyAI)",
    responses=ERROR_RESPONSES,
)
async def trigger(
    body: OutboundCall, principal: ConnectorDep, session: SessionDep, settings: SettingsDep
) -> CallSid:
    await _outbound_ready(session, principal)
    transport, media = ENCRYPTION[body.encryption]
    headers = sip_headers(body.metadata, transport)
    request = calls.parse_create_request(
        {"agent_id": principal.agent_id, "to_number": body.to_number, "country_code": body.country_code}
    )
    # PolyAI's own metadata rule (checked above) replaces the native 16 KB and header limits.
    request = request.model_copy(update={"metadata": dict(body.metadata), "sip_headers": headers})
    result = await calls.create_call(
        session,
        principal,
        request,
        source="polyai",
        settings=settings,
        transport=transport,
        media_encryption=media,
        checks=[*PRE_CREATE_CHECKS, trunk_supports],
    )
    return CallSid(call_sid=SID_PREFIX + result.call.id)


@router.get(
    "/{call_sid}/status",
    response_model=CallStatusOut,
    summary="Get call status (PolyAI)",
    description="404 once the organization's retention for call records has passed.",
    responses=ERROR_RESPONSES,
)
async def status(
    call_sid: Annotated[str, Path(max_length=80)],
    principal: ConnectorDep,
    session: SessionDep,
    settings: SettingsDep,
) -> CallStatusOut:
    if not call_sid.startswith(SID_PREFIX):
        raise not_found("call", param="call_sid")
    call = await calls.get_call(session, principal, call_sid.removeprefix(SID_PREFIX), settings)
    reason = call.end_reason.value if call.end_reason else None
    return CallStatusOut(call_sid=call_sid, status=POLY_STATUS[call.status], reason=reason)  # type: ignore[arg-type]
