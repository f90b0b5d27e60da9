"""API keys: shown once, stored as a SHA-256 of a high-entropy secret, optionally scoped to an agent."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

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
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        await session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        await session.commit()
    return Principal(org_id=row.org_id, key_id=row.id, agent_id=row.agent_id)
