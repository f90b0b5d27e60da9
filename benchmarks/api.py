"""Native API: call creations per second (SQLite, one core), GET /v1/calls latency at 1M calls (PostgreSQL).

* Creations: ``POST /v1/calls`` with a fresh SQLite database (WAL, the default deployment), CONCURRENCY
  requests in flight, N calls. Each creation authenticates the key, resolves the agent and the caller
  number, runs the do-not-call and billing checks, writes the call and its ``call.queued`` event, and
  wakes the dialers; on SQLite the creations in flight share one writer thread and one commit per
  batch (``outdial.calls.writer``). Target ≥ 500/s on one core.
  The figure is a real ``outdial api`` process (uvicorn, HTTP/1.1 keep-alive over loopback TCP)
  pinned to one core, the idlest when the run starts; the load generator runs on the other cores, so
  the server's core does nothing but serve. The same creations are also run in-process through the
  ASGI app (``httpx.ASGITransport``) with the client on the same core, for the CPU the app alone takes.
* List (in-process through the ASGI app, no socket): a fresh PostgreSQL database with ROWS calls of
  one organization bulk-loaded by COPY, analyzed; then ``GET /v1/calls`` one request at a time over
  a mix of the first pages and every filter (status, agent_id, to_number, created_before). Target
  p99 ≤ 25 ms at 1,000,000 calls. Deep offsets are timed apart (offset pagination reads every
  skipped row; that row is reported, not part of the p99).

    .venv/bin/python benchmarks/api.py [--quick] [--json] [--pg URL] [--rows N] [--keep-db]

``--quick`` loads 100,000 rows and makes fewer requests (and says so). ``--pg`` is an admin URL whose
server gets a temporary database (default: $OUTDIAL_TEST_PG or postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from outdial.api.app import create_app
from outdial.api.auth import get_or_create_org, issue_key
from outdial.calls.writer import writer_for
from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.migrate import upgrade_async
from outdial.store.models import Agent, PhoneNumber, SipTrunk

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "api.json"
PG_ADMIN = os.environ.get("OUTDIAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CONCURRENCY = 8
AGENTS = 5
CALLEES = 10_000
STATUSES = ("completed", "completed", "completed", "no_answer", "busy", "failed", "canceled", "queued")


@dataclass
class Results:
    quick: bool
    creates: int = 0
    creates_seconds: float = 0.0
    served_creates: int = 0
    served_seconds: float = 0.0
    served_cpu_ms: float = 0.0  # the server process's CPU (all its threads) per creation
    rows: int = 0
    load_seconds: float = 0.0
    list_ms: dict[str, list[float]] = field(default_factory=dict)
    deep_ms: list[float] = field(default_factory=list)
    create_cpu_ms: float = 0.0  # this process's CPU (SQLite threads included) per creation
    list_cpu_ms: float = 0.0  # this process's CPU per list request (PostgreSQL's own CPU not included)
    baseline_ms: list[float] = field(default_factory=list)  # GET /healthz, interleaved with the lists
    notes: list[str] = field(default_factory=list)

    @property
    def creates_per_s(self) -> float:
        return self.creates / self.creates_seconds if self.creates_seconds else 0.0

    @property
    def served_per_s(self) -> float:
        return self.served_creates / self.served_seconds if self.served_seconds else 0.0

    def all_list_ms(self) -> list[float]:
        return [x for samples in self.list_ms.values() for x in samples]


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _idle_ticks() -> dict[int, int]:
    ticks: dict[int, int] = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu":
            ticks[int(name[3:])] = int(fields[3]) + int(fields[4])  # idle + iowait
    return ticks


def pin_to_one_core() -> str:
    """Pin this process (and the SQLite threads it starts) to the core idlest over the last half second."""
    if not hasattr(os, "sched_setaffinity") or not Path("/proc/stat").exists():
        return "not pinned (no sched_setaffinity)"
    before = _idle_ticks()
    time.sleep(0.5)
    after = _idle_ticks()
    core = max(after, key=lambda c: after[c] - before.get(c, 0))
    os.sched_setaffinity(0, {core})
    return f"creations pinned to core {core}"


def idlest_core() -> int | None:
    """The core idlest over the last half second (None where cores cannot be told apart)."""
    if not hasattr(os, "sched_setaffinity") or not Path("/proc/stat").exists():
        return None
    before = _idle_ticks()
    time.sleep(0.5)
    after = _idle_ticks()
    return max(after, key=lambda c: after[c] - before.get(c, 0))


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process, all its threads (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _body(agent_id: str, i: int) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "to_number": f"+1813555{i % CALLEES:04d}",
        "call_context": "Confirm tomorrow's appointment at 2pm.",
        "metadata": {"crm_id": str(i), "campaign": "bench"},
    }


async def _create_many(client: httpx.AsyncClient, headers: dict[str, str], agent_id: str, n: int) -> float:
    """n creations, CONCURRENCY in flight, after a warm-up of 50; returns the seconds they took."""

    async def one(i: int) -> None:
        r = await client.post("/v1/calls", json=_body(agent_id, i), headers=headers)
        if r.status_code != 202:
            raise RuntimeError(f"create failed: {r.status_code} {r.text}")

    for i in range(50):  # warm-up: imports, caches, the connection pool
        await one(i)
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            await one(i)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - start


async def bench_creates_served(res: Results, n: int) -> None:
    """Creations against a real ``outdial api`` process on one core; this process is the client."""
    core = idlest_core()
    with tempfile.TemporaryDirectory(prefix="outdial-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        db = Database.from_settings(settings)
        await upgrade_async(db.url)
        _, api_key, agents = await seed_org(db)
        await db.dispose()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "OUTDIAL_DATA_DIR": tmp, "OPENBLAS_NUM_THREADS": "1"}
        server = await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", "from outdial.cli import main; main()", "api", "--port", str(port)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=(lambda: os.sched_setaffinity(0, {core})) if core is not None else None,
        )
        try:
            if core is not None:
                others = set(range(os.cpu_count() or 1)) - {core}
                os.sched_setaffinity(0, others or {core})
            limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:
                for _ in range(200):
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                headers = {"Authorization": f"Bearer {api_key}"}
                cpu = process_cpu_seconds(server.pid)
                res.served_seconds = await _create_many(client, headers, agents[0], n)
                res.served_cpu_ms = (process_cpu_seconds(server.pid) - cpu) / n * 1000
                res.served_creates = n
        finally:
            server.terminate()  # SIGTERM: a graceful shutdown
            await asyncio.wait_for(server.wait(), 30)
            unpin()
    res.notes.append(f"outdial api pinned to core {core}, the client on the others")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def unpin() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))


async def seed_org(db: Database) -> tuple[str, str, list[str]]:
    """An organization with a key, AGENTS published agents and one verified VoIP number."""
    async with db.transaction() as s:
        org = await get_or_create_org(s, f"bench-{uuid.uuid4().hex[:6]}")
        key = await issue_key(s, org.id)
        agents = [Agent(org_id=org.id, name=f"Agent {i}", published=True, config={}) for i in range(AGENTS)]
        s.add_all(agents)
        trunk = SipTrunk(org_id=org.id, address="127.0.0.1:5060")
        s.add(trunk)
        await s.flush()
        s.add(
            PhoneNumber(
                org_id=org.id,
                number="+14155550100",
                kind="voip",
                trunk_id=trunk.id,
                verified=True,
                outbound_agent_id=agents[0].id,
            )
        )
        await s.flush()
        return org.id, key.api_key, [a.id for a in agents]


async def bench_creates(res: Results, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="outdial-bench-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        db = Database.from_settings(settings)
        await upgrade_async(db.url)
        _, api_key, agents = await seed_org(db)
        app = create_app(settings, db, migrate=False)
        headers = {"Authorization": f"Bearer {api_key}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
        ):
            cpu = cpu_seconds()
            res.creates_seconds = await _create_many(client, headers, agents[0], n)
            res.create_cpu_ms = (cpu_seconds() - cpu) / n * 1000
            res.creates = n
            async with db.session() as s:
                writer = writer_for(s)
            if writer is not None and writer.stats.batches:
                res.notes.append(
                    f"SQLite writer: {writer.stats.jobs / writer.stats.batches:.1f} creations per commit "
                    f"on average, {writer.stats.largest_batch} at most (warm-up included)"
                )
        await db.dispose()


async def bulk_load(url: str, org_id: str, agents: list[str], rows: int) -> None:
    """COPY ``rows`` calls of ``org_id`` (one second apart, newest now), then ANALYZE."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        now = datetime.now(UTC)
        columns = [
            "id", "org_id", "agent_id", "agent_config", "source", "to_number", "from_number", "status",
            "end_reason", "request_metadata", "variables", "sip_headers", "ring_timeout_seconds",
            "max_duration_seconds", "attempt_count", "created_at", "updated_at", "callback_delivered",
            "duration_seconds",
        ]  # fmt: skip
        end_reasons = {"completed": "callee_hangup", "no_answer": "no_answer", "busy": "busy",
                       "failed": "trunk_error", "canceled": "canceled", "queued": None}  # fmt: skip
        batch = 50_000
        for start in range(0, rows, batch):
            records = []
            for i in range(start, min(rows, start + batch)):
                status = STATUSES[i % len(STATUSES)]
                created = now - timedelta(seconds=rows - i)
                records.append(
                    (
                        str(uuid.uuid4()), org_id, agents[i % AGENTS], "{}", "native",
                        f"+1813555{i % CALLEES:04d}", "+14155550100", status, end_reasons[status],
                        '{"crm_id": "%d"}' % i, "{}", "{}", 45, 600, 1, created, created, False,  # noqa: UP031
                        60 if status == "completed" else None,
                    )
                )  # fmt: skip
            await conn.copy_records_to_table("calls", records=records, columns=columns)
        await conn.execute("VACUUM ANALYZE calls")
    finally:
        await conn.close()


