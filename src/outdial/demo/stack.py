"""The demo's running parts, in this one process: ``outdial serve`` (API + dialer + webhook sender) on a
free loopback port with SQLite in the demo's data dir, a key for the demo organization, and the
simulated callee listening for SIP on another free port. Everything stops when the block exits."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from outdial.api.auth import get_or_create_org, issue_key
from outdial.callee import Persona, SimulatedCallee
from outdial.cli.server import make_server
from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.migrate import upgrade_async

DEMO_ORG = "demo"
MARKER = ".outdial-demo"  # a data dir with this file is the demo's own, safe to wipe on the next run


class DemoError(Exception):
    """Something the demo cannot go on without; the message says what to do."""


def fresh_data_dir(path: Path) -> None:
    """Empty ``path`` for a new run: only a directory the demo made itself (or an empty one) is wiped."""
    if path.exists():
        if not path.is_dir():
            raise DemoError(f"{path} exists and is not a directory; pick another --data-dir")
        if not (path / MARKER).exists() and any(path.iterdir()):
            raise DemoError(f"{path} holds files the demo did not make; pick another --data-dir")
        shutil.rmtree(path)
    path.mkdir(parents=True)
    (path / MARKER).write_text("made by `outdial demo`; emptied on its next run\n")


def listen(port: int | None) -> socket.socket:
    """The API's listening socket, bound before the server starts: a free port unless one is asked
    for, and a taken port is a clear error instead of uvicorn exiting the process."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port or 0))
    except OSError as exc:
        sock.close()
        raise DemoError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick another --port") from None
    return sock


def demo_settings(data_dir: Path, port: int) -> Settings:
    """Loopback everywhere, SQLite in ``data_dir`` whatever the environment says, SIP on a free port."""
    return Settings(
        data_dir=data_dir,
        database_url=None,
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        sip_host="127.0.0.1",
        sip_port=0,
        log_level="warning",
        allow_private_webhooks=True,  # the demo's own webhook receiver listens on loopback
    )


async def demo_key(settings: Settings) -> str:
    """A fresh API key of the demo organization (made in the store, as ``outdial keys create`` does)."""
    db = Database.from_settings(settings)
    try:
        await upgrade_async(db.url)
        async with db.transaction() as s:
            org = await get_or_create_org(s, DEMO_ORG)
            return (await issue_key(s, org.id, name="demo")).api_key
    finally:
        await db.dispose()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: Ctrl-C and SIGTERM stop the whole demo (which then
    stops this server), not the server alone under a demo still talking to it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class DemoStack:
    settings: Settings
    api_key: str
    callee: SimulatedCallee
    server: uvicorn.Server
    server_task: asyncio.Task[None]

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    @property
    def recording_dir(self) -> Path:
        return self.settings.data_dir / "recordings"

    def recording_of(self, call_id: str, attempt: int) -> Path | None:
        path = self.recording_dir / f"{call_id}-{attempt}.wav"
        return path if path.exists() else None

    async def until_stopped(self) -> None:
        """Serve until the demo is stopped (Ctrl-C or SIGTERM cancel it)."""
        await asyncio.shield(self.server_task)


async def _start(server: uvicorn.Server, sock: socket.socket, within: float = 30.0) -> asyncio.Task[None]:
    task = asyncio.create_task(server.serve(sockets=[sock]), name="outdial-demo-server")
    deadline = time.monotonic() + within
    while not server.started:
        if task.done():
            task.result()
            raise DemoError("the service stopped while starting; see the messages above")
        if time.monotonic() > deadline:
            server.should_exit = True
            await task
            raise DemoError(f"the service did not start within {within:.0f} s")
        await asyncio.sleep(0.02)
    return task


@contextlib.asynccontextmanager
async def running(data_dir: Path, persona: Persona, *, port: int | None = None) -> AsyncIterator[DemoStack]:
    sock = listen(port)
    try:
        settings = demo_settings(data_dir, int(sock.getsockname()[1]))
        api_key = await demo_key(settings)
        server = _Server(make_server(settings, with_background=True).config)
        server_task = await _start(server, sock)
    except BaseException:
        sock.close()
        raise
    try:
        async with SimulatedCallee.start(
            persona, host="127.0.0.1", port=0, record_dir=data_dir / "callee"
        ) as callee:
            yield DemoStack(settings, api_key, callee, server, server_task)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await server_task
        sock.close()
