"""Webhook tables: endpoints, deliveries (the outbox's work queue), attempts, org secrets, the cursor.

One import of this module registers every table of results delivery, retention's included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from outdial.retention.models import RetentionPolicy as RetentionPolicy  # registered with ours
from outdial.store.models import Base, BigId
from outdial.store.types import JSONType, UTCDateTime, new_id, utcnow


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str | None] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)  # event types subscribed to
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # active | failing (every delivery failing for 24 h) | disabled (answered 410 Gone)
    status: Mapped[str] = mapped_column(String(16), default="active")
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))  # still signed with until...
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookOrgSecret(Base):
    """The secret that signs an org's per-call ``callback_url`` deliveries."""

    __tablename__ = "webhook_org_secrets"

    org_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One message to one target: retried until delivered; ``message_id`` is its ``webhook-id``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # Fan-out is idempotent: one delivery per (event, target) whoever processes the event.
        UniqueConstraint("event_id", "target_key", name="uq_webhook_deliveries_event_target"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_org_created", "org_id", "created_at"),
        Index("ix_webhook_deliveries_call", "call_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(String(36), index=False)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # call_events.id; None for test messages
    target_key: Mapped[str] = mapped_column(String(40))  # endpoint id, or "callback"
    endpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    # Set only on callback_url deliveries: a call's callback receives one logical call.ended.
    callback_call_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    call_id: Mapped[str | None] = mapped_column(String(36))
    url: Mapped[str] = mapped_column(String(2048))  # callback_url; endpoints are read at send time
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    # pending -> delivering -> succeeded | failed (retries exhausted, 410, endpoint gone) | canceled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)  # 1-based
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)  # first KB, for debugging


class WebhookCursor(Base):
    """How far the outbox has turned call_events into deliveries (shared by every sender).

    ``last_event_id``: every event up to it is done. ``high_event_id``: the highest seen. ``gaps``:
    ids between the two not seen yet (a transaction that took an id and has not committed), with
    when each was first noticed; after a timeout a gap is taken to be a rollback.
    """

    __tablename__ = "webhook_cursor"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    high_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    gaps: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
