"""API keys: shown once, stored as a SHA-256 of a high-entropy secret, optionally scoped to an agent."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.store.models import ApiKey, Organization
from outdial.store.types import utcnow

KEY_PREFIX = "od_"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: every query is scoped to ``org_id``."""

    org_id: str
    key_id: str
    agent_id: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    org_id: str
    key_id: str
    api_key: str  # the only time the secret exists in clear


def hash_secret(secret: str) -> str:
    # Secrets are 256-bit random tokens, so a fast hash is the right tool (no password stretching).
    return hashlib.sha256(secret.encode()).hexdigest()


async def get_or_create_org(session: AsyncSession, name: str) -> Organization:
    org = (await session.execute(select(Organization).where(Organization.name == name))).scalar_one_or_none()
    if org is None:
        org = Organization(name=name, settings={})
        session.add(org)
        await session.flush()
    return org


async def issue_key(
    session: AsyncSession, org_id: str, *, agent_id: str | None = None, name: str | None = None
) -> IssuedKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id="key_" + secrets.token_hex(12),
        org_id=org_id,
        agent_id=agent_id,
        secret_hash=hash_secret(secret),
        prefix=secret[:10],
        name=name,
    )
    session.add(key)
    await session.flush()
    return IssuedKey(org_id=org_id, key_id=key.id, api_key=secret)


# last_used_at is kept to this precision: one write a minute per key, not one per request.
TOUCH_EVERY = timedelta(minutes=1)


async def authenticate(session: AsyncSession, secret: str) -> Principal | None:
    """The principal for a presented secret, or None when it is unknown or revoked.

    Records the key's use (``last_used_at``, at most once a minute) and commits that on ``session``.
    """
    verified = await _verify(session, secret)
    return verified[0] if verified is not None else None


async def _verify(session: AsyncSession, secret: str) -> tuple[Principal, datetime] | None:
    """The principal and when its use was last recorded (now, or within the last minute)."""
    if not secret or len(secret) > 200:
        return None
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.org_id, ApiKey.agent_id, ApiKey.revoked_at, ApiKey.last_used_at).where(
                ApiKey.secret_hash == hash_secret(secret)
            )
        )
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    now = utcnow()
    touched = row.last_used_at
    if touched is None or now - touched >= TOUCH_EVERY:
        await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        await session.commit()
        touched = now
    return Principal(org_id=row.org_id, key_id=row.id, agent_id=row.agent_id), touched


# A verified key is trusted for this long by the process that verified it, without reading the
# database again: a revoked (or deleted) key keeps working at most this long after the revocation.
CACHE_TTL_SECONDS = 5.0
CACHE_MAX_KEYS = 10_000


@dataclass(slots=True)
class _Verified:
    principal: Principal
    checked_at: float  # monotonic clock
    touched_at: datetime  # last_used_at as recorded


class KeyCache:
    """Keys verified in the last :data:`CACHE_TTL_SECONDS`, by their secret's hash (one per app).

    A hit costs no database round trip. An entry is read again from the database once it is older
    than the TTL, or when the key's ``last_used_at`` is due (once a minute), so revocation takes
    effect within the TTL and usage is still recorded at the same precision.
    """

    def __init__(self, ttl: float = CACHE_TTL_SECONDS, max_keys: int = CACHE_MAX_KEYS) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self.clock: Callable[[], float] = time.monotonic
        self._entries: dict[str, _Verified] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def authenticate(self, session: AsyncSession, secret: str) -> Principal | None:
        if not secret or len(secret) > 200:
            return None
        digest = hash_secret(secret)
        now = self.clock()
        hit = self._entries.get(digest)
        if hit is not None and now - hit.checked_at < self.ttl and utcnow() - hit.touched_at < TOUCH_EVERY:
            return hit.principal
        verified = await _verify(session, secret)
        if verified is None:
            self._entries.pop(digest, None)
            return None
        if len(self._entries) >= self.max_keys:
            self._entries.clear()  # bounded; cheap to refill (one query per key)
        self._entries[digest] = _Verified(verified[0], now, verified[1])
        return verified[0]
