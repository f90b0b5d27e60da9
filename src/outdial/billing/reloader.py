"""Auto-reload in the background: payments happen outside any call's transaction, never in a request."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from outdial.billing import service
from outdial.billing.models import BillingAccount
from outdial.billing.providers import PaymentError, PaymentProvider, provider_from_settings
from outdial.config import Settings
from outdial.store.db import Database

log = logging.getLogger("outdial.billing")


class AutoReloader:
    """Every ``interval`` seconds, reload the accounts at or under their threshold (within their cap)."""

    def __init__(
        self, db: Database, settings: Settings, provider: PaymentProvider | None = None, interval: float = 5.0
    ) -> None:
        self.db = db
        self.provider = provider or provider_from_settings(settings)
        self.interval = interval
        self._stop = asyncio.Event()

    async def sweep(self) -> int:
        """One pass; returns how many accounts were reloaded."""
        async with self.db.session() as session:
            due = (
                (
                    await session.execute(
                        select(BillingAccount.org_id).where(
                            BillingAccount.auto_reload_enabled.is_(True),
                            BillingAccount.rate_cents_per_minute.is_not(None),
                            BillingAccount.balance_cents <= BillingAccount.auto_reload_threshold_cents,
                        )
                    )
                )
                .scalars()
                .all()
            )
        reloaded = 0
        for org_id in due:
            async with self.db.session() as session:
                try:
                    if await service.maybe_auto_reload(session, org_id, self.provider) is not None:
                        reloaded += 1
                except PaymentError as exc:
                    # The balance stays low and new calls get 402 until the payment method works.
                    log.warning("auto-reload for org %s failed: %s %s", org_id, exc.code, exc.message)
        return reloaded

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.sweep()
            except Exception:  # a database hiccup must not end the loop; the next sweep retries
                log.exception("auto-reload sweep failed")
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stop.set()
