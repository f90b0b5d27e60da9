"""One running outdial on loopback for an end-to-end test: the API served over real HTTP, the real dialer
Worker with its SipPlacer (agent sessions included), and the simulated callee as the far end.

Everything a test does goes through the REST API (trunk, number, verify-voip, agent, call, cancel);
only the API key is issued straight into the store, as ``outdial keys create`` does. The dialer's clock
is injectable (:class:`ShiftedClock`): wall time plus an offset the test moves. The webhook sender runs
too, as in ``outdial serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select

from outdial.api.auth import get_or_create_org, issue_key
from outdial.callee import CalleeCall, Persona, SimulatedCallee, parse_persona
from outdial.cli.server import build_app
from outdial.config import Settings
from outdial.dialer.settings import DialerSettings
from outdial.dialer.sip_placer import SipPlacer
from outdial.dialer.worker import Worker
from outdial.store.db import Database
from outdial.store.migrate import upgrade_async
from outdial.store.models import CallEvent
from outdial.webhooks.sender import WebhookSender
from tests.support.procs import free_port

TERMINAL = ("completed", "no_answer", "busy", "failed", "canceled")
FROM_NUMBER = "+14155550100"
TO_NUMBER = "+14155550199"

FAST_DIALER = DialerSettings(
    lease_seconds=5.0,
    heartbeat_seconds=0.5,
    poll_seconds=0.1,
    reap_seconds=0.5,
    end_grace_seconds=3.0,
    drain_seconds=5.0,
    blocked_retry_seconds=0.1,
)


class ShiftedClock:
    """Wall time plus an offset that only moves forward when told (the dialer's injectable clock)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0) if start is None else start - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += timedelta(seconds=seconds)


@dataclass
class Stack:
    """A running outdial, its REST client (authenticated as a fresh org's key) and the callee."""

    http: httpx.AsyncClient
    db: Database
    callee: SimulatedCallee
    clock: ShiftedClock
    worker: Worker
    data_dir: Path
    base_url: str = ""
    api_key: str = ""
    trunk_id: str = ""
    number_id: str = ""
    _worker_task: asyncio.Task[None] | None = field(default=None, repr=False)

    # --- setup through the API ------------------------------------------------------------------
    async def api(self, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    async def provision(
        self, *, address: str | None = None, transport: str = "udp", verify: bool = True
    ) -> None:
        """A trunk pointing at the callee (or ``address``) and a caller number on it, verified the
        product's way: ``verify-voip`` sends OPTIONS to the trunk, and the far end must answer."""
        trunk = await self.api(
            "POST",
            "/v1/sip-trunks",
            201,
            json={"name": "far end", "address": address or self.callee.address, "transport": transport},
        )
        number = await self.api(
            "POST", "/v1/phone-numbers", 201, json={"number": FROM_NUMBER, "trunk_id": trunk["id"]}
        )
        self.trunk_id, self.number_id = trunk["id"], number["id"]
        if verify:
            verified = await self.api("POST", f"/v1/phone-numbers/{number['id']}/verify-voip")
            assert verified["verified"] is True

    async def agent(self, **config: Any) -> str:
        body = {"name": "e2e agent", "record": True, **config}
        created = await self.api("POST", "/v1/agents", 201, json=body)
        return str(created["id"])

    async def place(self, agent_id: str, *, to: str = TO_NUMBER, **fields: Any) -> dict[str, Any]:
        body = {"agent_id": agent_id, "to_number": to, "from_number": FROM_NUMBER, **fields}
        created: dict[str, Any] = await self.api("POST", "/v1/calls", 202, json=body)
        return created

    async def call(self, call_id: str) -> dict[str, Any]:
        got: dict[str, Any] = await self.api("GET", f"/v1/calls/{call_id}")
        return got

    async def cancel(self, call_id: str) -> dict[str, Any]:
        got: dict[str, Any] = await self.api("POST", f"/v1/calls/{call_id}/cancel")
        return got

    async def wait(self, call_id: str, *statuses: str, within: float = 20.0) -> dict[str, Any]:
        """Poll ``GET /v1/calls/{id}`` until the call reaches one of ``statuses`` (default: terminal)."""
        wanted = statuses or TERMINAL
        deadline = time.monotonic() + within
        seen: list[str] = []
        while True:
            call = await self.call(call_id)
            if not seen or seen[-1] != call["status"]:
                seen.append(call["status"])
            if call["status"] in wanted:
                return call
            assert time.monotonic() < deadline, f"call never reached {wanted}; went through {seen}"
            await asyncio.sleep(0.05)

    async def callee_call(self, index: int = 0, within: float = 10.0) -> CalleeCall:
        return await asyncio.wait_for(self.callee.wait_call(index), within)

    # --- the store, read-only, for what the API does not show --------------------------------------
    async def events(self, call_id: str) -> list[CallEvent]:
        async with self.db.session() as s:
            rows = await s.scalars(
                select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)
            )
            return list(rows)

    # --- the dialer -------------------------------------------------------------------------------
    async def start_dialer(self) -> None:
        if self._worker_task is None:
            self._worker_task = asyncio.create_task(self.worker.run(), name="e2e-dialer")
            await asyncio.wait_for(self.worker.listener.connected.wait(), 10)

    async def stop_dialer(self) -> None:
        if self._worker_task is not None:
            await self.worker.stop()
            await self._worker_task
            self._worker_task = None


def persona(**fields: Any) -> Persona:
    """A quick callee: answers after one short ring unless told otherwise."""
    values: dict[str, Any] = {"rings": 1, "ring_seconds": 0.3, "reply_delay_ms": 100, "agent_silence_ms": 500}
    values.update(fields)
    return parse_persona(values)


async def _serve(server: uvicorn.Server) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve(), name="e2e-api")
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("the API server exited during startup")
        assert time.monotonic() < deadline, "the API server did not start"
        await asyncio.sleep(0.02)
    return task


