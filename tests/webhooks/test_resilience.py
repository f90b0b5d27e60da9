"""Nothing is lost when a sender dies, nothing is sent twice by several senders, ids never skip."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from outdial.calls.transitions import record_event
from outdial.config import Settings
from outdial.lifecycle import EventType
from outdial.store.db import Database
from outdial.store.models import Call
from outdial.webhooks.config import WebhookSettings
from outdial.webhooks.models import WebhookCursor, WebhookEndpoint
from outdial.webhooks.outbox import advance
from tests.support.procs import OwnedProcess
from tests.webhooks.conftest import Calls, SenderFactory, Tenant, eventually
from tests.webhooks.receiver import Received, Receiver, Reply
from tests.webhooks.test_delivery import add_endpoint, deliveries

ROOT = Path(__file__).resolve().parents[2]


def spawn_sender(db_url: str, data_dir: Path) -> OwnedProcess:
    proc = OwnedProcess(
        [sys.executable, "-m", "tests.webhooks.sender_main", db_url, str(data_dir)],
        cwd=str(ROOT),
        stdout=subprocess.PIPE,
    )
    assert proc.proc.stdout is not None
    assert proc.proc.stdout.readline().strip() == b"ready"
    return proc


def kill(proc: OwnedProcess) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


async def test_sender_killed_mid_delivery_still_delivers_with_the_same_id(
    db: Database, db_url: str, settings: Settings, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    def stuck_first(_r: Received, i: int) -> Reply:
        return Reply(hang=True) if i == 0 else Reply(200)

    async with Receiver(stuck_first) as rx:
        proc = spawn_sender(db_url, settings.data_dir)
        try:
            call_id = await calls.create(tenant.org_id, callback_url=rx.url)
            await calls.complete(call_id)
            [first] = await rx.wait_for(1, within=20)  # the subprocess claimed and sent it...
            kill(proc)  # ...and dies before hearing back
        finally:
            proc.stop()
        [d] = await deliveries(db)
        assert d.status == "delivering"  # claimed by a process that no longer exists
        await start_sender()  # takes it over once the dead sender's lease (1 s) runs out
        _, second = await rx.wait_for(2, within=20)
        await eventually(lambda: _callback_delivered(calls, call_id))
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    [d] = await deliveries(db)
    assert d.status == "succeeded"


async def test_status_changes_while_no_sender_runs_are_delivered_by_the_next_one(
    db: Database, db_url: str, settings: Settings, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    async with Receiver() as rx:
        proc = spawn_sender(db_url, settings.data_dir)
        try:
            first = await calls.create(tenant.org_id, callback_url=rx.url)
            await calls.complete(first)
            await rx.wait_for(1, within=20)
            kill(proc)  # SIGKILL: no shutdown of any kind
        finally:
            proc.stop()
        second = await calls.create(tenant.org_id, callback_url=rx.url)
        await calls.complete(second)  # committed with no sender alive
        await asyncio.sleep(0.2)
        assert rx.count == 1
        await start_sender()
        await eventually(lambda: _callback_delivered(calls, second), within=20)
        await eventually(lambda: _callback_delivered(calls, first), within=20)
    by_call: dict[str, set[str]] = {}
    for r in rx.received:
        by_call.setdefault(json.loads(r.body)["data"]["id"], set()).add(r.headers["webhook-id"])
    # The first may arrive twice (killed before it recorded the 200), but as one logical message.
    assert set(by_call) == {first, second}
    assert all(len(ids) == 1 for ids in by_call.values())


async def _callback_delivered(calls: Calls, call_id: str) -> bool:
    call = await calls.get(call_id)
    return bool(call and call.callback_delivered)


async def test_several_senders_never_send_the_same_message_twice(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    n = 30
    async with Receiver() as rx:
        await add_endpoint(db, tenant.org_id, rx.url, ["call.queued", "call.ended"])
        for _ in range(3):
            await start_sender()
        ids = await asyncio.gather(*(calls.create(tenant.org_id, callback_url=rx.url) for _ in range(n)))
        await asyncio.gather(*(calls.complete(i) for i in ids))
        await rx.wait_for(3 * n, within=30)
        await asyncio.sleep(0.5)
    webhook_ids = [r.headers["webhook-id"] for r in rx.received]
    assert len(webhook_ids) == 3 * n == len(set(webhook_ids))
    assert all(d.status == "succeeded" for d in await deliveries(db))


async def test_an_event_committed_after_a_later_one_is_not_skipped(
    db: Database, db_url: str, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite commits in id order (one writer); PostgreSQL sequences do not")
    async with Receiver() as rx:
        await add_endpoint(db, tenant.org_id, rx.url, ["call.queued"])
        early_id = await calls.create(tenant.org_id)
        await start_sender()
        await rx.wait_for(1)
        async with db.sessionmaker() as slow:
            await slow.begin()
            call = await slow.get(Call, early_id)
            assert call is not None
            record_event(slow, call, EventType.CALL_QUEUED, data={"slow": True})
            await slow.flush()  # takes the next id, not committed yet
            later = await calls.create(tenant.org_id)  # takes a higher id and commits first
            got = await rx.wait_for(2)
            assert json.loads(got[1].body)["data"]["id"] == later
            await asyncio.sleep(0.2)
            await slow.commit()
        got = await rx.wait_for(3)
    assert json.loads(got[2].body)["data"]["details"] == {"slow": True}


def test_cursor_waits_at_a_gap_and_gives_up_after_the_timeout() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    c = WebhookCursor(name="fanout", last_event_id=0, high_event_id=0, gaps={})
    advance(c, [1, 2, 5], [], t0, timeout=120)
    assert (c.last_event_id, c.high_event_id, sorted(c.gaps)) == (2, 5, ["3", "4"])
    advance(c, [6], [3], t0 + timedelta(seconds=10), timeout=120)
    assert (c.last_event_id, c.high_event_id, sorted(c.gaps)) == (3, 6, ["4"])
    advance(c, [], [], t0 + timedelta(seconds=121), timeout=120)  # 4 was rolled back
    assert (c.last_event_id, c.gaps) == (6, {})


def test_a_new_cursor_does_not_wait_for_ids_before_the_first_event_it_sees() -> None:
    c = WebhookCursor(name="fanout", last_event_id=0, high_event_id=0, gaps={})
    advance(c, [166, 168], [], datetime(2026, 1, 1, tzinfo=UTC), timeout=120)
    assert (c.last_event_id, c.high_event_id, sorted(c.gaps)) == (166, 168, ["167"])


async def test_retries_stop_after_the_tenth_attempt(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory, fast: WebhookSettings
) -> None:
    # The full schedule (about three days) shrunk to about 2.6 s.
    quick = fast.model_copy(update={"retry_scale": 0.00001})
    async with Receiver(lambda _r, _i: Reply(500)) as rx:
        await add_endpoint(db, tenant.org_id, rx.url, ["call.queued"])
        await start_sender(webhook_settings=quick)
        await calls.create(tenant.org_id)
        await eventually(lambda: _all_failed(db), within=20)
        assert rx.count == 10
    [d] = await deliveries(db)
    assert d.attempt_count == 10 and d.last_status_code == 500 and d.next_attempt_at is None


async def _all_failed(db: Database) -> bool:
    ds = await deliveries(db)
    return bool(ds) and all(d.status == "failed" for d in ds)


async def test_an_endpoint_failing_for_24_hours_is_marked_failing_and_recovers(
    db: Database, tenant: Tenant, calls: Calls, start_sender: SenderFactory
) -> None:
    answers = {"status": 500}
    async with Receiver(lambda _r, _i: Reply(answers["status"])) as rx:
        ep = await add_endpoint(db, tenant.org_id, rx.url, ["call.queued"])
        async with db.transaction() as s:
            since = datetime.now(UTC) - timedelta(hours=25)
            await s.execute(
                update(WebhookEndpoint).where(WebhookEndpoint.id == ep.id).values(failing_since=since)
            )
        await start_sender()
        await calls.create(tenant.org_id)
        await rx.wait_for(1)
        await eventually(lambda: _endpoint_status(db, ep.id, "failing"))
        answers["status"] = 200
        await eventually(lambda: _endpoint_status(db, ep.id, "active"))


async def _endpoint_status(db: Database, endpoint_id: str, status: str) -> bool:
    async with db.session() as s:
        row = (await s.execute(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))).scalar_one()
        return row.status == status and (status != "active" or row.failing_since is None)


async def test_a_deleted_endpoint_takes_its_pending_deliveries_with_it(
    db: Database, tenant: Tenant, calls: Calls
) -> None:
    ep = await add_endpoint(db, tenant.org_id, "https://hooks.example.com/", ["call.queued"])
    from outdial.webhooks.outbox import fan_out

    await calls.create(tenant.org_id)
    s = Settings(data_dir=Path("/nonexistent"), allow_private_webhooks=True)
    claimed: list[str] = []
    for _ in range(2):  # the first round creates the cursor row when the database has none yet
        claimed += [j.id for j in (await fan_out(db, s, WebhookSettings(), owner="t")).jobs]
    assert len(claimed) == 1
    async with db.transaction() as session:
        row = await session.get(WebhookEndpoint, ep.id)
        await session.delete(row)
    assert await deliveries(db) == []


async def test_postgresql_senders_wake_on_notify_rather_than_the_next_poll(
    db: Database,
    db_url: str,
    tenant: Tenant,
    calls: Calls,
    start_sender: SenderFactory,
    fast: WebhookSettings,
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    async with Receiver() as rx:
        await add_endpoint(db, tenant.org_id, rx.url, ["call.queued"])
        await start_sender(webhook_settings=fast.model_copy(update={"poll_seconds": 5.0}))
        await asyncio.sleep(0.3)  # the sender is idle, its next poll seconds away
        t0 = asyncio.get_running_loop().time()
        await calls.create(tenant.org_id)
        await rx.wait_for(1, within=3)
        assert asyncio.get_running_loop().time() - t0 < 1.0
