"""``outdial serve | api | worker | migrate``: the service's processes.

``serve`` is everything in one process (API + dialer + webhook sender); ``api`` and ``worker`` split it
for scale-out on PostgreSQL. Migrations run on start. SIGTERM stops gracefully: the API finishes its
requests, background components give back claimed work and let live calls end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import typer
import uvicorn
from fastapi import FastAPI

from outdial.api.app import create_app
from outdial.cli import app
from outdial.config import Settings
from outdial.runtime import background, describe
from outdial.store.db import Database
from outdial.store.migrate import upgrade, upgrade_async

log = logging.getLogger("outdial.server")

HOST = typer.Option(None, "--host", help="Interface to listen on [env OUTDIAL_HOST; default 127.0.0.1].")
PORT = typer.Option(None, "--port", help="TCP port [env OUTDIAL_PORT; default 8000].", min=0, max=65535)


def load_settings(host: str | None = None, port: int | None = None, **overrides: Any) -> Settings:
    """Settings from the environment, with command-line options on top."""
    given = {k: v for k, v in {"host": host, "port": port, **overrides}.items() if v is not None}
    return Settings(**given)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )


def build_app(settings: Settings, *, with_background: bool) -> FastAPI:
    """The ASGI app; with background components started after migrations and stopped before the
    database closes."""
    db = Database.from_settings(settings)
    application = create_app(settings, db)  # its lifespan runs the migrations
    inner = application.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        try:
            async with inner(a):
                if not with_background:
                    yield
                    return
                async with background(settings, db) as running:
                    a.state.background = running
                    log.info("background components: %s", describe(running))
                    yield
        finally:
            await db.dispose()

    application.router.lifespan_context = lifespan
    return application


def make_server(settings: Settings, *, with_background: bool) -> uvicorn.Server:
    config = uvicorn.Config(
        build_app(settings, with_background=with_background),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        proxy_headers=True,
        timeout_graceful_shutdown=30,
    )
    return uvicorn.Server(config)


def _serve(settings: Settings, *, with_background: bool) -> None:
    _configure_logging(settings)
    server = make_server(settings, with_background=with_background)
    # uvicorn turns SIGTERM/SIGINT into a graceful shutdown (lifespan included), then re-raises the
    # signal against the handlers it found: make those no-ops so a clean shutdown exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    server.run()
    if not server.started:
        raise typer.Exit(1)


@app.command()
def serve(host: str | None = HOST, port: int | None = PORT) -> None:
    """Run everything in one process: the API, the dialer and the webhook sender."""
    _serve(load_settings(host, port), with_background=True)


@app.command()
def api(host: str | None = HOST, port: int | None = PORT) -> None:
    """Run the HTTP API only (stateless; run several behind a load balancer on PostgreSQL)."""
    _serve(load_settings(host, port), with_background=False)


async def run_worker(settings: Settings, *, on_ready: Callable[[str], None] | None = None) -> None:
    """Background components only, until SIGTERM or SIGINT."""
    db = Database.from_settings(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await upgrade_async(db.url)
        async with background(settings, db) as running:
            if not running:
                raise RuntimeError("no background components are part of this build")
            if on_ready is not None:
                on_ready(describe(running))
            await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await db.dispose()


@app.command()
def worker() -> None:
    """Run the background components only: the dialer and the webhook sender."""
    settings = load_settings()
    _configure_logging(settings)
    if settings.is_sqlite:
        log.warning("SQLite takes one dialer per database: do not also run `outdial serve` on this data dir")
    try:
        asyncio.run(
            run_worker(settings, on_ready=lambda names: typer.echo(f"outdial worker running: {names}"))
        )
    except RuntimeError as exc:
        typer.echo(f"outdial worker: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (also done on every start)."""
    settings = load_settings()
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    where = f"SQLite in {settings.data_dir}" if settings.is_sqlite else "PostgreSQL"
    typer.echo(f"database is up to date ({where})")
