"""A dialer worker as a process of its own: ``python -m outdial.dialer --database-url URL``.

Places calls through :class:`~outdial.dialer.sip_placer.SipPlacer`; stops cleanly on SIGTERM/SIGINT
(claimed calls given back, live calls allowed to finish for ``drain_seconds``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from outdial.dialer.settings import DialerSettings
from outdial.dialer.sip_placer import MediaLateness, SipPlacer
from outdial.dialer.worker import Worker
from outdial.media.clock import install_uvloop
from outdial.store.db import Database
from outdial.store.migrate import upgrade_async


async def serve_worker(
    database_url: str,
    *,
    settings: DialerSettings | None = None,
    worker_id: str | None = None,
    sip_host: str = "127.0.0.1",
    sip_port: int = 0,
    agent: bool = True,
    recording_dir: Path | None = None,
    migrate: bool = True,
    pool_size: int | None = None,
) -> None:
    """Run one worker until SIGTERM or SIGINT."""
    if migrate:
        await upgrade_async(database_url)
    pool = {} if pool_size is None or database_url.startswith("sqlite") else {"pool_size": pool_size}
    db = Database(database_url, **pool)
    placer = await SipPlacer.start(host=sip_host, port=sip_port, recording_dir=recording_dir, agent=agent)
    worker = Worker(
        db, settings or DialerSettings(), placer, worker_id=worker_id, media_lateness_ms=MediaLateness()
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: asyncio.ensure_future(worker.stop()))
    try:
        await worker.run()
    finally:
        await placer.close()
        await db.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m outdial.dialer", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--worker-id")
    parser.add_argument("--sip-host", default="127.0.0.1")
    parser.add_argument("--sip-port", type=int, default=0)
    parser.add_argument("--no-agent", action="store_true", help="connect answered calls without an agent")
    parser.add_argument("--recording-dir", type=Path)
    parser.add_argument("--no-migrate", action="store_true")
    parser.add_argument(
        "--pool-size", type=int, help="PostgreSQL connections kept by this worker (default 10)"
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    install_uvloop()  # the media clock keeps time better on uvloop
    asyncio.run(
        serve_worker(
            args.database_url,
            worker_id=args.worker_id,
            sip_host=args.sip_host,
            sip_port=args.sip_port,
            agent=not args.no_agent,
            recording_dir=args.recording_dir,
            migrate=not args.no_migrate,
            pool_size=args.pool_size,
        )
    )
