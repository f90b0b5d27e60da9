"""Background components (dialer, webhook sender) started inside ``outdial serve`` and ``outdial worker``.

Each component is built by an async factory ``(settings, db) -> Component`` and runs until stopped.
A component whose package is not part of this build is skipped, so domains plug in without this
module knowing more than their factory. A module may also expose its own
``async def create_background(settings, db) -> Component`` and it is used instead of the adapter here.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from outdial.config import Settings
from outdial.store.db import Database

log = logging.getLogger("outdial.runtime")


class Component(Protocol):
    async def run(self) -> None: ...

    async def stop(self) -> None: ...


Factory = Callable[[Settings, Database], Awaitable[Component]]


class _WithCleanup:
    """A component plus what must be closed after it stopped (e.g. the dialer's SIP user agent)."""

    def __init__(self, inner: Component, close: Callable[[], Awaitable[None]]) -> None:
        self.inner = inner
        self._close = close

    async def run(self) -> None:
        try:
            await self.inner.run()
        finally:
            await self._close()

    async def stop(self) -> None:
        await self.inner.stop()


async def _dialer(settings: Settings, db: Database) -> Component:
    from outdial.dialer.settings import DialerSettings
    from outdial.dialer.sip_placer import MediaLateness, SipPlacer
    from outdial.dialer.worker import Worker

    placer = await SipPlacer.start(
        host=settings.sip_host, port=settings.sip_port, recording_dir=settings.data_dir / "recordings"
    )
    worker = Worker(db, DialerSettings(), placer, media_lateness_ms=MediaLateness())
    return _WithCleanup(worker, placer.close)


async def _webhook_sender(settings: Settings, db: Database) -> Component:
    from outdial.webhooks.sender import WebhookSender

    return WebhookSender(db, settings)


async def _auto_reloader(settings: Settings, db: Database) -> Component:
    from outdial.billing.reloader import AutoReloader

    return AutoReloader(db, settings)


@dataclass(frozen=True)
class Spec:
    name: str
    module: str  # importable when the component is part of this build
    adapter: Factory


COMPONENTS: tuple[Spec, ...] = (
    Spec("dialer", "outdial.dialer.worker", _dialer),
    Spec("webhooks", "outdial.webhooks.sender", _webhook_sender),
    Spec("billing", "outdial.billing.reloader", _auto_reloader),
)


def available(specs: tuple[Spec, ...] = COMPONENTS) -> list[tuple[Spec, Factory]]:
    """The components of this build with the factory that builds each."""
    found: list[tuple[Spec, Factory]] = []
    for spec in specs:
        try:
            module = importlib.import_module(spec.module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and spec.module.startswith(exc.name):
                log.info("%s: not part of this build", spec.name)
                continue
            raise
        factory: Factory = getattr(module, "create_background", spec.adapter)
        found.append((spec, factory))
    return found


@dataclass
class Running:
    name: str
    component: Component
    task: asyncio.Task[None]


def _report_exit(name: str) -> Callable[[asyncio.Task[None]], None]:
    def done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s stopped with an error", name, exc_info=task.exception())

    return done


@contextlib.asynccontextmanager
async def background(
    settings: Settings, db: Database, specs: tuple[Spec, ...] = COMPONENTS, *, stop_timeout: float = 60.0
) -> AsyncIterator[list[Running]]:
    """Start every available component; on exit stop them (newest first) and wait for each to finish."""
    running: list[Running] = []
    try:
        for spec, factory in available(specs):
            component = await factory(settings, db)
            task = asyncio.create_task(component.run(), name=f"outdial-{spec.name}")
            task.add_done_callback(_report_exit(spec.name))
            running.append(Running(spec.name, component, task))
            log.info("%s started", spec.name)
        yield running
    finally:
        for item in reversed(running):
            await _stop(item, stop_timeout)


async def _stop(item: Running, limit: float) -> None:
    try:
        async with asyncio.timeout(limit):
            await item.component.stop()
            await asyncio.shield(item.task)
    except TimeoutError:
        log.warning("%s did not stop within %.0f s; cancelling it", item.name, limit)
        item.task.cancel()
    except Exception:  # already logged by the done callback; keep stopping the others
        pass
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await item.task
    log.info("%s stopped", item.name)


def describe(running: list[Running]) -> str:
    return ", ".join(r.name for r in running) or "none"


__all__ = ["COMPONENTS", "Component", "Running", "Spec", "available", "background", "describe"]