async def measure_list(
    res: Results, db: Database, api_key: str, agents: list[str], rows: int, requests: int
) -> None:
    """GET /v1/calls through the app, one request at a time, over the query mix."""
    settings = Settings(data_dir=Path(tempfile.gettempdir()) / "outdial-bench", database_url=db.url)
    app = create_app(settings, db, migrate=False)
    headers = {"Authorization": f"Bearer {api_key}"}
    rng = random.Random(7)
    newest = datetime.now(UTC)
    mix: dict[str, Any] = {
        "first page (limit 50)": lambda: "",
        "limit 100": lambda: "limit=100",
        "pages 2-20": lambda: f"page={rng.randint(2, 20)}",
        "status": lambda: f"status={rng.choice(['completed', 'failed', 'queued', 'busy'])}",
        "agent_id": lambda: f"agent_id={rng.choice(agents)}",
        "to_number": lambda: f"to_number=%2B1813555{rng.randrange(CALLEES):04d}",
        "created_before": lambda: (
            "created_before="
            + (newest - timedelta(seconds=rng.randrange(rows))).strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        "status + agent_id": lambda: f"status=completed&agent_id={rng.choice(agents)}",
    }
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):

        async def timed(query: str) -> float:
            start = time.perf_counter()
            r = await client.get(f"/v1/calls?{query}", headers=headers)
            elapsed = (time.perf_counter() - start) * 1000
            if r.status_code != 200:
                raise RuntimeError(f"list failed: {r.status_code} {r.text}")
            return elapsed

        for make in list(mix.values()) * 5:  # warm-up: plans, caches, pool
            await timed(make())
        res.list_ms = {kind: [] for kind in mix}
        cpu = cpu_seconds()
        for _ in range(max(1, requests // len(mix))):  # interleaved, so load swings hit every kind alike
            for kind, make in mix.items():
                res.list_ms[kind].append(await timed(make()))
        res.list_cpu_ms = (cpu_seconds() - cpu) / len(res.all_list_ms()) * 1000
        for _ in range(max(1, requests // len(mix))):  # what the machine gives a request doing nothing
            start = time.perf_counter()
            await client.get("/healthz")
            res.baseline_ms.append((time.perf_counter() - start) * 1000)
        deep_page = max(2, rows // 2 // 50)  # half-way through the org's calls
        res.deep_ms = [await timed(f"page={deep_page}") for _ in range(5)]
        res.notes.append(f"deep page = page {deep_page} of 50 (offset {(deep_page - 1) * 50:,})")


async def bench_list(res: Results, admin: str, rows: int, requests: int, keep: bool) -> None:
    import asyncpg

    name = f"outdial_bench_{uuid.uuid4().hex[:10]}"
    admin_conn = await asyncpg.connect(admin, timeout=5)
    await admin_conn.execute(f'CREATE DATABASE "{name}"')
    await admin_conn.close()
    url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    try:
        await upgrade_async(url)
        db = Database(url)
        org_id, api_key, agents = await seed_org(db)
        t0 = time.perf_counter()
        await bulk_load(url, org_id, agents, rows)
        res.load_seconds = time.perf_counter() - t0
        res.rows = rows
        await measure_list(res, db, api_key, agents, rows, requests)
        await db.dispose()
    finally:
        if keep:
            res.notes.append(f"kept database {name}")
        else:
            admin_conn = await asyncpg.connect(admin, timeout=5)
            await admin_conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin_conn.close()


def render(res: Results, console: Console) -> None:
    table = Table(title="outdial API" + (" (--quick)" if res.quick else ""))
    table.add_column("Measure")
    table.add_column("Figure", justify="right")
    table.add_column("Detail")
    table.add_row(
        "POST /v1/calls (SQLite, outdial api on one core)",
        f"{res.served_per_s:,.0f}/s",
        f"{res.served_creates:,} creations over HTTP, {CONCURRENCY} in flight, {res.served_seconds:.2f} s; "
        f"server CPU {res.served_cpu_ms:.2f} ms per creation",
    )
    table.add_row(
        "  in-process, client on the same core",
        f"{res.creates_per_s:,.0f}/s",
        f"httpx.ASGITransport; CPU {res.create_cpu_ms:.2f} ms per creation, the client's included"
        if res.create_cpu_ms
        else "",
    )
    all_ms = res.all_list_ms()
    if all_ms:
        table.add_row(
            f"GET /v1/calls at {res.rows:,} calls (PostgreSQL)",
            f"p99 {pct(all_ms, 99):.1f} ms",
            f"p50 {pct(all_ms, 50):.1f} ms over {len(all_ms)} requests; load {res.load_seconds:.0f} s",
        )
        for kind, samples in res.list_ms.items():
            table.add_row(f"  {kind}", f"p99 {pct(samples, 99):.1f} ms", f"p50 {pct(samples, 50):.1f} ms")
        table.add_row(
            "  CPU per list request (this process)",
            f"{res.list_cpu_ms:.2f} ms",
            "PostgreSQL's CPU not included",
        )
        table.add_row(
            "  baseline: GET /healthz, same loop",
            f"p99 {pct(res.baseline_ms, 99):.1f} ms",
            f"p50 {pct(res.baseline_ms, 50):.1f} ms (what the machine gives a request that does nothing)",
        )
        table.add_row(
            "  deep offset (not in p99)", f"p50 {statistics.median(res.deep_ms):.1f} ms", "; ".join(res.notes)
        )
    console.print(table)


def summary(res: Results) -> dict[str, Any]:
    all_ms = res.all_list_ms()
    return {
        "creates_per_s": round(res.served_per_s, 1),
        "server_cpu_ms_per_create": round(res.served_cpu_ms, 3),
        "creates_per_s_in_process": round(res.creates_per_s, 1),
        "list_p99_ms": round(pct(all_ms, 99), 2) if all_ms else None,
        "list_p50_ms": round(pct(all_ms, 50), 2) if all_ms else None,
        "list_rows": res.rows,
        "list_requests": len(all_ms),
        "list_by_query_p99_ms": {k: round(pct(v, 99), 2) for k, v in res.list_ms.items()},
        "create_cpu_ms": round(res.create_cpu_ms, 3),
        "list_cpu_ms": round(res.list_cpu_ms, 3),
        "baseline_healthz_p50_ms": round(pct(res.baseline_ms, 50), 2) if res.baseline_ms else None,
        "baseline_healthz_p99_ms": round(pct(res.baseline_ms, 99), 2) if res.baseline_ms else None,
        "deep_offset_p50_ms": round(statistics.median(res.deep_ms), 2) if res.deep_ms else None,
        "creates": res.creates,
        "concurrency": CONCURRENCY,
        "load_seconds": round(res.load_seconds, 1),
        "quick": res.quick,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "notes": res.notes,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="100,000 rows and fewer requests")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--pg", default=PG_ADMIN, help="PostgreSQL admin URL (a temporary database is made)")
    parser.add_argument("--rows", type=int, default=None, help="calls to load (default 1,000,000)")
    parser.add_argument("--keep-db", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args()
    res = Results(quick=args.quick)
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    if rows != 1_000_000:
        res.notes.append(f"{rows:,} rows, not 1,000,000" + (" (--quick)" if args.quick else ""))
    res.notes.append(f"event loop: {type(asyncio.get_running_loop()).__module__.split('.')[0]}")
    await bench_creates_served(res, 1000 if args.quick else 5000)
    res.notes.append(pin_to_one_core())
    await bench_creates(res, 1000 if args.quick else 5000)
    unpin()  # the list client is one event loop anyway; PostgreSQL runs in its own processes
    await bench_list(res, args.pg, rows, 400 if args.quick else 2000, args.keep_db)
    out = summary(res)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    if args.json:
        print(json.dumps(out))
    else:
        render(res, Console())
    return 0


def run(coro: Any) -> int:
    """On uvloop when it is installed, as ``outdial serve`` runs (uvicorn's ``loop="auto"``)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return int(uvloop.run(coro))


if __name__ == "__main__":
    sys.exit(run(main()))
