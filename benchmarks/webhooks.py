"""Webhook delivery: deliveries per second on one core, and event → first attempt latency.

A real ``WebhookSender`` (SQLite in WAL mode, the default deployment; or ``--database-url``) runs in
this process pinned to core 0 and delivers signed ``call.queued`` messages over HTTP/1.1 keep-alive
to a loopback receiver in a separate process pinned to core 1.

* Throughput: N status changes are committed while no sender runs, then a sender starts; the figure is
  N / (time from its start until every delivery is recorded as succeeded). Target ≥ 500/s.
* Latency: with the sender idle, status changes are committed one at a time (at random intervals);
  for each, first attempt's start minus the event's ``created_at``. Target p99 ≤ 200 ms.

    .venv/bin/python benchmarks/webhooks.py [--quick] [--json] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.webhooks.receiver, the receiver the tests use

from sqlalchemy import func, select  # noqa: E402

from outdial.api.auth import get_or_create_org  # noqa: E402
from outdial.calls.transitions import record_event  # noqa: E402
from outdial.config import Settings  # noqa: E402
from outdial.lifecycle import CallStatus, EventType  # noqa: E402
from outdial.store.db import Database  # noqa: E402
from outdial.store.migrate import upgrade_async  # noqa: E402
from outdial.store.models import Call, CallEvent  # noqa: E402
from outdial.webhooks.config import WebhookSettings  # noqa: E402
from outdial.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: E402
from outdial.webhooks.sender import WebhookSender  # noqa: E402
from outdial.webhooks.signing import generate_secret  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "webhooks.json"
SENDER_CORE, RECEIVER_CORE = 0, 1


def _pin(core: int) -> bool:
    if not hasattr(os, "sched_setaffinity") or core >= (os.cpu_count() or 1):
        return False
    os.sched_setaffinity(0, {core})
    return True


def _receiver(port_queue: mp.Queue) -> None:  # type: ignore[type-arg]
    from tests.webhooks.receiver import Receiver

    _pin(RECEIVER_CORE)

    async def serve() -> None:
        rx = await Receiver(keep=False).start()
        port_queue.put(rx.port)
        await asyncio.Event().wait()

    asyncio.run(serve())


async def _setup(db: Database, url: str) -> str:
    async with db.transaction() as s:
        org = await get_or_create_org(s, "bench")
        s.add(
            WebhookEndpoint(
                org_id=org.id,
                url=url,
                events=[EventType.CALL_QUEUED.value],
                enabled=True,
                status="active",
                secret=generate_secret(),
            )
        )
        return org.id


async def _queue_calls(db: Database, org_id: str, n: int) -> None:
    """``n`` calls accepted as the API does: the call row and its call.queued event, one transaction."""
    async with db.transaction() as s:
        for _ in range(n):
            call = Call(
                org_id=org_id,
                to_number="+18135551234",
                from_number="+14155550100",
                status=CallStatus.QUEUED.value,
                request_metadata={"crm_id": "123"},
            )
            s.add(call)
            await s.flush()
            record_event(s, call, EventType.CALL_QUEUED)


async def _count(db: Database, status: str) -> int:
    async with db.session() as s:
        q = select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == status)
        return int((await s.execute(q)).scalar_one())


def _run_sender(
    db: Database, settings: Settings, ws: WebhookSettings
) -> tuple[WebhookSender, asyncio.Task[None]]:
    sender = WebhookSender(db, settings, webhook_settings=ws, purge=False)
    return sender, asyncio.create_task(sender.run())


async def throughput(db: Database, settings: Settings, ws: WebhookSettings, org_id: str, n: int) -> float:
    for start in range(0, n, 500):
        await _queue_calls(db, org_id, min(500, n - start))
    sender, task = _run_sender(db, settings, ws)
    t0 = time.perf_counter()
    while await _count(db, "succeeded") < n:  # noqa: ASYNC110  (polling the database)
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - t0
    await sender.stop()
    await task
    return n / elapsed


async def latency(
    db: Database, settings: Settings, ws: WebhookSettings, org_id: str, samples: int
) -> list[float]:
    async with db.session() as s:
        floor = int((await s.execute(select(func.coalesce(func.max(CallEvent.id), 0)))).scalar_one())
    sender, task = _run_sender(db, settings, ws)
    await asyncio.sleep(0.3)  # idle: caught up, waiting for news
    for _ in range(samples):
        await _queue_calls(db, org_id, 1)
        await asyncio.sleep(random.uniform(0.01, 0.06))
    async with asyncio.timeout(30):
        while True:
            async with db.session() as s:
                rows = (
                    await s.execute(
                        select(CallEvent.created_at, WebhookAttempt.started_at)
                        .join(WebhookDelivery, WebhookDelivery.event_id == CallEvent.id)
                        .join(WebhookAttempt, WebhookAttempt.delivery_id == WebhookDelivery.id)
                        .where(CallEvent.id > floor, WebhookAttempt.number == 1)
                    )
                ).all()
            if len(rows) >= samples:
                break
            await asyncio.sleep(0.05)
    await sender.stop()
    await task
    return [(attempt - created).total_seconds() * 1000 for created, attempt in rows]


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def bench(quick: bool, database_url: str | None) -> dict[str, object]:
    n, samples = (1000, 100) if quick else (5000, 300)
    ctx = mp.get_context("spawn")
    ports: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    receiver = ctx.Process(target=_receiver, args=(ports,), daemon=True)
    receiver.start()
    pinned = _pin(SENDER_CORE)
    try:
        port = ports.get(timeout=30)
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(data_dir=Path(tmp), database_url=database_url, allow_private_webhooks=True)
            db = Database(settings.resolved_database_url)
            await upgrade_async(db.url)
            org_id = await _setup(db, f"http://127.0.0.1:{port}/hook")
            ws = WebhookSettings()
            per_s = await throughput(db, settings, ws, org_id, n)
            lat = await latency(db, settings, WebhookSettings(), org_id, samples)
            await db.dispose()
    finally:
        receiver.terminate()
        receiver.join(5)
    return {
        "deliveries_per_s": round(per_s, 1),
        "first_attempt_p99_ms": round(_p(lat, 0.99), 1),
        "first_attempt_p50_ms": round(statistics.median(lat), 1),
        "first_attempt_max_ms": round(max(lat), 1),
        "deliveries": n,
        "latency_samples": len(lat),
        "database": "postgresql" if database_url and database_url.startswith("postgresql") else "sqlite",
        "pinned_to_one_core": pinned,
        "quick": quick,
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1000 deliveries and 100 latency samples")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    result = asyncio.run(bench(args.quick, args.database_url))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(
            json.dumps(
                {
                    "deliveries_per_s": result["deliveries_per_s"],
                    "first_attempt_p99_ms": result["first_attempt_p99_ms"],
                }
            )
        )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Webhooks ({result['database']}, {'quick' if args.quick else 'full'})")
    table.add_column("Measure")
    table.add_column("Figure", justify="right")
    table.add_column("Target", justify="right")
    table.add_row("Deliveries per second (one core)", f"{result['deliveries_per_s']}", "≥ 500")
    table.add_row("Event → first attempt p99", f"{result['first_attempt_p99_ms']} ms", "≤ 200 ms")
    table.add_row("Event → first attempt p50", f"{result['first_attempt_p50_ms']} ms", "")
    table.add_row("Load average (1 min)", f"{result['load_average']}", "")
    Console().print(table)


if __name__ == "__main__":
    main()
