"""``Idempotency-Key`` with Stripe's semantics, per organization.

The same key with the same request returns the stored response (same status, same body); the same
key with a different request is a 409 ``idempotency_conflict``. The key row's primary key
``(org_id, key)`` is the lock: the first request inserts it in the transaction that creates the
call, so a concurrent duplicate blocks on that insert and, once the first commits, fails it and
replays the stored answer. Only successes are stored: a request that fails (a 4xx) leaves no row,
so it can be fixed and retried with the same key. Keys are kept for :data:`TTL` (24 hours), then
purged and free for reuse.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.errors import ApiError
from outdial.store.models import IdempotencyKey
from outdial.store.types import utcnow

TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# How often (per process) a claim also sweeps every org's expired keys.
PURGE_EVERY_SECONDS = 60.0
_last_purge = 0.0


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise ApiError(
            400,
            "invalid_request",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters without spaces.",
            "Idempotency-Key",
        )
    return key


def fingerprint(scope: str, payload: Any) -> str:
    """A hash of what was asked: the scope (route) and the request's canonical JSON."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(f"{scope}\n{canonical}".encode()).hexdigest()


def conflict(message: str) -> ApiError:
    return ApiError(409, "idempotency_conflict", message, "Idempotency-Key")


async def lookup(
    session: AsyncSession, org_id: str, key: str, *, now: datetime | None = None
) -> IdempotencyKey | None:
    """The stored key, or None when it was never used or has expired."""
    row = await session.get(IdempotencyKey, (org_id, key), populate_existing=True)
    if row is None or row.created_at < (now or utcnow()) - TTL:
        return None
    return row


def replay(row: IdempotencyKey, scope: str, request_hash: str) -> tuple[int, Any]:
    """The stored (status, body) for a matching request; 409 when the key was used for another."""
    if row.scope != scope or row.request_hash != request_hash:
        raise conflict(
            "This Idempotency-Key was already used with a different request; use a new key for a new call."
        )
    if row.response_status == 0:  # only visible if a writer's isolation were weaker than ours
        raise conflict("A request with this Idempotency-Key is still in progress; retry in a moment.")
    return row.response_status, row.response_body


async def claim(
    session: AsyncSession,
    org_id: str,
    key: str,
    scope: str,
    request_hash: str,
    *,
    now: datetime | None = None,
) -> IdempotencyKey | None:
    """Insert the key (the lock) in the session's transaction; None if another request holds it.

    On None the session has been rolled back and the caller replays what the other request stored.
    """
    row = await claim_locked(session, org_id, key, scope, request_hash, now=now or utcnow())
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        return None
    return row


async def claim_locked(
    session: AsyncSession, org_id: str, key: str, scope: str, request_hash: str, *, now: datetime
) -> IdempotencyKey:
    """Add the key row in a transaction that holds the database's write lock and has just found no
    live row for the key (the SQLite creation writer): no other writer can race it, so the row is
    simply added (flushed with the call) and there is no conflict to handle."""
    await _purge(session, org_id, key, now)
    row = IdempotencyKey(
        org_id=org_id,
        key=key,
        scope=scope,
        request_hash=request_hash,
        response_status=0,
        response_body={},
        created_at=now,
    )
    session.add(row)
    return row


def store(row: IdempotencyKey, status: int, body: Any) -> None:
    """Record the response in the claimed row; it commits with the call."""
    row.response_status = status
    row.response_body = body


async def _purge(session: AsyncSession, org_id: str, key: str, now: datetime) -> None:
    global _last_purge
    cutoff = now - TTL
    # This key's own expired row must go before it can be claimed again.
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.org_id == org_id, IdempotencyKey.key == key, IdempotencyKey.created_at < cutoff
        )
    )
    if time.monotonic() - _last_purge >= PURGE_EVERY_SECONDS:
        _last_purge = time.monotonic()
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
