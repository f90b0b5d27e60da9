"""Leases and heartbeats: a live worker keeps its calls; a dead worker's calls are recovered.

Claimed calls that never dialed simply become claimable again once their lease expires (the claim
query accepts expired leases). Calls that were dialing or live are never redialed blindly: the reaper
ends them ``failed``/``worker_lost`` and schedules a retry only if their policy retries ``failed``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.dialer.attempts import end_attempt
from outdial.dialer.claim import PENDING_VALUES
from outdial.dialer.models import CancelRequest, DialerWorker
from outdial.dialer.placer import AttemptResult
from outdial.dialer.txn import write_transaction
from outdial.lifecycle import ACTIVE, CallStatus, EndReason
from outdial.store.db import Database
from outdial.store.models import Call, CallAttempt

log = logging.getLogger(__name__)

ACTIVE_VALUES = [s.value for s in ACTIVE]
CHUNK = 500


async def register_worker(db: Database, worker_id: str, capacity: int, now: datetime) -> None:
    async with write_transaction(db) as session:
        row = await session.get(DialerWorker, worker_id)
        if row is None:
            row = DialerWorker(id=worker_id)
            session.add(row)
        row.hostname = socket.gethostname()
        row.pid = os.getpid()
        row.capacity = capacity
        row.live_calls = 0
        row.started_at = now
        row.heartbeat_at = now
        row.stopped_at = None


async def unregister_worker(db: Database, worker_id: str, now: datetime) -> None:
    async with write_transaction(db) as session:
        row = await session.get(DialerWorker, worker_id)
        if row is not None:
            row.stopped_at = now
            row.live_calls = 0


async def heartbeat(
    db: Database, worker_id: str, call_ids: Collection[str], *, now: datetime, lease_seconds: float, live: int
) -> tuple[set[str], set[str]]:
    """Renew the leases of the calls this worker holds.

    Returns the ids still held (a missing one was lost, e.g. reaped while this worker was cut off)
    and the ids among them with a pending cancel request.
    """
    expires = now + timedelta(seconds=lease_seconds)
    kept: set[str] = set()
    cancels: set[str] = set()
    ids = list(call_ids)
    async with write_transaction(db) as session:
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            # Locked in id order first, as the progress writer locks them: the two never deadlock.
            held = list(
                await session.scalars(
                    select(Call.id)
                    .where(
                        Call.id.in_(chunk),
                        Call.lease_owner == worker_id,
                        Call.status.in_(PENDING_VALUES + ACTIVE_VALUES),
                    )
                    .order_by(Call.id)
                    .with_for_update()
                )
            )
            if held:
                await session.execute(
                    update(Call)
                    .where(Call.id.in_(held))
                    .values(lease_expires_at=expires)
                    .execution_options(synchronize_session=False)
                )
            kept.update(held)
            found = await session.scalars(
                select(CancelRequest.call_id).where(CancelRequest.call_id.in_(chunk))
            )
            cancels.update(found)
        await session.execute(
            update(DialerWorker).where(DialerWorker.id == worker_id).values(heartbeat_at=now, live_calls=live)
        )
    return kept, cancels & kept


async def _latest_attempt(session: AsyncSession, call_id: str) -> CallAttempt | None:
    return await session.scalar(
        select(CallAttempt).where(CallAttempt.call_id == call_id).order_by(CallAttempt.number.desc()).limit(1)
    )


async def reap_lost(db: Database, *, now: datetime, limit: int = 100, owner: str | None = None) -> list[str]:
    """End dialing/live calls whose worker stopped renewing their lease: ``failed``/``worker_lost``.

    With ``owner`` given, that worker's live calls are ended whatever their lease (a worker that
    restarts under the same id knows it holds none of them any more).
    """
    ended: list[str] = []
    async with write_transaction(db) as session:
        query = select(Call).where(Call.status.in_(ACTIVE_VALUES))
        query = query.where(Call.lease_owner == owner) if owner else query.where(Call.lease_expires_at < now)
        calls = list((await session.scalars(query.limit(limit).with_for_update(skip_locked=True))).all())
        for call in calls:
            attempt = await _latest_attempt(session, call.id)
            lost_owner = call.lease_owner
            result = AttemptResult(
                end_reason=EndReason.WORKER_LOST,
                answered=call.status == CallStatus.IN_PROGRESS,
                error=f"worker {lost_owner} stopped while the call was {call.status}",
            )
            await end_attempt(session, call, attempt, result, now)
            ended.append(call.id)
        if owner:
            await session.execute(
                update(Call)
                .where(Call.lease_owner == owner, Call.status.in_(PENDING_VALUES))
                .values(lease_owner=None, lease_expires_at=None)
                .execution_options(synchronize_session=False)
            )
    if ended:
        log.warning("ended %d call(s) of lost workers as worker_lost", len(ended))
    return ended
