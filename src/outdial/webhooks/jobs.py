"""Claimed deliveries as jobs: claiming due ones, loading them with their URL and signing secrets.

A job is sent by the worker that holds its claim (``lease_owner``) until ``lease_expires_at``;
a sender that dies simply lets its claims run out, and another sender takes them over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.types import utcnow
from outdial.transcripts.links import recording_link
from outdial.webhooks.config import WebhookSettings
from outdial.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookOrgSecret
from outdial.webhooks.signing import generate_secret


def insert_ignoring_conflicts(session: AsyncSession) -> Any:
    """The dialect's INSERT with ON CONFLICT DO NOTHING support."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return postgresql.insert
    return sqlite.insert


@dataclass(slots=True)
class Job:
    """A claimed delivery with everything needed to send it, detached from the session."""

    id: str
    org_id: str
    message_id: str
    endpoint_id: str | None
    call_id: str | None
    url: str
    payload: dict[str, Any]
    attempt_count: int
    secrets: list[str]
    canceled: str | None = None  # why it must not be sent (endpoint disabled meanwhile)
    lease_ends: float = float("inf")  # monotonic time the claim runs out
    endpoint_unhealthy: bool = False  # failing, or failures since the last success


def due_filter(now: datetime) -> Any:
    return or_(
        and_(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now),
        and_(WebhookDelivery.status == "delivering", WebhookDelivery.lease_expires_at < now),
    )


async def claim_due(
    db: Database, ws: WebhookSettings, *, owner: str, limit: int, now: datetime | None = None
) -> list[str]:
    """Claim up to ``limit`` due deliveries (and those whose sender's lease ran out) for ``owner``."""
    now = now or utcnow()
    if limit <= 0:
        return []
    async with db.transaction() as session:
        due = (
            select(WebhookDelivery.id)
            .where(due_filter(now))
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # PostgreSQL: senders never take the same row
            .scalar_subquery()
        )
        stmt = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(due), due_filter(now))
            .values(
                status="delivering",
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=ws.lease_seconds),
            )
            .returning(WebhookDelivery.id)
            .execution_options(synchronize_session=False)
        )
        return list((await session.execute(stmt)).scalars())


async def load_jobs(
    db: Database, settings: Settings, ids: list[str], *, now: datetime | None = None
) -> list[Job]:
    """The claimed deliveries ``ids`` with their current URL and signing secrets."""
    if not ids:
        return []
    now = now or utcnow()
    async with db.transaction() as session:
        rows = list(
            (await session.execute(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))).scalars()
        )
        endpoint_ids = {r.endpoint_id for r in rows if r.endpoint_id}
        endpoints = {
            e.id: e
            for e in (
                await session.execute(select(WebhookEndpoint).where(WebhookEndpoint.id.in_(endpoint_ids)))
            ).scalars()
        }
        org_secrets: dict[str, list[str]] = {}
        for org_id in {r.org_id for r in rows if r.endpoint_id is None}:
            org_secrets[org_id] = await org_signing_secrets(session, org_id, now)
        jobs: list[Job] = []
        for r in rows:
            payload = fresh_links(settings, r.payload)
            job = Job(
                id=r.id,
                org_id=r.org_id,
                message_id=r.message_id,
                endpoint_id=r.endpoint_id,
                call_id=r.call_id,
                url=r.url,
                payload=payload,
                attempt_count=r.attempt_count,
                secrets=[],
            )
            if r.endpoint_id is None:
                job.secrets = org_secrets[r.org_id]
            else:
                ep = endpoints.get(r.endpoint_id)
                if ep is None or not ep.enabled or ep.status == "disabled":
                    job.canceled = "the endpoint was disabled or deleted"
                else:
                    job.url = ep.url
                    job.endpoint_unhealthy = ep.status != "active" or ep.failing_since is not None
                    job.secrets = endpoint_secrets(
                        ep.secret, ep.previous_secret, ep.previous_secret_expires_at, now
                    )
            jobs.append(job)
        return jobs


def endpoint_secrets(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    if previous and previous_expires_at is not None and previous_expires_at > now:
        return [secret, previous]
    return [secret]


async def org_signing_secrets(session: AsyncSession, org_id: str, now: datetime) -> list[str]:
    """The org's callback_url signing secrets (created on first use), the rotated one while valid."""
    row = await ensure_org_secret(session, org_id, now)
    return endpoint_secrets(row.secret, row.previous_secret, row.previous_secret_expires_at, now)


async def ensure_org_secret(session: AsyncSession, org_id: str, now: datetime) -> WebhookOrgSecret:
    """The org's callback secret row; created once even when several processes ask at the same time."""
    row = await session.get(WebhookOrgSecret, org_id)
    if row is not None:
        return row
    ins = insert_ignoring_conflicts(session)
    await session.execute(
        ins(WebhookOrgSecret)
        .values(org_id=org_id, secret=generate_secret(), created_at=now)
        .on_conflict_do_nothing()
    )
    row = (
        await session.execute(
            select(WebhookOrgSecret)
            .where(WebhookOrgSecret.org_id == org_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return row


def fresh_links(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    """A recording link in the payload expires; each attempt carries one that works from now."""
    data = payload.get("data")
    if isinstance(data, dict) and data.get("recording_url") and data.get("id"):
        return {**payload, "data": {**data, "recording_url": recording_link(settings, str(data["id"]))}}
    return payload
