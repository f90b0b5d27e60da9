"""The rules behind the webhook routes: endpoints and their secrets, deliveries, test and retry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from outdial.api.errors import ApiError, not_found
from outdial.api.pagination import PageParams, Pagination, paginate
from outdial.orgs.access import org_row
from outdial.orgs.inputs import has_nul
from outdial.store.types import utcnow
from outdial.webhooks.jobs import ensure_org_secret
from outdial.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookOrgSecret
from outdial.webhooks.outbox import CALLBACK, new_message_id
from outdial.webhooks.payloads import sample_payload
from outdial.webhooks.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    OrgSecretOut,
)
from outdial.webhooks.signing import generate_secret
from outdial.webhooks.urlsafety import UnsafeUrlError, check_url_static

ROTATION_OVERLAP = timedelta(hours=24)


def check_url(url: str, *, allow_private: bool) -> str:
    try:
        check_url_static(url, allow_private=allow_private)
    except UnsafeUrlError as exc:
        raise ApiError(400, exc.code, exc.message, "url") from exc
    return url


def endpoint_out(ep: WebhookEndpoint) -> EndpointOut:
    return EndpointOut.model_validate(
        {
            "id": ep.id,
            "url": ep.url,
            "events": list(ep.events or []),
            "description": ep.description,
            "enabled": ep.enabled,
            "status": ep.status,
            "disabled_reason": ep.disabled_reason,
            "failing_since": ep.failing_since,
            "created_at": ep.created_at,
            "updated_at": ep.updated_at,
        }
    )


async def create_endpoint(
    session: AsyncSession, org_id: str, body: EndpointCreate, *, allow_private: bool
) -> WebhookEndpoint:
    now = utcnow()
    ep = WebhookEndpoint(
        org_id=org_id,
        url=check_url(body.url, allow_private=allow_private),
        events=[e.value for e in body.events],
        description=body.description,
        enabled=body.enabled,
        status="active",
        secret=generate_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(ep)
    await session.flush()
    return ep


async def get_endpoint(session: AsyncSession, org_id: str, endpoint_id: str) -> WebhookEndpoint:
    ep = await org_row(session, WebhookEndpoint, org_id, endpoint_id)
    if ep is None:
        raise not_found("webhook endpoint", param="id")
    return ep


async def list_endpoints(
    session: AsyncSession, org_id: str, params: PageParams
) -> tuple[list[WebhookEndpoint], Pagination]:
    query = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.org_id == org_id)
        .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())
    )
    return await paginate(session, query, params)


async def update_endpoint(
    session: AsyncSession, ep: WebhookEndpoint, body: EndpointUpdate, *, allow_private: bool
) -> WebhookEndpoint:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("url") is not None:
        ep.url = check_url(changes["url"], allow_private=allow_private)
    if changes.get("events") is not None:
        ep.events = [str(e) for e in changes["events"]]
    if "description" in changes:
        ep.description = changes["description"]
    if changes.get("enabled") is not None:
        ep.enabled = bool(changes["enabled"])
        if ep.enabled and ep.status == "disabled":
            ep.status, ep.disabled_reason, ep.failing_since = "active", None, None
    ep.updated_at = utcnow()
    await session.flush()
    return ep


async def rotate_endpoint_secret(session: AsyncSession, ep: WebhookEndpoint) -> tuple[str, datetime]:
    """A new secret; the old one keeps signing (alongside) for 24 h."""
    now = utcnow()
    ep.previous_secret = ep.secret
    ep.previous_secret_expires_at = now + ROTATION_OVERLAP
    ep.secret = generate_secret()
    ep.updated_at = now
    await session.flush()
    return ep.secret, ep.previous_secret_expires_at


async def send_test(session: AsyncSession, ep: WebhookEndpoint, event_type: str) -> WebhookDelivery:
    """Queue a sample message to ``ep`` through the normal delivery path (signed, retried)."""
    now = utcnow()
    delivery = WebhookDelivery(
        id="dlv_" + new_message_id()[4:],
        org_id=ep.org_id,
        message_id=new_message_id(),
        event_id=None,
        target_key=ep.id,
        endpoint_id=ep.id,
        call_id=None,
        url=ep.url,
        event_type=event_type,
        payload=sample_payload(event_type, ep.org_id, now),
        status="pending",
        attempt_count=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery


async def org_secret(session: AsyncSession, org_id: str) -> WebhookOrgSecret:
    """The org's callback_url signing secret, created on first request."""
    return await ensure_org_secret(session, org_id, utcnow())


