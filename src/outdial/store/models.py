"""SQLAlchemy models of the foundation: tenancy, keys, agents, trunks, numbers, calls and their events.

Other domains keep their tables in their own ``models.py`` on the same :class:`Base` (webhooks,
billing, dnc) and their own Alembic revision. Every row that belongs to a customer carries
``org_id``; every query filters on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from outdial.store.types import JSONType, UTCDateTime, new_id, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    default_country: Mapped[str | None] = mapped_column(String(2))
    # Org-wide settings: max_concurrent_calls, calling_window, retention {...}.
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # "key_..." shown to the user
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(36))  # scoped to one agent when set
    secret_hash: Mapped[str] = mapped_column(String(128), unique=True)  # sha256 hex of the secret
    prefix: Mapped[str] = mapped_column(String(16))  # first characters, to recognise a key in a list
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    # Every other field of the agent (prompt, first_message, speak_order, brain, stt, tts, vad, ...),
    # validated by the agents schema; defaults are filled in at write time.
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SipTrunk(Base):
    __tablename__ = "sip_trunks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))  # host[:port]
    transport: Mapped[str] = mapped_column(String(8), default="udp")  # udp | tcp | tls
    username: Mapped[str | None] = mapped_column(String(200))
    password: Mapped[str | None] = mapped_column(String(500))  # never returned by the API
    media_encryption: Mapped[str] = mapped_column(String(16), default="none")  # none|srtp|srtp_required
    max_concurrent_calls: Mapped[int | None] = mapped_column(Integer)
    calls_per_second: Mapped[float | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PhoneNumber(Base):
    __tablename__ = "phone_numbers"
    __table_args__ = (UniqueConstraint("org_id", "number", name="uq_phone_numbers_org_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(20))  # E.164
    kind: Mapped[str] = mapped_column(String(8), default="voip")  # voip | demo
    trunk_id: Mapped[str | None] = mapped_column(ForeignKey("sip_trunks.id", ondelete="SET NULL"))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    outbound_agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Call(Base):
    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_org_created", "org_id", "created_at", "id"),
        Index("ix_calls_org_agent_created", "org_id", "agent_id", "created_at"),
        Index("ix_calls_org_agent_status_created", "org_id", "agent_id", "status", "created_at"),
        Index("ix_calls_org_status_created", "org_id", "status", "created_at"),
        Index("ix_calls_due", "status", "next_attempt_at"),
        Index("ix_calls_org_external", "org_id", "external_id"),
        Index("ix_calls_org_to_created", "org_id", "to_number", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[str | None] = mapped_column(String(36))  # None for an inline agent
    # The agent as it was when the call was accepted, with the request's overrides applied.
    agent_config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    source: Mapped[str] = mapped_column(String(16), default="native")  # native|telzino|twenty2|polyai|byo
    external_id: Mapped[str | None] = mapped_column(String(64))  # a vendor surface's own id

    to_number: Mapped[str] = mapped_column(String(20))
    from_number: Mapped[str] = mapped_column(String(20))
    phone_number_id: Mapped[str | None] = mapped_column(String(36))
    trunk_id: Mapped[str | None] = mapped_column(String(36))

    status: Mapped[str] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(32))
    answered_by: Mapped[str | None] = mapped_column(String(16))

    # Plain JSON, not JSONB: PostgreSQL keeps the text as sent, so metadata echoes back key order intact.
    request_metadata: Mapped[Any] = mapped_column(JSON, default=dict)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    call_context: Mapped[str | None] = mapped_column(Text)
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    sip_headers: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    media_encryption: Mapped[str | None] = mapped_column(String(16))  # per-call override
    transport: Mapped[str | None] = mapped_column(String(8))  # per-call override

    ring_timeout_seconds: Mapped[int] = mapped_column(Integer, default=45)
    max_duration_seconds: Mapped[int] = mapped_column(Integer, default=600)
    max_hold_seconds: Mapped[int | None] = mapped_column(Integer)
    retry: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    calling_window: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    dialed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_seconds: Mapped[int | None] = mapped_column(Integer)

    error: Mapped[str | None] = mapped_column(Text)
    sip_status_code: Mapped[int | None] = mapped_column(Integer)
    transcript_id: Mapped[str | None] = mapped_column(String(36))
    recording_path: Mapped[str | None] = mapped_column(String(1024))
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    billable_minutes: Mapped[int | None] = mapped_column(Integer)
    cost_cents: Mapped[int | None] = mapped_column(Integer)
    callback_delivered: Mapped[bool] = mapped_column(Boolean, default=False)


class CallAttempt(Base):
    __tablename__ = "call_attempts"
    __table_args__ = (UniqueConstraint("call_id", "number", name="uq_call_attempts_call_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # 1-based
    worker_id: Mapped[str | None] = mapped_column(String(64))
    sip_call_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(32))
    sip_status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    dialed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CallEvent(Base):
    """Append-only log of every call status change; the webhook outbox reads it in order."""

    __tablename__ = "call_events"
    __table_args__ = (Index("ix_call_events_call", "call_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    org_id: Mapped[str] = mapped_column(String(36), index=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    type: Mapped[str | None] = mapped_column(String(32))  # webhook event type, None if none is emitted
    from_status: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Transcript(Base):
    __tablename__ = "transcripts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(String(36), index=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    # [{role, text, start_ms, end_ms, interrupted, latency: {...}}]
    turns: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    org_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    scope: Mapped[str] = mapped_column(String(100))  # "POST /v1/calls"
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[Any] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
