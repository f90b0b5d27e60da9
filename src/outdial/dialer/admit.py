"""Admission: the one transaction that turns a claimed call into ``dialing``, within every limit.

Limits checked here, under locks so that they hold across workers:
- per-org maximum concurrent calls (``Organization.settings["max_concurrent_calls"]``), counted in the
  database under a transaction lock on the org;
- per-trunk ``max_concurrent_calls``, counted under the lock of the trunk's pacing row;
- per-trunk ``calls_per_second``, as a shared GCRA (the trunk's theoretical arrival time), so calls
  are spaced ``1/cps`` apart whichever worker dials them.
The attempt row is written and ``dialing`` committed here, before any INVITE leaves.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.calls.transitions import change_status
from outdial.dialer.claim import Claimed, hold_for_window, lease, lock_due
from outdial.dialer.models import TrunkPace
from outdial.dialer.pacing import gcra
from outdial.dialer.placer import CallSnapshot, TrunkSnapshot
from outdial.dialer.txn import advisory_lock, write_transaction
from outdial.lifecycle import ACTIVE, PENDING, CallStatus
from outdial.store.db import Database
from outdial.store.models import Call, CallAttempt, Organization, SipTrunk
from outdial.store.types import new_id

ACTIVE_VALUES = [s.value for s in ACTIVE]


@dataclass(frozen=True, slots=True)
class Admitted:
    call: CallSnapshot
    send_at: datetime  # the INVITE leaves at this instant (its calls-per-second slot), not before


@dataclass(frozen=True, slots=True)
class Wait:
    """The trunk's calls-per-second allows the next dial in ``seconds``; the lease is kept."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Blocked:
    """A concurrency limit is reached (``kind`` "org" or "trunk", ``key`` its id); the lease is given back."""

    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class Gone:
    """Nothing to dial: canceled, rescheduled for its window, or no longer this worker's."""

    reason: str


Admission = Admitted | Wait | Blocked | Gone


async def live_calls(session: AsyncSession, *, org_id: str | None = None, trunk_id: str | None = None) -> int:
    query = select(func.count()).select_from(Call).where(Call.status.in_(ACTIVE_VALUES))
    if org_id is not None:
        query = query.where(Call.org_id == org_id)
    if trunk_id is not None:
        query = query.where(Call.trunk_id == trunk_id)
    return int(await session.scalar(query) or 0)


