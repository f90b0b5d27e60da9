"""Retention rules and the purge: expired recordings, transcripts and call records disappear.

Ages count from the call's end. A purged recording or transcript answers 404 and the call stops
pointing at it; a purged call record takes its events, attempts, transcript, recording and finished
webhook deliveries with it. Deliveries still being retried finish first and are swept afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.models import Call, Transcript
from outdial.store.types import utcnow
from outdial.webhooks.models import RetentionPolicy, WebhookDelivery

log = logging.getLogger("outdial.retention")

FIELDS = ("call_records_hours", "transcripts_hours", "recordings_hours")
BATCH = 500
FINAL_DELIVERY = ("succeeded", "failed", "canceled")


@dataclass(slots=True)
class PurgeCounts:
    recordings: int = 0
    transcripts: int = 0
    calls: int = 0
    deliveries: int = 0


async def get_policy(session: AsyncSession, org_id: str) -> RetentionPolicy:
    """The org's policy; an org without one keeps everything (all fields None)."""
    row = await session.get(RetentionPolicy, org_id)
    return row or RetentionPolicy(org_id=org_id, updated_at=utcnow())


async def set_policy(session: AsyncSession, org_id: str, changes: dict[str, int | None]) -> RetentionPolicy:
    row = await session.get(RetentionPolicy, org_id)
    if row is None:
        row = RetentionPolicy(org_id=org_id)
        session.add(row)
    for name, value in changes.items():
        if name in FIELDS:
            setattr(row, name, value)
    row.updated_at = utcnow()
    await session.flush()
    return row


def recording_file(settings: Settings, recording_path: str) -> Path:
    """Where a call's recording lives: ``recording_path`` as stored, relative to the data dir."""
    path = Path(recording_path)
    return path if path.is_absolute() else settings.data_dir / path


async def purge_expired(db: Database, settings: Settings, *, now: datetime | None = None) -> PurgeCounts:
    """Apply every org's policy once; returns what was removed."""
    now = now or utcnow()
    counts = PurgeCounts()
    async with db.session() as session:
        policies = list((await session.execute(select(RetentionPolicy))).scalars())
    for p in policies:
        if p.recordings_hours:
            counts.recordings += await _purge_recordings(db, settings, p.org_id, now - _h(p.recordings_hours))
        if p.transcripts_hours:
            counts.transcripts += await _purge_transcripts(db, p.org_id, now - _h(p.transcripts_hours))
        if p.call_records_hours:
            counts.calls += await _purge_calls(db, settings, p.org_id, now - _h(p.call_records_hours))
    counts.deliveries += await _sweep_orphan_deliveries(db)
    if counts.recordings or counts.transcripts or counts.calls or counts.deliveries:
        log.info("retention purge: %s", counts)
    return counts


def _h(hours: int) -> timedelta:
    return timedelta(hours=hours)


async def _unlink(paths: list[Path]) -> None:
    def remove() -> None:
        for path in paths:
            path.unlink(missing_ok=True)

    await asyncio.to_thread(remove)


async def _purge_recordings(db: Database, settings: Settings, org_id: str, before: datetime) -> int:
    total = 0
    while True:
        async with db.transaction() as s:
            rows = (
                await s.execute(
                    select(Call.id, Call.recording_path)
                    .where(Call.org_id == org_id, Call.recording_path.is_not(None), Call.ended_at < before)
                    .limit(BATCH)
                )
            ).all()
            if not rows:
                return total
            await s.execute(update(Call).where(Call.id.in_([r.id for r in rows])).values(recording_path=None))
        # Files go after the commit: a crash in between leaves a file no row points at, never a
        # row pointing at a missing file.
        await _unlink([recording_file(settings, r.recording_path) for r in rows])
        total += len(rows)


async def _purge_transcripts(db: Database, org_id: str, before: datetime) -> int:
    total = 0
    while True:
        async with db.transaction() as s:
            ids = list(
                (
                    await s.execute(
                        select(Transcript.id)
                        .join(Call, Call.id == Transcript.call_id)
                        .where(Transcript.org_id == org_id, Call.ended_at < before)
                        .limit(BATCH)
                    )
                ).scalars()
            )
            if not ids:
                return total
            await s.execute(update(Call).where(Call.transcript_id.in_(ids)).values(transcript_id=None))
            await s.execute(delete(Transcript).where(Transcript.id.in_(ids)))
            total += len(ids)


async def _purge_calls(db: Database, settings: Settings, org_id: str, before: datetime) -> int:
    total = 0
    while True:
        async with db.transaction() as s:
            rows = (
                await s.execute(
                    select(Call.id, Call.recording_path)
                    .where(Call.org_id == org_id, Call.ended_at < before)
                    .limit(BATCH)
                )
            ).all()
            if not rows:
                return total
            ids = [r.id for r in rows]
            await s.execute(
                delete(WebhookDelivery).where(
                    WebhookDelivery.call_id.in_(ids), WebhookDelivery.status.in_(FINAL_DELIVERY)
                )
            )
            await s.execute(delete(Transcript).where(Transcript.call_id.in_(ids)))
            await s.execute(delete(Call).where(Call.id.in_(ids)))  # events and attempts cascade
        await _unlink([recording_file(settings, r.recording_path) for r in rows if r.recording_path])
        total += len(rows)


async def _sweep_orphan_deliveries(db: Database) -> int:
    """Finished deliveries of calls purged while they were still being retried."""
    async with db.transaction() as s:
        result = await s.execute(
            delete(WebhookDelivery)
            .where(
                WebhookDelivery.call_id.is_not(None),
                WebhookDelivery.status.in_(FINAL_DELIVERY),
                ~exists().where(Call.id == WebhookDelivery.call_id),
            )
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)
