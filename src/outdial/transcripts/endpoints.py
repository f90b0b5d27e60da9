"""Routes: a call's transcript and recording, transcripts by id, signed recording links.

Also mounts ``/v1/organization/retention`` (the app factory loads one router per domain module).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from outdial.api.deps import PrincipalDep, SessionDep, SettingsDep
from outdial.api.errors import ERROR_RESPONSES, ApiError, ErrorEnvelope, not_found
from outdial.retention.endpoints import router as retention_router
from outdial.store.models import Call
from outdial.transcripts import service
from outdial.transcripts.links import verify
from outdial.transcripts.schemas import TranscriptOut

router = APIRouter(tags=["transcripts and recordings"])
router.include_router(retention_router)

WAV: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"audio/wav": {}},
        "description": "The recording (WAV; stereo when both sides were kept)",
    }
}


@router.get(
    "/v1/calls/{call_id}/transcript",
    response_model=TranscriptOut,
    summary="Get a call's transcript",
    description="Turns in order: {role, text, start_ms, end_ms, interrupted}. 404 until the call ended, "
    "or once retention purged it.",
    responses=ERROR_RESPONSES,
)
async def call_transcript(call_id: str, principal: PrincipalDep, session: SessionDep) -> TranscriptOut:
    call = await service.visible_call(session, principal, call_id)
    return service.transcript_out(await service.transcript_of_call(session, call))


@router.get(
    "/v1/transcripts/{transcript_id}",
    response_model=TranscriptOut,
    summary="Get a transcript",
    responses=ERROR_RESPONSES,
)
async def transcript(transcript_id: str, principal: PrincipalDep, session: SessionDep) -> TranscriptOut:
    return service.transcript_out(await service.transcript_by_id(session, principal, transcript_id))


@router.get(
    "/v1/calls/{call_id}/recording",
    response_class=FileResponse,
    summary="Download a call's recording (WAV)",
    description="Authenticated download. To hand the file to a system without an API key, use the "
    "call's `recording_url`, a signed link that expires after an hour.",
    responses={**ERROR_RESPONSES, **WAV},
)
async def call_recording(
    call_id: str, principal: PrincipalDep, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    call = await service.visible_call(session, principal, call_id)
    path = service.recording_of(settings, call)
    return FileResponse(path, media_type="audio/wav", filename=f"{call.id}.wav")


@router.get(
    "/v1/recordings/{call_id}",
    response_class=FileResponse,
    summary="Download a recording through its signed link (no API key)",
    description="The `recording_url` of a call: valid until `expires` (Unix seconds) for this call only.",
    responses={
        **WAV,
        403: {"model": ErrorEnvelope, "description": "Bad signature or expired link"},
        404: {"model": ErrorEnvelope, "description": "No such recording (or purged)"},
    },
)
async def signed_recording(
    call_id: str,
    session: SessionDep,
    settings: SettingsDep,
    expires: Annotated[int, Query(ge=0, le=2**40)],
    signature: Annotated[str, Query(min_length=1, max_length=128)],
) -> FileResponse:
    if not verify(settings, call_id, expires, signature):
        raise ApiError(403, "forbidden", "This recording link is invalid or has expired; ask for a new one.")
    call = await session.get(Call, call_id)
    if call is None:
        raise not_found("recording", param="call_id")
    path = service.recording_of(settings, call)
    return FileResponse(path, media_type="audio/wav", filename=f"{call.id}.wav")
