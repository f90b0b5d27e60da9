"""Claiming due calls: a lease on each, taken in one transaction, never twice.

PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent workers split the due calls between
them without waiting on each other; a claim is a lease (owner + expiry) renewed by heartbeats, so the
calls of a worker that dies become claimable again when it runs out. SQLite: one dialer per database
and ``BEGIN IMMEDIATE``. A claimed call is still ``queued``/``scheduled``: it becomes ``dialing`` only
when it is admitted (see :mod:`outdial.dialer.admit`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from outdial.calls.transitions import change_status
from outdial.dialer.predial import facts, refuse_undialable, with_facts
from outdial.dialer.txn import write_transaction
from outdial.dialer.windows import InvalidWindow, resolve
from outdial.lifecycle import PENDING, CallStatus, EndReason
from outdial.store.db import Database
from outdial.store.models import Call, Organization, SipTrunk

log = logging.getLogger(__name__)

PENDING_VALUES = [s.value for s in PENDING]


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    org_id: str
    trunk_id: str | None
    paced: bool = False  # the trunk has a calls-per-second limit: its calls are admitted in turn


def due_filter(now: datetime) -> Any:
    return and_(
        Call.status.in_(PENDING_VALUES),
        or_(Call.next_attempt_at.is_(None), Call.next_attempt_at <= now),
        or_(Call.scheduled_at.is_(None), Call.scheduled_at <= now),
    )


async def org_settings(session: AsyncSession, org_ids: Collection[str]) -> dict[str, dict[str, Any]]:
    if not org_ids:
        return {}
    rows = await session.execute(
        select(Organization.id, Organization.settings).where(Organization.id.in_(org_ids))
    )
    return {oid: dict(settings or {}) for oid, settings in rows}


def hold_for_window(session: AsyncSession, call: Call, org: Mapping[str, Any], now: datetime) -> bool:
    """Move a call whose calling window is closed to ``scheduled`` at its opening; True if moved.

    A window that can never hold in all the callee's zones ends the call ``failed``.
    """
    try:
        window = resolve(call.calling_window, org.get("calling_window"), call.to_number)
    except InvalidWindow as exc:
        change_status(
            session,
            call,
            CallStatus.FAILED,
            end_reason=EndReason.INTERNAL_ERROR,
            at=now,
            error=f"invalid calling window: {exc}",
            lease_owner=None,
            lease_expires_at=None,
        )
        return True
    if window is None or window.is_open(now):
        return False
    opening = window.next_open(now)
    if opening is None:
        change_status(
            session,
            call,
            CallStatus.FAILED,
            end_reason=EndReason.INTERNAL_ERROR,
            at=now,
            error="the calling window never opens in all of the callee's time zones",
            lease_owner=None,
            lease_expires_at=None,
        )
        return True
    if call.status == CallStatus.SCHEDULED:
        call.next_attempt_at = opening
        call.lease_owner = None
        call.lease_expires_at = None
        call.updated_at = now
    else:
        change_status(
            session,
            call,
            CallStatus.SCHEDULED,
            at=now,
            next_attempt_at=opening,
            lease_owner=None,
            lease_expires_at=None,
        )
    return True


@dataclass(slots=True)
class Due:
    """A due call locked by :func:`lock_due`, with what admitting it needs."""

    call: Call
    org: dict[str, Any]  # the org's settings
    trunk: SipTrunk | None


async def lock_due(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    skip_trunks: Collection[str] = (),
    skip_orgs: Collection[str] = (),
) -> list[Due]:
    """Lock up to ``limit`` due, unleased calls (oldest due first) in ``session``, with their org's
    settings and trunk — one query, which also reads what the pre-dial rules need.

    Calls whose calling window is closed are moved to ``scheduled`` at its opening, and calls the
    pre-dial rules refuse are ended; both are left out.
    """
    query = (
        select(Call, Organization.settings, SipTrunk)
        .outerjoin(Organization, Organization.id == Call.org_id)
        .outerjoin(SipTrunk, SipTrunk.id == Call.trunk_id)
        .where(due_filter(now), or_(Call.lease_owner.is_(None), Call.lease_expires_at < now))
        .order_by(Call.next_attempt_at.asc().nulls_first(), Call.created_at, Call.id)
        .limit(limit)
        .with_for_update(of=Call, skip_locked=True)
    )
    if skip_trunks:
        query = query.where(or_(Call.trunk_id.is_(None), Call.trunk_id.not_in(list(skip_trunks))))
    if skip_orgs:
        query = query.where(Call.org_id.not_in(list(skip_orgs)))
    rows = (await session.execute(with_facts(query))).all()
    found = {row.Call.id: Due(row.Call, dict(row.settings or {}), row.SipTrunk) for row in rows}
    open_now = [
        (row.Call, facts(row))
        for row in rows
        if not hold_for_window(session, row.Call, found[row.Call.id].org, now)
    ]
    return [found[call.id] for call in refuse_undialable(session, open_now, now)]


async def claim_due(
    db: Database,
    worker_id: str,
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    skip_trunks: Collection[str] = (),
    skip_orgs: Collection[str] = (),
) -> list[Claimed]:
    """Lease up to ``limit`` due calls to ``worker_id``, oldest due first.

    Calls whose calling window is closed are moved to ``scheduled`` at the window's opening instead.
    ``skip_trunks``/``skip_orgs`` leave out calls this worker just found blocked by a full trunk or org.
    """
    if limit <= 0:
        return []
    async with write_transaction(db) as session:
        due = await lock_due(session, now=now, limit=limit, skip_trunks=skip_trunks, skip_orgs=skip_orgs)
        paced = {d.trunk.id for d in due if d.trunk is not None and d.trunk.calls_per_second}
        return [lease(d.call, worker_id, now, lease_seconds, paced) for d in due]


def lease(call: Call, worker_id: str, now: datetime, lease_seconds: float, paced: Collection[str]) -> Claimed:
    call.lease_owner = worker_id
    call.lease_expires_at = now + timedelta(seconds=lease_seconds)
    return Claimed(id=call.id, org_id=call.org_id, trunk_id=call.trunk_id, paced=call.trunk_id in paced)


async def release(db: Database, worker_id: str, call_ids: Collection[str]) -> None:
    """Give back the leases of claimed calls that this worker will not dial (stop, full trunk)."""
    if not call_ids:
        return
    async with write_transaction(db) as session:
        calls = await session.scalars(
            select(Call)
            .where(
                Call.id.in_(list(call_ids)), Call.lease_owner == worker_id, Call.status.in_(PENDING_VALUES)
            )
            .with_for_update()
        )
        for call in calls:
            call.lease_owner = None
            call.lease_expires_at = None


def reader(db: Database) -> AsyncEngine:
    """The engine for the dialer's lone reads: autocommit on PostgreSQL (no BEGIN and ROLLBACK round
    trips around one SELECT)."""
    return db.engine if db.is_sqlite else db.engine.execution_options(isolation_level="AUTOCOMMIT")


async def next_due_at(engine: AsyncEngine, now: datetime) -> datetime | None:
    """The earliest future instant a pending call becomes due (to sleep until then)."""
    async with engine.connect() as conn:
        value: datetime | None = await conn.scalar(
            select(Call.next_attempt_at)
            .where(Call.status.in_(PENDING_VALUES), Call.next_attempt_at > now)
            .order_by(Call.next_attempt_at)
            .limit(1)
        )
    return value