@contextlib.asynccontextmanager
async def running_stack(
    tmp_path: Path,
    callee_persona: Persona,
    *,
    clock: ShiftedClock | None = None,
    start_dialer: bool = True,
    dialer: DialerSettings = FAST_DIALER,
    org_settings: Mapping[str, Any] | None = None,
) -> AsyncIterator[Stack]:
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        sip_port=0,
        log_level="warning",
        allow_private_webhooks=True,  # the tests' webhook receiver listens on loopback
    )
    db = Database.from_settings(settings)
    await upgrade_async(db.url)
    async with db.transaction() as s:
        org = await get_or_create_org(s, "e2e")
        if org_settings:
            org.settings = {**(org.settings or {}), **org_settings}
        key = await issue_key(s, org.id, name="e2e")
    config = uvicorn.Config(
        build_app(settings, with_background=False),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    server_task = await _serve(server)
    placer = await SipPlacer.start(host="127.0.0.1", port=0, recording_dir=data_dir / "recordings")
    clock = clock or ShiftedClock()
    worker = Worker(db, dialer, placer, clock=clock)
    sender = WebhookSender(db, settings)  # what `outdial serve` runs beside the dialer
    sender_task = asyncio.create_task(sender.run(), name="e2e-webhooks")
    try:
        async with (
            SimulatedCallee.start(callee_persona, record_dir=tmp_path / "callee") as callee,
            httpx.AsyncClient(
                base_url=settings.base_url,
                headers={"Authorization": f"Bearer {key.api_key}"},
                timeout=15,
            ) as http,
        ):
            stack = Stack(
                http=http,
                db=db,
                callee=callee,
                clock=clock,
                worker=worker,
                data_dir=data_dir,
                base_url=settings.base_url,
                api_key=key.api_key,
            )
            try:
                if start_dialer:
                    await stack.start_dialer()
                yield stack
            finally:
                await stack.stop_dialer()
    finally:
        await sender.stop()
        await sender_task
        await placer.close()
        server.should_exit = True
        await server_task
        await db.dispose()
