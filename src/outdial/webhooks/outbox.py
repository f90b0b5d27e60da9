"""The outbox: call_events rows (written with each status change) become webhook deliveries.

A shared cursor row remembers how far events were turned into deliveries. Event ids come from a
sequence, and on PostgreSQL a later id can commit before an earlier one; so the cursor keeps the ids
it has not seen yet ("gaps") and looks for them again until they appear or time out (a rollback).
Fan-out is idempotent all the same: one delivery per (event, target) by a unique key, so an event
processed twice (a sender that died before committing the cursor) never yields two deliveries.
New deliveries are created already claimed by the sender that made them, so it can send at once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.config import Settings
from outdial.lifecycle import EventType
from outdial.store.db import Database
from outdial.store.models import Call, CallAttempt, CallEvent
from outdial.store.types import utcnow
from outdial.webhooks.config import WebhookSettings
from outdial.webhooks.jobs import Job, endpoint_secrets, insert_ignoring_conflicts, org_signing_secrets
from outdial.webhooks.models import WebhookCursor, WebhookDelivery, WebhookEndpoint
from outdial.webhooks.payloads import event_payload, minimal_payload

log = logging.getLogger("outdial.webhooks")

CURSOR = "fanout"
CALLBACK = "callback"


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class FanOutResult:
    events: int  # events read this round
    jobs: list[Job]  # deliveries created and claimed by this sender, ready to send


async def lock_cursor(session: AsyncSession, now: datetime) -> WebhookCursor | None:
    """The cursor row, locked for this transaction; None when another sender holds it."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "sqlite":
        # Write first: the transaction takes SQLite's write lock now (waiting its turn) instead of
        # failing later when it upgrades from a read snapshot another writer has moved past.
        await session.execute(
            update(WebhookCursor).where(WebhookCursor.name == CURSOR).values(updated_at=now)
        )
    row = (
        await session.execute(
            select(WebhookCursor).where(WebhookCursor.name == CURSOR).with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()
    if row is not None:
        return row
    exists = (
        await session.execute(select(WebhookCursor.name).where(WebhookCursor.name == CURSOR))
    ).scalar_one_or_none()
    if exists is not None:
        return None  # another sender is fanning out right now
    ins = insert_ignoring_conflicts(session)
    await session.execute(
        ins(WebhookCursor)
        .values(name=CURSOR, last_event_id=0, high_event_id=0, gaps={}, updated_at=now)
        .on_conflict_do_nothing()
    )
    return None  # created; the next round uses it


def advance(
    cursor: WebhookCursor, seen_ids: Sequence[int], found_gaps: Sequence[int], now: datetime, timeout: float
) -> None:
    """Move the cursor past ``seen_ids`` (new, ascending) and ``found_gaps``; expire old gaps."""
    gaps = dict(cursor.gaps or {})
    high = cursor.high_event_id
    if high == 0 and seen_ids:
        # A brand-new cursor (an empty database): ids below the first one seen are not gaps.
        high = seen_ids[0] - 1
    for event_id in seen_ids:
        for missing in range(high + 1, event_id):
            gaps[str(missing)] = now.isoformat()
        high = max(high, event_id)
    for event_id in found_gaps:
        gaps.pop(str(event_id), None)
    limit = now - timedelta(seconds=timeout)
    gaps = {k: v for k, v in gaps.items() if datetime.fromisoformat(v) > limit}
    cursor.gaps = gaps
    cursor.high_event_id = high
    cursor.last_event_id = min(int(k) for k in gaps) - 1 if gaps else high
    cursor.updated_at = now


async def fan_out(
    db: Database,
    settings: Settings,
    ws: WebhookSettings,
    *,
    owner: str,
    limit: int | None = None,
    now: datetime | None = None,
) -> FanOutResult:
    """Turn the next events (at most ``limit``) into deliveries, claimed by ``owner``."""
    now = now or utcnow()
    limit = min(limit or ws.batch_size, ws.batch_size)
    async with db.transaction() as session:
        cursor = await lock_cursor(session, now)
        if cursor is None:
            return FanOutResult(0, [])
        new_events = list(
            (
                await session.execute(
                    select(CallEvent)
                    .where(CallEvent.id > cursor.high_event_id)
                    .order_by(CallEvent.id)
                    .limit(limit)
                )
            ).scalars()
        )
        gap_events: list[CallEvent] = []
        gap_ids = sorted(int(k) for k in (cursor.gaps or {}))
        for start in range(0, len(gap_ids), 500):
            chunk = gap_ids[start : start + 500]
            gap_events += (await session.execute(select(CallEvent).where(CallEvent.id.in_(chunk)))).scalars()
        events = [e for e in [*gap_events, *new_events] if e.type]
        jobs = await _create_deliveries(session, settings, ws, events, owner=owner, now=now)
        if new_events or gap_ids:
            advance(
                cursor,
                [e.id for e in new_events],
                [e.id for e in gap_events],
                now,
                ws.gap_timeout_seconds,
            )
        return FanOutResult(len(new_events) + len(gap_events), jobs)


async def _create_deliveries(
    session: AsyncSession,
    settings: Settings,
    ws: WebhookSettings,
    events: Sequence[CallEvent],
    *,
    owner: str,
    now: datetime,
) -> list[Job]:
    if not events:
        return []
    org_ids = {e.org_id for e in events}
    call_ids = {e.call_id for e in events}
    endpoints = list(
        (
            await session.execute(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.org_id.in_(org_ids),
                    WebhookEndpoint.enabled.is_(True),
                    WebhookEndpoint.status != "disabled",
                )
            )
        ).scalars()
    )
    calls = {c.id: c for c in (await session.execute(select(Call).where(Call.id.in_(call_ids)))).scalars()}
    attempts: dict[str, list[CallAttempt]] = {}
    for a in (await session.execute(select(CallAttempt).where(CallAttempt.call_id.in_(call_ids)))).scalars():
        attempts.setdefault(a.call_id, []).append(a)

    lease = now + timedelta(seconds=ws.lease_seconds)
    rows: list[dict[str, Any]] = []
    for ev in events:
        call = calls.get(ev.call_id)
        if call is None:
            continue  # purged since
        targets: list[tuple[str, str | None, str]] = [
            (ep.id, ep.id, ep.url) for ep in endpoints if ep.org_id == ev.org_id and ev.type in ep.events
        ]
        if ev.type == EventType.CALL_ENDED and call.callback_url:
            targets.append((CALLBACK, None, call.callback_url))
        if not targets:
            continue
        try:
            payload = event_payload(ev, call, attempts.get(call.id, []), settings)
        except ValueError:
            # A call row the serializer rejects must not stall the outbox for everyone behind it:
            # send what the event itself says, and log the bug.
            log.exception("call %s could not be serialized for event %s", call.id, ev.id)
            payload = minimal_payload(ev, call)
        for target_key, endpoint_id, url in targets:
            rows.append(
                {
                    "id": new_message_id().replace("msg_", "dlv_"),
                    "org_id": ev.org_id,
                    "message_id": new_message_id(),
                    "event_id": ev.id,
                    "target_key": target_key,
                    "endpoint_id": endpoint_id,
                    "callback_call_id": call.id if target_key == CALLBACK else None,
                    "call_id": call.id,
                    "url": url,
                    "event_type": ev.type,
                    "payload": payload,
                    "status": "delivering",
                    "attempt_count": 0,
                    "next_attempt_at": now,
                    "lease_owner": owner,
                    "lease_expires_at": lease,
                    "created_at": now,
                }
            )
    if not rows:
        return []
    ins = insert_ignoring_conflicts(session)
    inserted: set[str] = set()
    for start in range(0, len(rows), 100):
        # ON CONFLICT DO NOTHING skips just the rows already there; RETURNING names those inserted.
        stmt = ins(WebhookDelivery).values(rows[start : start + 100]).on_conflict_do_nothing()
        inserted.update((await session.execute(stmt.returning(WebhookDelivery.id))).scalars())
    secrets_of = {
        ep.id: endpoint_secrets(ep.secret, ep.previous_secret, ep.previous_secret_expires_at, now)
        for ep in endpoints
    }
    healthy = {ep.id: ep.status == "active" and ep.failing_since is None for ep in endpoints}
    org_secrets: dict[str, list[str]] = {}
    jobs: list[Job] = []
    for row in rows:
        if row["id"] not in inserted:
            continue
        endpoint_id = row["endpoint_id"]
        if endpoint_id is None and row["org_id"] not in org_secrets:
            org_secrets[row["org_id"]] = await org_signing_secrets(session, row["org_id"], now)
        jobs.append(
            Job(
                id=row["id"],
                org_id=row["org_id"],
                message_id=row["message_id"],
                endpoint_id=endpoint_id,
                call_id=row["call_id"],
                url=row["url"],
                payload=row["payload"],
                attempt_count=0,
                secrets=secrets_of[endpoint_id] if endpoint_id else org_secrets[row["org_id"]],
                endpoint_unhealthy=not healthy[endpoint_id] if endpoint_id else False,
            )
        )
    return jobs
