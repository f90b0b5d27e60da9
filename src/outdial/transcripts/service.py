"""Finding a caller's transcripts and recordings (another org's, or a purged one, is a 404)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.auth import Principal
from outdial.api.errors import not_found
from outdial.config import Settings
from outdial.orgs.access import agent_visible, org_row
from outdial.retention.service import recording_file
from outdial.store.models import Call, Transcript
from outdial.transcripts.schemas import TranscriptOut, TurnOut


async def visible_call(session: AsyncSession, principal: Principal, call_id: str) -> Call:
    call = await org_row(session, Call, principal.org_id, call_id)
    if call is None or not agent_visible(principal, call.agent_id):
        raise not_found("call", param="id")
    return call


async def transcript_of_call(session: AsyncSession, call: Call) -> Transcript:
    row: Transcript | None = None
    if call.transcript_id:
        row = await session.get(Transcript, call.transcript_id)
    if row is None:
        row = (
            (
                await session.execute(
                    select(Transcript)
                    .where(Transcript.call_id == call.id)
                    .order_by(Transcript.created_at.desc())
                )
            )
            .scalars()
            .first()
        )
    if row is None:
        raise not_found("transcript", param="id")
    return row


async def transcript_by_id(session: AsyncSession, principal: Principal, transcript_id: str) -> Transcript:
    row = await org_row(session, Transcript, principal.org_id, transcript_id)
    if row is None:
        raise not_found("transcript", param="id")
    await visible_call(session, principal, row.call_id)  # agent-scoped keys: their agent's calls only
    return row


def _turn(t: dict[str, Any]) -> TurnOut:
    return TurnOut(
        role=str(t.get("role", "")),
        text=str(t.get("text", "")),
        start_ms=int(t.get("start_ms", 0)),
        end_ms=int(t.get("end_ms", 0)),
        interrupted=bool(t.get("interrupted", False)),
        latency=t.get("latency") or None,
    )


def transcript_out(row: Transcript) -> TranscriptOut:
    return TranscriptOut(
        id=row.id, call_id=row.call_id, turns=[_turn(t) for t in row.turns or []], created_at=row.created_at
    )


def recording_of(settings: Settings, call: Call) -> Path:
    """The WAV file of ``call``; 404 when it has none (never recorded, or purged)."""
    if not call.recording_path:
        raise not_found("recording", param="id")
    path = recording_file(settings, call.recording_path)
    if not path.is_file():
        raise not_found("recording", param="id")
    return path
