"""Helpers for the dialer tests: a migrated database, rows to dial, and a scripted telephone.

The scripted placer stands in for the SIP network only (it is the far end, not our code); the SIP
placer itself is tested against sipp in test_sip_placer.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from outdial.dialer.notify import notify_new_call
from outdial.dialer.placer import AttemptHandle, AttemptResult, CallSnapshot
from outdial.dialer.settings import DialerSettings
from outdial.dialer.worker import Worker
from outdial.lifecycle import CallStatus, EndReason
from outdial.store.db import Database
from outdial.store.models import Call, CallAttempt, CallEvent, Organization, SipTrunk
from outdial.store.types import utcnow


async def make_org(db: Database, **settings: Any) -> Organization:
    async with db.transaction() as s:
        org = Organization(name=f"org-{time.perf_counter_ns()}", settings=settings)
        s.add(org)
    return org


async def make_trunk(db: Database, org: Organization, **fields: Any) -> SipTrunk:
    fields.setdefault("address", "127.0.0.1:5060")
    async with db.transaction() as s:
        trunk = SipTrunk(org_id=org.id, **fields)
        s.add(trunk)
    return trunk


async def make_calls(
    db: Database,
    org: Organization,
    n: int = 1,
    *,
    trunk: SipTrunk | None = None,
    notify: bool = False,
    **fields: Any,
) -> list[Call]:
    fields.setdefault("to_number", "+12125550123")
    fields.setdefault("from_number", "+12125550100")
    status = fields.pop("status", CallStatus.QUEUED.value)
    calls = []
    async with db.transaction() as s:
        for _ in range(n):
            call = Call(org_id=org.id, trunk_id=trunk.id if trunk else None, status=status, **fields)
            s.add(call)
            calls.append(call)
        if notify:
            await notify_new_call(s)
    return calls


async def load(db: Database, call_id: str) -> Call:
    async with db.session() as s:
        call = await s.get(Call, call_id)
        assert call is not None
        return call


async def attempts_of(db: Database, call_id: str) -> list[CallAttempt]:
    async with db.session() as s:
        rows = await s.scalars(
            select(CallAttempt).where(CallAttempt.call_id == call_id).order_by(CallAttempt.number)
        )
        return list(rows)


async def events_of(db: Database, call_id: str) -> list[CallEvent]:
    async with db.session() as s:
        rows = await s.scalars(select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id))
        return list(rows)


async def wait_for(predicate: Callable[[], Any], within: float = 10.0, every: float = 0.02) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(every)


async def wait_status(db: Database, call_id: str, *statuses: str, within: float = 10.0) -> Call:
    async def check() -> Call | None:
        call = await load(db, call_id)
        return call if call.status in statuses else None

    result: Call = await wait_for(check, within)
    return result


@dataclass
class Script:
    """How the far end behaves for one attempt."""

    ring_after: float | None = 0.01  # 180 Ringing after this long (None: never rings)
    answer_after: float | None = 0.03  # 200 OK after this long (None: never answers)
    talk: float = 0.05  # after the answer, the callee hangs up after this long
    fail: EndReason | None = None  # end before answering with this reason (busy, rejected...)
    fail_status: int | None = None
    human_speech_after: float | None = 0.0  # None: the callee never speaks (IVR, hold music)
    transcript: list[dict[str, Any]] | None = None
    outcome: dict[str, Any] | None = None


@dataclass
class Placed:
    call: CallSnapshot
    at_monotonic: float
    at: datetime
    ended_by_request: EndReason | None = None


@dataclass
class ScriptedPlacer:
    """A far end that follows scripts: per to_number, or per attempt number, else the default."""

    default: Script = field(default_factory=Script)
    by_number: dict[str, Script] = field(default_factory=dict)
    by_attempt: dict[int, Script] = field(default_factory=dict)
    placed: list[Placed] = field(default_factory=list)
    live: dict[str, AttemptHandle] = field(default_factory=dict)
    active: int = 0
    max_active: int = 0

    def script_for(self, call: CallSnapshot) -> Script:
        return self.by_attempt.get(call.attempt_number) or self.by_number.get(call.to_number) or self.default

    async def place(self, call: CallSnapshot, handle: AttemptHandle) -> AttemptResult:
        record = Placed(call=call, at_monotonic=time.monotonic(), at=utcnow())
        self.placed.append(record)
        self.live[call.id] = handle
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            return await self._run(call, handle, record)
        finally:
            self.active -= 1
            self.live.pop(call.id, None)

    async def _until(self, handle: AttemptHandle, seconds: float | None) -> EndReason | None:
        """Sleep ``seconds`` (forever if None) unless an end is requested first."""
        try:
            return await asyncio.wait_for(handle.wait_end_request(), timeout=seconds)
        except TimeoutError:
            return None

    async def _run(self, call: CallSnapshot, handle: AttemptHandle, record: Placed) -> AttemptResult:
        script = self.script_for(call)
        handle.sip_call_id(f"sip-{call.id}-{call.attempt_number}")
        if script.ring_after is not None:
            if (r := await self._until(handle, script.ring_after)) is not None:
                record.ended_by_request = r
                return AttemptResult(end_reason=r, sip_status_code=487)
            handle.ringing()
        if script.fail is not None:
            return AttemptResult(
                end_reason=script.fail, sip_status_code=script.fail_status, error=script.fail.value
            )
        if (r := await self._until(handle, script.answer_after)) is not None:
            record.ended_by_request = r
            return AttemptResult(end_reason=r, sip_status_code=487)
        handle.answered_call("human")
        speech = script.human_speech_after
        if speech is not None and speech <= script.talk:
            if (r := await self._until(handle, speech)) is not None:
                record.ended_by_request = r
                return self._answered(r, script)
            handle.human_speech_detected()
            remaining: float | None = script.talk - speech
        else:
            remaining = script.talk
        if (r := await self._until(handle, remaining)) is not None:
            record.ended_by_request = r
            return self._answered(r, script)
        return self._answered(EndReason.CALLEE_HANGUP, script)

    def _answered(self, reason: EndReason, script: Script) -> AttemptResult:
        return AttemptResult(
            end_reason=reason,
            answered=True,
            sip_status_code=200,
            answered_by="human",
            transcript=script.transcript if script.transcript is not None else [],
            outcome=script.outcome,
            recording_path="/tmp/rec.wav",
        )


def fast_settings(**overrides: Any) -> DialerSettings:
    values: dict[str, Any] = {
        "lease_seconds": 5.0,
        "heartbeat_seconds": 0.3,
        "poll_seconds": 0.1,
        "reap_seconds": 0.2,
        "end_grace_seconds": 1.0,
        "drain_seconds": 3.0,
        "blocked_retry_seconds": 0.1,
    }
    values.update(overrides)
    return DialerSettings(**values)


@asynccontextmanager
async def running(*workers: Worker) -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        for w in workers:
            await asyncio.wait_for(w.listener.connected.wait(), timeout=10)
        yield tasks
    finally:
        for w in workers:
            await w.stop()
        for t in tasks:
            await t
