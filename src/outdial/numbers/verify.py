"""``POST /v1/phone-numbers/{id}/verify-voip``: a SIP OPTIONS ping proves the number's trunk answers.

This is the only way a number becomes verified; changing the trunk's address clears it again.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from outdial.api.deps import PrincipalDep, SessionDep
from outdial.api.errors import ERROR_RESPONSES, ApiError, ErrorEnvelope
from outdial.numbers import service as numbers_service
from outdial.numbers.schemas import NumberOut
from outdial.orgs.access import org_row
from outdial.sip import SipError, SipTimeout, TrunkConfig, UserAgent
from outdial.store.models import SipTrunk
from outdial.store.types import utcnow

log = logging.getLogger("outdial.numbers")

router = APIRouter(prefix="/v1/phone-numbers", tags=["phone-numbers"])


def trunk_config(trunk: SipTrunk) -> TrunkConfig:
    return TrunkConfig(
        address=trunk.address,
        transport=trunk.transport,  # type: ignore[arg-type]
        username=trunk.username,
        password=trunk.password,
        media_encryption=trunk.media_encryption,  # type: ignore[arg-type]
    )


async def ping(request: Request, trunk: SipTrunk) -> int:
    """OPTIONS through the process's user agent when one runs, else a short-lived one."""
    ua: UserAgent | None = getattr(request.app.state, "sip_ua", None)
    if ua is not None:
        return await ua.options_ping(trunk_config(trunk))
    settings = request.app.state.settings
    ua = await UserAgent.start(host=settings.sip_host, port=0)
    try:
        return await ua.options_ping(trunk_config(trunk))
    finally:
        await ua.close()


@router.post(
    "/{number_id}/verify-voip",
    response_model=NumberOut,
    summary="Verify a VoIP number by pinging its trunk",
    description="Sends SIP OPTIONS to the number's trunk. Any SIP response proves the trunk is reachable "
    "and marks the number verified; no response is a 502 and leaves it unverified.",
    responses={
        **ERROR_RESPONSES,
        502: {"model": ErrorEnvelope, "description": "The trunk did not answer (upstream_unavailable)"},
    },
)
async def verify_voip(
    number_id: str, request: Request, principal: PrincipalDep, session: SessionDep
) -> NumberOut:
    number = await numbers_service.get_number(session, principal.org_id, number_id)
    if number.kind != "voip":
        raise ApiError(
            400,
            "invalid_request",
            f"{number.number} is a demo number: only VoIP numbers are verified.",
            "number_id",
        )
    trunk = await org_row(session, SipTrunk, principal.org_id, number.trunk_id) if number.trunk_id else None
    if trunk is None:
        raise ApiError(400, "invalid_request", "The number has no SIP trunk to verify.", "trunk_id")
    try:
        status = await ping(request, trunk)
    except (SipTimeout, SipError, OSError) as exc:
        log.info("verify-voip: trunk %s did not answer: %s", trunk.address, exc)
        raise ApiError(
            502,
            "upstream_unavailable",
            f"The trunk at {trunk.address} ({trunk.transport}) did not answer SIP OPTIONS: {exc}",
        ) from exc
    number.verified = True
    number.verified_at = utcnow()
    await session.commit()
    log.info("verify-voip: %s verified, trunk %s answered %d", number.number, trunk.address, status)
    return numbers_service.to_out(number)
