"""A webhook sender in a process of its own, for tests that kill it: ``python -m ... DB_URL DATA_DIR``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from outdial.config import Settings
from outdial.store.db import Database
from outdial.webhooks.config import WebhookSettings
from outdial.webhooks.sender import WebhookSender


async def main(db_url: str, data_dir: str) -> None:
    settings = Settings(database_url=db_url, data_dir=Path(data_dir), allow_private_webhooks=True)
    # A short lease so that the test's next sender takes over quickly once this one is killed.
    ws = WebhookSettings(retry_scale=0.001, poll_seconds=0.02, timeout_seconds=0.5, lease_seconds=1.5)
    db = Database(db_url)
    print("ready", flush=True)
    await WebhookSender(db, settings, webhook_settings=ws).run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
