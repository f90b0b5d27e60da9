"""One delivery attempt and what follows from it: claim, send (signed, pinned), decide, record.

Success is a 2xx. Anything else (3xx included: redirects are never followed) is a failure retried on
the schedule, a ``Retry-After`` from the receiver taking precedence; 410 Gone ends the delivery and
disables the endpoint. An endpoint whose deliveries have all failed for 24 h is marked ``failing``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.config import Settings
from outdial.store.db import Database
from outdial.store.models import Call
from outdial.store.types import utcnow
from outdial.transcripts.links import recording_link
from outdial.webhooks.config import WebhookSettings
from outdial.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookOrgSecret
from outdial.webhooks.outbox import insert_ignoring_conflicts
from outdial.webhooks.signing import generate_secret, webhook_headers
from outdial.webhooks.transport import PinnedTransport
from outdial.webhooks.urlsafety import Resolver, UnsafeUrlError, resolve_safe_target

USER_AGENT = "outdial-webhooks/1"
MAX_BODY_KEPT = 1024


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


@dataclass(slots=True)
class AttemptResult:
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    body: str | None = None
    retry_after: float | None = None


@dataclass(slots=True)
class Decision:
    status: str  # succeeded | pending | failed | canceled
    next_attempt_at: datetime | None = None
    disable_endpoint: bool = False
    error: str | None = None


@dataclass(slots=True)
class Outcome:
    job: Job
    result: AttemptResult | None
    decision: Decision
    extra: dict[str, Any] = field(default_factory=dict)


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
            payload = _fresh_links(settings, r.payload)
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


def _fresh_links(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    """A recording link in the payload expires; each attempt carries one that works from now."""
    data = payload.get("data")
    if isinstance(data, dict) and data.get("recording_url") and data.get("id"):
        return {**payload, "data": {**data, "recording_url": recording_link(settings, str(data["id"]))}}
    return payload


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def send(
    client: httpx.AsyncClient,
    transport: PinnedTransport,
    job: Job,
    ws: WebhookSettings,
    *,
    allow_private: bool,
    resolver: Resolver | None = None,
) -> AttemptResult:
    """One signed POST of ``job`` to the very address the URL check approved."""
    started = utcnow()
    t0 = time.perf_counter()

    def done(**kw: Any) -> AttemptResult:
        return AttemptResult(started_at=started, duration_ms=int((time.perf_counter() - t0) * 1000), **kw)

    try:
        async with asyncio.timeout(ws.timeout_seconds):
            target = await resolve_safe_target(job.url, allow_private=allow_private, resolver=resolver)
            url = httpx.URL(job.url)
            transport.pin(url, target.addresses)
            body = encode(job.payload)
            headers = webhook_headers(job.secrets, job.message_id, int(time.time()), body)
            headers["user-agent"] = USER_AGENT
            async with client.stream("POST", url, content=body, headers=headers) as response:
                kept = b""
                async for chunk in response.aiter_bytes():
                    kept += chunk[: MAX_BODY_KEPT - len(kept)]
                    if len(kept) >= MAX_BODY_KEPT:
                        break
                return done(
                    status_code=response.status_code,
                    body=kept.decode("utf-8", "replace") or None,
                    retry_after=parse_retry_after(response.headers.get("retry-after")),
                )
    except UnsafeUrlError as exc:
        return done(error=f"unsafe URL: {exc.message}")
    except TimeoutError:
        return done(error=f"timed out after {ws.timeout_seconds:g} s")
    except httpx.HTTPError as exc:
        return done(error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    except OSError as exc:
        return done(error=f"{type(exc).__name__}: {exc}")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def decide(job: Job, result: AttemptResult, ws: WebhookSettings, now: datetime) -> Decision:
    """What one attempt's result means for its delivery."""
    code = result.status_code
    if code is not None and 200 <= code < 300:
        return Decision("succeeded")
    if code is not None and 300 <= code < 400:
        error = f"HTTP {code}: redirects are not followed"
    elif code is not None:
        error = f"HTTP {code}"
    else:
        error = result.error or "no response"
    if code == 410:
        return Decision("failed", disable_endpoint=job.endpoint_id is not None, error=error + " (Gone)")
    delay = ws.retry_delay(job.attempt_count + 1)
    if delay is None:
        return Decision("failed", error=error)
    if result.retry_after is not None:
        delay = timedelta(seconds=min(result.retry_after, ws.max_retry_after_seconds))
    return Decision("pending", next_attempt_at=now + delay, error=error)