async def _lock_pace_row(session: AsyncSession, trunk_id: str) -> TrunkPace:
    dialect = session.get_bind().dialect.name
    ins: Any = pg_insert(TrunkPace) if dialect == "postgresql" else sqlite_insert(TrunkPace)
    await session.execute(ins.values(trunk_id=trunk_id, tat=None).on_conflict_do_nothing())
    pace = await session.scalar(
        select(TrunkPace)
        .where(TrunkPace.trunk_id == trunk_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert pace is not None
    return pace


def _release(call: Call) -> None:
    call.lease_owner = None
    call.lease_expires_at = None


async def admit(
    db: Database, worker_id: str, call_id: str, *, now: datetime, lease_seconds: float
) -> Admission:
    """Check the call is still this worker's and due, check the limits, and commit ``dialing``."""
    async with write_transaction(db) as session:
        call = await session.scalar(
            select(Call).where(Call.id == call_id).with_for_update().execution_options(populate_existing=True)
        )
        if call is None or CallStatus(call.status) not in PENDING:
            return Gone("not pending")
        if call.lease_owner != worker_id:
            return Gone("lease lost")
        org = await session.get(Organization, call.org_id)
        org_settings: dict[str, Any] = dict(org.settings or {}) if org else {}
        if hold_for_window(session, call, org_settings, now):
            return Gone("calling window closed")

        org_max = org_settings.get("max_concurrent_calls")
        if org_max is not None:
            await advisory_lock(session, f"outdial:org:{call.org_id}")
            if await live_calls(session, org_id=call.org_id) >= int(org_max):
                _release(call)
                return Blocked("org", call.org_id)

        slot = now
        trunk = await session.get(SipTrunk, call.trunk_id) if call.trunk_id else None
        if trunk is not None and (trunk.max_concurrent_calls is not None or trunk.calls_per_second):
            pace = await _lock_pace_row(session, trunk.id)
            if trunk.max_concurrent_calls is not None:
                if await live_calls(session, trunk_id=trunk.id) >= trunk.max_concurrent_calls:
                    _release(call)
                    return Blocked("trunk", trunk.id)
            if trunk.calls_per_second:
                decision = gcra(pace.tat, now, trunk.calls_per_second)
                if decision.wait_seconds > 0:
                    return Wait(decision.wait_seconds)
                pace.tat = decision.new_tat
                slot = decision.slot or now

        return dial(session, call, trunk, worker_id, slot, lease_seconds)


def dial(
    session: AsyncSession,
    call: Call,
    trunk: SipTrunk | None,
    worker_id: str,
    at: datetime,
    lease_seconds: float,
) -> Admitted:
    """Commit-to-be of one attempt: its row, the call ``dialing`` under this worker's lease."""
    number = call.attempt_count + 1
    attempt = CallAttempt(
        id=new_id(),
        call_id=call.id,
        number=number,
        worker_id=worker_id,
        status=CallStatus.DIALING.value,
        dialed_at=at,
    )
    session.add(attempt)
    change_status(
        session,
        call,
        CallStatus.DIALING,
        at=at,
        data={"attempt": number},
        attempt_count=number,
        dialed_at=at,
        answered_at=None,
        ended_at=None,
        duration_seconds=None,
        lease_owner=worker_id,
        lease_expires_at=at + timedelta(seconds=lease_seconds),
    )
    return Admitted(snapshot(call, attempt, trunk), send_at=at)


async def claim_and_admit(
    db: Database,
    worker_id: str,
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    skip_trunks: Collection[str] = (),
    skip_orgs: Collection[str] = (),
) -> tuple[list[Admitted], list[Claimed]]:
    """Claim due calls in one transaction, and dial at once those no limit applies to.

    Calls of an org with a concurrency limit, or on a trunk with a concurrency or calls-per-second
    limit, are only leased; each goes through :func:`admit` (which checks the limits under locks).
    The rest — the common case — become ``dialing`` in this same transaction: one commit from
    queued to INVITE.
    """
    if limit <= 0:
        return [], []
    async with write_transaction(db) as session:
        due = await lock_due(session, now=now, limit=limit, skip_trunks=skip_trunks, skip_orgs=skip_orgs)
        paced = {d.trunk.id for d in due if d.trunk is not None and d.trunk.calls_per_second}
        admitted: list[Admitted] = []
        claimed: list[Claimed] = []
        for d in due:
            trunk = d.trunk
            limited = d.org.get("max_concurrent_calls") is not None or (
                trunk is not None and (trunk.max_concurrent_calls is not None or bool(trunk.calls_per_second))
            )
            if limited:
                claimed.append(lease(d.call, worker_id, now, lease_seconds, paced))
            else:
                admitted.append(dial(session, d.call, trunk, worker_id, now, lease_seconds))
    return admitted, claimed


def snapshot(call: Call, attempt: CallAttempt, trunk: SipTrunk | None) -> CallSnapshot:
    return CallSnapshot(
        id=call.id,
        org_id=call.org_id,
        attempt_id=attempt.id,
        attempt_number=attempt.number,
        to_number=call.to_number,
        from_number=call.from_number,
        agent_id=call.agent_id,
        agent_config=dict(call.agent_config or {}),
        variables=dict(call.variables or {}),
        call_context=call.call_context,
        sip_headers=dict(call.sip_headers or {}),
        ring_timeout_seconds=call.ring_timeout_seconds,
        max_duration_seconds=call.max_duration_seconds,
        max_hold_seconds=call.max_hold_seconds,
        trunk=TrunkSnapshot(
            id=trunk.id,
            address=trunk.address,
            transport=trunk.transport,
            username=trunk.username,
            password=trunk.password,
            media_encryption=trunk.media_encryption,
            calls_per_second=trunk.calls_per_second,
        )
        if trunk is not None
        else None,
        media_encryption=call.media_encryption,
        transport=call.transport,
        request_metadata=call.request_metadata,
    )
