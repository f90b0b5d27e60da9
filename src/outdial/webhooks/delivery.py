"""One delivery attempt and what follows from it: claim, send (signed, pinned), decide, record.

Success is a 2xx. Anything else (3xx included: redirects are never followed) is a failure retried on
the schedule, a ``Retry-After`` from the receiver taking precedence; 410 Gone ends the delivery and
disables the endpoint. An endpoint whose deliveries have all failed for 24 h is marked ``failing``.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpcore
import httpx
from sqlalchemy import bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.store.db import Database
from outdial.store.models import Call
from outdial.store.types import utcnow
from outdial.webhooks.config import WebhookSettings
from outdial.webhooks.jobs import Job
from outdial.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from outdial.webhooks.signing import webhook_headers
from outdial.webhooks.transport import PinnedTransport
from outdial.webhooks.urlsafety import Resolver, UnsafeUrlError, resolve_safe_target

USER_AGENT = "outdial-webhooks/1"
MAX_BODY_KEPT = 1024


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


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def send(
    transport: PinnedTransport,
    job: Job,
    ws: WebhookSettings,
    *,
    allow_private: bool,
    resolver: Resolver | None = None,
) -> AttemptResult:
    """One signed POST of ``job`` to the very address the URL check approved.

    Straight through the transport, without a client: nothing here may follow a redirect, send
    cookies or read proxy settings from the environment, and it costs less per request.
    """
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
            t = ws.timeout_seconds
            request = httpx.Request(
                "POST",
                url,
                content=body,
                headers=headers,
                extensions={"timeout": {"connect": t, "read": t, "write": t, "pool": t}},
            )
            response = await transport.handle_async_request(request)
            try:
                kept = b""
                async for chunk in response.aiter_raw():
                    kept += chunk[: MAX_BODY_KEPT - len(kept)]
                    if len(kept) >= MAX_BODY_KEPT:
                        break
            finally:
                await response.aclose()
            return done(
                status_code=response.status_code,
                body=kept.decode("utf-8", "replace") or None,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
    except UnsafeUrlError as exc:
        return done(error=f"unsafe URL: {exc.message}")
    except TimeoutError:
        return done(error=f"timed out after {ws.timeout_seconds:g} s")
    except (httpx.HTTPError, httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
        return done(error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    except (OSError, ssl.SSLError) as exc:
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