async def rotate_org_secret(session: AsyncSession, org_id: str) -> WebhookOrgSecret:
    row = await org_secret(session, org_id)
    row.previous_secret = row.secret
    row.previous_secret_expires_at = utcnow() + ROTATION_OVERLAP
    row.secret = generate_secret()
    await session.flush()
    return row


def org_secret_out(row: WebhookOrgSecret) -> OrgSecretOut:
    expires = row.previous_secret_expires_at
    return OrgSecretOut(
        secret=row.secret, previous_secret_expires_at=expires if expires and expires > utcnow() else None
    )


def delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(_delivery_fields(d))


def _delivery_fields(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "message_id": d.message_id,
        "target": "callback" if d.target_key == CALLBACK else "endpoint",
        "endpoint_id": d.endpoint_id,
        "call_id": d.call_id,
        "event_type": d.event_type,
        "url": d.url,
        "status": d.status,
        "attempt_count": d.attempt_count,
        "next_attempt_at": d.next_attempt_at,
        "last_attempt_at": d.last_attempt_at,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
        "payload": d.payload,
    }


async def delivery_detail(session: AsyncSession, d: WebhookDelivery) -> DeliveryDetail:
    attempts = (
        await session.execute(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id == d.id)
            .order_by(WebhookAttempt.number, WebhookAttempt.id)
        )
    ).scalars()
    return DeliveryDetail.model_validate(
        {
            **_delivery_fields(d),
            "attempts": [
                AttemptOut(
                    number=a.number,
                    started_at=a.started_at,
                    duration_ms=a.duration_ms,
                    status_code=a.status_code,
                    error=a.error,
                    response_body=a.response_body,
                )
                for a in attempts
            ],
        }
    )


async def get_delivery(session: AsyncSession, org_id: str, delivery_id: str) -> WebhookDelivery:
    d = await org_row(session, WebhookDelivery, org_id, delivery_id)
    if d is None:
        raise not_found("webhook delivery", param="id")
    return d


async def list_deliveries(
    session: AsyncSession,
    org_id: str,
    params: PageParams,
    *,
    endpoint_id: str | None = None,
    call_id: str | None = None,
    event_type: str | None = None,
    status: str | None = None,
    target: str | None = None,
) -> tuple[list[WebhookDelivery], Pagination]:
    query: Select[Any] = select(WebhookDelivery).where(WebhookDelivery.org_id == org_id)
    if any(has_nul(i) for i in (endpoint_id, call_id) if i is not None):
        query = query.where(false())  # no id holds NUL; false() drops the filters PostgreSQL cannot compare
    if endpoint_id is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint_id)
    if call_id is not None:
        query = query.where(WebhookDelivery.call_id == call_id)
    if event_type is not None:
        query = query.where(WebhookDelivery.event_type == event_type)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if target == "callback":
        query = query.where(WebhookDelivery.target_key == CALLBACK)
    elif target == "endpoint":
        query = query.where(WebhookDelivery.target_key != CALLBACK)
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    return await paginate(session, query, params)


async def retry_delivery(session: AsyncSession, d: WebhookDelivery) -> WebhookDelivery:
    """Send again now, with the same webhook-id; a delivery being sent right now is left alone."""
    if d.status == "delivering":
        raise ApiError(
            409, "delivery_in_progress", "This delivery is being sent right now; try again shortly."
        )
    if d.endpoint_id is not None:
        ep = await session.get(WebhookEndpoint, d.endpoint_id)
        if ep is None or not ep.enabled or ep.status == "disabled":
            raise ApiError(
                409, "endpoint_disabled", "The endpoint is disabled; enable it before retrying.", "id"
            )
    d.status = "pending"
    d.next_attempt_at = utcnow()
    await session.flush()
    return d
