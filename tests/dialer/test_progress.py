"""Progress writes: calls share transactions, each call keeps its order, a bad write harms no other."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.dialer.attempts import LOCKED
from outdial.dialer.progress import ProgressWriter
from outdial.dialer.worker import Worker
from outdial.lifecycle import TERMINAL, EndReason
from outdial.store.db import Database
from outdial.store.models import Call, CallEvent
from tests.dialer.support import (
    Script,
    ScriptedPlacer,
    attempts_of,
    fast_settings,
    load,
    make_calls,
    make_org,
    running,
    wait_for,
    wait_status,
)


async def test_a_burst_of_calls_shares_progress_transactions(db: Database) -> None:
    org = await make_org(db)
    calls = await make_calls(db, org, 20, notify=True)
    placer = ScriptedPlacer()
    worker = Worker(db, fast_settings(), placer)
    async with running(worker):

        async def all_ended() -> bool:
            async with db.session() as s:
                rows = list(await s.scalars(select(Call.status).where(Call.org_id == org.id)))
            return all(r == "completed" for r in rows)

        await wait_for(all_ended, within=30)
    # sip Call-ID, ringing, answered and the end: 80 writes, far fewer commits
    assert worker.progress.batches < 40, worker.progress.batches
    async with db.session() as s:
        for call in calls:
            events = list(
                await s.scalars(
                    select(CallEvent.status).where(CallEvent.call_id == call.id).order_by(CallEvent.id)
                )
            )
            assert events == ["dialing", "ringing", "in_progress", "completed"], events


def _set_error(call_id: str, text: str, fail: bool = False):  # type: ignore[no-untyped-def]
    async def job(session: AsyncSession) -> None:
        assert call_id in session.info[LOCKED]  # the batch locked it before the job ran
        call = await session.get(Call, call_id)
        assert call is not None
        call.error = (call.error or "") + text
        if fail:
            raise RuntimeError("a bad write")

    return job


async def test_a_failing_write_does_not_hold_back_other_calls(db: Database) -> None:
    org = await make_org(db)
    good, bad, other = await make_calls(db, org, 3)
    writer = ProgressWriter(db)
    writer.put(good.id, "a1", _set_error(good.id, "a"))
    writer.put(bad.id, "a2", _set_error(bad.id, "x", fail=True))
    writer.put(good.id, "a1", _set_error(good.id, "b"))
    done = writer.put_last(other.id, "a3", _set_error(other.id, "c"))
    await done
    await writer.close()
    assert (await load(db, good.id)).error == "ab"  # in order, once (the failed batch rolled back)
    assert (await load(db, other.id)).error == "c"
    assert (await load(db, bad.id)).error is None


async def test_the_sip_call_id_of_a_call_that_never_rang_is_written_with_its_end(db: Database) -> None:
    org = await make_org(db)
    [call] = await make_calls(db, org)
    placer = ScriptedPlacer(Script(ring_after=None, fail=EndReason.BUSY, fail_status=486))
    async with running(Worker(db, fast_settings(), placer)):
        await wait_status(db, call.id, *TERMINAL)
    [attempt] = await attempts_of(db, call.id)
    assert (attempt.sip_call_id, attempt.end_reason) == (f"sip-{call.id}-1", "busy")
