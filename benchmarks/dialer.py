"""Dialer: queued → INVITE on the wire latency, and sustained calls per second into a sipp UAS.

Two dialer worker processes (``python -m outdial.dialer --no-agent``) share a fresh PostgreSQL
database; sipp is the trunk (answers at once, the callee hangs up shortly after) and traces every
message it receives, with its arrival time.

* Latency: calls are queued one at a time (each in its own transaction, waking the dialers with
  NOTIFY, 250 ms apart so the dialers are otherwise idle). Measured from the moment the queuing transaction
  has committed to the instant sipp read the INVITE off the wire. Target p99 ≤ 100 ms.
* Throughput: a burst of calls is queued in one transaction; calls per second is their number over
  the time from that commit to the last of their INVITEs at sipp. Target ≥ 50/s.
* Double dials: SIP transactions beyond one per (call, attempt) seen by sipp, plus INVITEs for an
  attempt the database never recorded. Target 0.

* Worker CPU per call: user + system CPU of both worker processes (``/proc``), per call, for the
  one-at-a-time phase (idle time between calls included) and for the burst.

    .venv/bin/python benchmarks/dialer.py [--quick] [--json] [--pg URL] [--profile DIR]

``--pg`` is an admin URL whose server gets a temporary database (default: $OUTDIAL_TEST_PG or
postgresql://postgres@127.0.0.1:5432/test). ``--profile DIR`` runs each worker under cProfile
(``DIR/worker-N.prof``, written when it stops).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dialer.sipp_trunk import SippTrunk, answer, start_trunk  # noqa: E402
from tests.support.procs import OwnedProcess  # noqa: E402

from outdial.dialer.models import DialerWorker  # noqa: E402
from outdial.dialer.notify import notify_new_call  # noqa: E402
from outdial.lifecycle import TERMINAL  # noqa: E402
from outdial.store.db import Database  # noqa: E402
from outdial.store.migrate import upgrade_async  # noqa: E402
from outdial.store.models import Call, CallAttempt, Organization, SipTrunk  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "dialer.json"
PG_ADMIN = os.environ.get("OUTDIAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
WORKERS = 2
LATENCY_SPACING_S = 0.25  # one call at a time: the dialer is idle when each arrives
TERMINAL_VALUES = [s.value for s in TERMINAL]
WORKER_ENV = {"OUTDIAL_DIALER_MAX_LIVE_CALLS": "300", "OUTDIAL_DIALER_POLL_SECONDS": "1"}


async def _admin(sql: str, admin: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


async def _wait(predicate: Any, within: float, every: float = 0.1) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached in time")
        await asyncio.sleep(every)


async def _count(db: Database, *where: Any) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(Call).where(*where)) or 0)


def _new_call(org: Organization, trunk: SipTrunk, i: int) -> Call:
    return Call(
        org_id=org.id,
        trunk_id=trunk.id,
        status="queued",
        to_number=f"+1212555{i % 10000:04d}",
        from_number="+12125550100",
        agent_config={"name": "bench"},
    )


async def measure(
    db: Database,
    trunk_row: SipTrunk,
    org: Organization,
    sipp: SippTrunk,
    n_latency: int,
    n_burst: int,
    cpu: Any = lambda: 0.0,
):
    # --- latency: one call at a time ---------------------------------------------------------
    cpu_start = cpu()
    queued_at: dict[str, datetime] = {}
    for i in range(n_latency):
        async with db.transaction() as s:
            call = _new_call(org, trunk_row, i)
            s.add(call)
            await notify_new_call(s)
        queued_at[call.id] = datetime.now(UTC)
        await asyncio.sleep(LATENCY_SPACING_S)
    await _wait(lambda: _all_dialed(db, list(queued_at)), within=60)
    await _wait(lambda: _all_ended(db, org), within=60)
    cpu_latency = cpu() - cpu_start

    # --- throughput: a burst -----------------------------------------------------------------
    burst: list[str] = []
    async with db.transaction() as s:
        for i in range(n_burst):
            call = _new_call(org, trunk_row, n_latency + i)
            s.add(call)
            await s.flush()
            burst.append(call.id)
        await notify_new_call(s)
    burst_committed = datetime.now(UTC)
    await _wait(lambda: _all_dialed(db, burst), within=300, every=0.2)
    await _wait(lambda: _all_ended(db, org), within=120, every=0.2)
    cpu_burst = cpu() - cpu_start - cpu_latency
    await asyncio.sleep(0.5)  # sipp flushes its trace

    invites = sipp.invites()
    first_seen: dict[str, datetime] = {}
    for inv in invites:
        if inv.call_id and inv.received_at and inv.attempt == 1:
            first_seen[inv.call_id] = min(first_seen.get(inv.call_id, inv.received_at), inv.received_at)
    latencies = [
        (first_seen[cid] - t).total_seconds() * 1000 for cid, t in queued_at.items() if cid in first_seen
    ]
    burst_times = [first_seen[cid] for cid in burst if cid in first_seen]
    span = (max(burst_times) - burst_committed).total_seconds() if burst_times else float("nan")

    async with db.session() as s:
        rows = list(await s.scalars(select(CallAttempt)))
        attempts = {(a.call_id, a.number) for a in rows}
        dialed_at = {a.call_id: a.dialed_at for a in rows if a.number == 1 and a.dialed_at}
        statuses = dict(
            (
                await s.execute(
                    select(Call.status, func.count()).where(Call.org_id == org.id).group_by(Call.status)
                )
            ).all()
        )
    dials = sipp.dials_per_attempt()
    double = sum(len(v) - 1 for v in dials.values() if len(v) > 1)
    unknown = sum(1 for k in dials if k not in attempts)
    # dialed_at is the instant the worker's claiming transaction began (the attempt's timestamp).
    to_dialing = [(dialed_at[c] - t).total_seconds() * 1000 for c, t in queued_at.items() if c in dialed_at]
    to_wire = [
        (first_seen[c] - dialed_at[c]).total_seconds() * 1000
        for c in queued_at
        if c in dialed_at and c in first_seen
    ]
    return {
        "queue_to_dialing_p50_ms": round(percentile(to_dialing, 50), 1),
        "queue_to_dialing_p99_ms": round(percentile(to_dialing, 99), 1),
        "dialing_to_invite_p50_ms": round(percentile(to_wire, 50), 1),
        "dialing_to_invite_p99_ms": round(percentile(to_wire, 99), 1),
        "latency_calls": n_latency,
        "latency_seen": len(latencies),
        "queue_to_invite_p50_ms": round(percentile(latencies, 50), 1),
        "queue_to_invite_p99_ms": round(percentile(latencies, 99), 1),
        "queue_to_invite_max_ms": round(max(latencies), 1) if latencies else None,
        "burst_calls": n_burst,
        "burst_seen": len(burst_times),
        "burst_seconds": round(span, 2),
        "calls_per_s": round(len(burst_times) / span, 1) if burst_times and span > 0 else 0.0,
        "double_dials": double + unknown,
        # CPU of both workers per call: one call at a time (idle time between calls included), and
        # in the burst (from its commit until every call has ended)
        "worker_cpu_ms_per_call_latency": round(cpu_latency * 1000 / n_latency, 2),
        "worker_cpu_ms_per_call_burst": round(cpu_burst * 1000 / n_burst, 2),
        "statuses": statuses,
    }


async def _all_dialed(db: Database, ids: list[str]) -> bool:
    return await _count(db, Call.id.in_(ids), Call.attempt_count == 0) == 0


async def _all_ended(db: Database, org: Organization) -> bool:
    return await _count(db, Call.org_id == org.id, Call.status.not_in(TERMINAL_VALUES)) == 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_workers(url: str, logs: Path, profile: Path | None = None) -> list[OwnedProcess]:
    procs = []
    for i in range(WORKERS):
        args = [sys.executable]
        if profile is not None:  # cProfile of each worker, written when it stops
            args += ["-m", "cProfile", "-o", str(profile / f"worker-{i}.prof")]
        args += ["-m", "outdial.dialer", "--database-url", url, "--worker-id", f"bench-{i}"]
        args += ["--no-agent", "--no-migrate", "--log-level", "warning"]
        with (logs / f"worker-{i}.log").open("wb") as out:
            procs.append(
                OwnedProcess(
                    args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **WORKER_ENV}, cwd=ROOT
                )
            )
    return procs


async def run(quick: bool, admin: str, profile: Path | None = None) -> dict[str, Any]:
    n_latency, n_burst = (60, 300) if quick else (200, 1500)
    name = f"outdial_bench_dialer_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"', admin)
    url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    tmp = Path(tempfile.mkdtemp(prefix="outdial-bench-dialer-"))
    workers: list[OwnedProcess] = []
    sipp: SippTrunk | None = None
    db = Database(url)
    try:
        await upgrade_async(url)
        sipp = start_trunk(tmp, answer(ring_ms=10, talk_ms=200))
        async with db.transaction() as s:
            org = Organization(name="bench")
            s.add(org)
            await s.flush()
            trunk = SipTrunk(org_id=org.id, address=sipp.address)
            s.add(trunk)
        workers = start_workers(url, tmp, profile)

        async def ready() -> bool:
            async with db.session() as s:
                n = await s.scalar(
                    select(func.count()).select_from(DialerWorker).where(DialerWorker.stopped_at.is_(None))
                )
            return n == WORKERS

        await _wait(ready, within=60)
        await asyncio.sleep(1.0)  # LISTEN connections up
        result = await measure(
            db, trunk, org, sipp, n_latency, n_burst, lambda: sum(cpu_seconds(w.proc.pid) for w in workers)
        )
    finally:
        for w in workers:
            w.stop(timeout=15)
        if sipp is not None:
            sipp.stop()
        await db.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin)
    result.update(
        {
            "quick": quick,
            "workers": WORKERS,
            "database": "postgresql",
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "logs": str(tmp),
        }
    )
    return result


def show(result: dict[str, Any], console: Console) -> None:
    table = Table(title="Dialer (2 workers, PostgreSQL, sipp UAS)")
    table.add_column("Measure")
    table.add_column("Figure", justify="right")
    table.add_column("Target", justify="right")
    table.add_row(
        f"queued → INVITE p50 ({result['latency_seen']}/{result['latency_calls']} calls)",
        f"{result['queue_to_invite_p50_ms']} ms",
        "",
    )
    table.add_row("queued → INVITE p99", f"{result['queue_to_invite_p99_ms']} ms", "≤ 100 ms")
    table.add_row(
        "  of which queued → claimed by a worker p50 / p99",
        f"{result['queue_to_dialing_p50_ms']} / {result['queue_to_dialing_p99_ms']} ms",
        "",
    )
    table.add_row(
        "  of which claimed → INVITE at sipp p50 / p99",
        f"{result['dialing_to_invite_p50_ms']} / {result['dialing_to_invite_p99_ms']} ms",
        "",
    )
    table.add_row(
        f"sustained calls/s ({result['burst_seen']}/{result['burst_calls']} in {result['burst_seconds']} s)",
        f"{result['calls_per_s']}",
        "≥ 50",
    )
    table.add_row("double dials", str(result["double_dials"]), "0")
    table.add_row(
        "worker CPU per call: one at a time / in the burst",
        f"{result['worker_cpu_ms_per_call_latency']} / {result['worker_cpu_ms_per_call_burst']} ms",
        "",
    )
    table.add_row("final statuses", json.dumps(result["statuses"]), "")
    table.add_row("load average (1 min)", str(result["load_average_1m"]), "")
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls (60 + a burst of 300)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pg", default=PG_ADMIN, help="admin URL of the PostgreSQL server to use")
    parser.add_argument(
        "--profile", type=Path, help="run the workers under cProfile, writing DIR/worker-N.prof"
    )
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args.quick, args.pg, args.profile))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        keys = ("queue_to_invite_p99_ms", "calls_per_s", "double_dials")
        print(json.dumps({k: result[k] for k in keys}))
    else:
        show(result, Console())


if __name__ == "__main__":
    main()
