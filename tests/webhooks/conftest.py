"""Fixtures for results delivery: the shared API fixtures, calls that change status, a running sender."""

# ruff: noqa: F811  (the shared fixtures are imported by name, then used as parameters)

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from outdial.calls.transitions import change_status, record_event
from outdial.config import Settings
from outdial.lifecycle import CallStatus, EndReason, EventType
from outdial.store.db import Database
from outdial.store.models import Call
from outdial.webhooks.config import WebhookSettings
from outdial.webhooks.sender import WebhookSender
from tests.api.conftest import (  # noqa: F401  (shared fixtures: database, app, client, tenants)
    Seed,
    Tenant,
    _pg_database,
    _sqlite_template,
    app,
    client,
    db,
    db_url,
    other_tenant,
    seed,
    tenant,
)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    # Receivers in tests live on loopback: development mode (http and private hosts allowed).
    return Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        allow_private_webhooks=True,
        public_url="https://outdial.test",
    )


FAST = WebhookSettings(
    retry_scale=0.001, poll_seconds=0.02, timeout_seconds=3.0, lease_seconds=6.0, purge_interval_seconds=3600
)


@pytest.fixture
def fast() -> WebhookSettings:
    """Retry waits scaled down a thousandfold: 5 s -> 5 ms, 5 min -> 300 ms, 30 min -> 1.8 s."""
    return FAST


SenderFactory = Callable[..., Awaitable[WebhookSender]]


@pytest.fixture
async def start_sender(
    db: Database, settings: Settings, fast: WebhookSettings
) -> AsyncIterator[SenderFactory]:
    """Start WebhookSenders in this loop; every one is stopped after the test."""
    running: list[tuple[WebhookSender, asyncio.Task[None]]] = []

    async def start(**kwargs: Any) -> WebhookSender:
        kwargs.setdefault("webhook_settings", fast)
        sender = WebhookSender(db, kwargs.pop("settings", settings), **kwargs)
        running.append((sender, asyncio.create_task(sender.run())))
        return sender

    yield start
    for sender, _task in running:
        await sender.stop()
    for _, task in running:
        await asyncio.wait_for(task, 20)


class Calls:
    """Creates calls and moves them through the lifecycle the way the dialer does."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, org_id: str, **fields: Any) -> str:
        fields.setdefault("request_metadata", {"crm_id": "123"})
        async with self.db.transaction() as s:
            call = Call(
                org_id=org_id,
                to_number="+18135551234",
                from_number="+14155550100",
                status=CallStatus.QUEUED.value,
                **fields,
            )
            s.add(call)
            await s.flush()
            record_event(s, call, EventType.CALL_QUEUED)
            return call.id

    async def move(self, call_id: str, status: CallStatus, **kw: Any) -> None:
        async with self.db.transaction() as s:
            call = await s.get(Call, call_id)
            assert call is not None
            change_status(s, call, status, **kw)

    async def complete(self, call_id: str, **fields: Any) -> None:
        await self.move(call_id, CallStatus.DIALING)
        await self.move(call_id, CallStatus.RINGING)
        await self.move(call_id, CallStatus.IN_PROGRESS)
        await self.move(call_id, CallStatus.COMPLETED, end_reason=EndReason.CALLEE_HANGUP, **fields)

    async def get(self, call_id: str) -> Call | None:
        async with self.db.session() as s:
            return await s.get(Call, call_id)


@pytest.fixture
def calls(db: Database) -> Calls:
    return Calls(db)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0, every: float = 0.02) -> None:
    """Wait until ``check()`` holds (state written by a background sender)."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110  (polling the database)
            await asyncio.sleep(every)


__all__ = ["Calls", "Seed", "Tenant", "eventually"]