async def record(db: Database, ws: WebhookSettings, outcomes: list[Outcome], *, owner: str) -> None:
    """Write a batch of attempt outcomes: deliveries, attempts, endpoint health, callback_delivered."""
    if not outcomes:
        return
    now = utcnow()
    async with db.transaction() as session:
        rows = []
        for o in outcomes:
            res, dec = o.result, o.decision
            rows.append(
                {
                    "_id": o.job.id,
                    "_owner": owner,
                    "status": dec.status,
                    "attempt_count": o.job.attempt_count + (1 if res else 0),
                    "next_attempt_at": dec.next_attempt_at,
                    "last_attempt_at": res.started_at if res else None,
                    "last_status_code": res.status_code if res else None,
                    "last_error": dec.error,
                    "delivered_at": now if dec.status == "succeeded" else None,
                }
            )
        stmt = (
            update(WebhookDelivery)
            .where(WebhookDelivery.id == bindparam("_id"), WebhookDelivery.lease_owner == bindparam("_owner"))
            .values(
                status=bindparam("status"),
                attempt_count=bindparam("attempt_count"),
                next_attempt_at=bindparam("next_attempt_at"),
                last_attempt_at=bindparam("last_attempt_at"),
                last_status_code=bindparam("last_status_code"),
                last_error=bindparam("last_error"),
                delivered_at=bindparam("delivered_at"),
                lease_owner=None,
                lease_expires_at=None,
            )
        )
        await (await session.connection()).execute(stmt, rows)
        attempts = [
            {
                "delivery_id": o.job.id,
                "number": o.job.attempt_count + 1,
                "started_at": o.result.started_at,
                "duration_ms": o.result.duration_ms,
                "status_code": o.result.status_code,
                "error": o.result.error,
                "response_body": o.result.body,
            }
            for o in outcomes
            if o.result is not None
        ]
        if attempts:
            await (await session.connection()).execute(insert(WebhookAttempt), attempts)
        await _endpoint_health(session, ws, outcomes, now)
        delivered_calls = [
            o.job.call_id
            for o in outcomes
            if o.job.endpoint_id is None and o.job.call_id and o.decision.status == "succeeded"
        ]
        if delivered_calls:
            await session.execute(
                update(Call).where(Call.id.in_(delivered_calls)).values(callback_delivered=True)
            )


async def _endpoint_health(
    session: AsyncSession, ws: WebhookSettings, outcomes: list[Outcome], now: datetime
) -> None:
    ok: set[str] = set()
    failed: set[str] = set()
    gone: set[str] = set()
    for o in outcomes:
        ep = o.job.endpoint_id
        if ep is None or o.result is None:
            continue
        if o.decision.disable_endpoint:
            gone.add(ep)
        elif o.decision.status == "succeeded":
            if o.job.endpoint_unhealthy:  # healthy endpoints need no write
                ok.add(ep)
        else:
            failed.add(ep)
    if gone:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(gone))
            .values(enabled=False, status="disabled", disabled_reason="The endpoint answered 410 Gone.")
        )
    if ok:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(ok - gone), WebhookEndpoint.status != "disabled")
            .values(status="active", failing_since=None)
        )
    failed -= ok | gone
    if failed:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_(failed), WebhookEndpoint.failing_since.is_(None))
            .values(failing_since=now)
        )
        await session.execute(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id.in_(failed),
                WebhookEndpoint.status == "active",
                WebhookEndpoint.failing_since <= now - ws.failing_after,
            )
            .values(status="failing")
        )
