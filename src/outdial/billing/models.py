"""Prepaid billing: one account per organization and an append-only ledger in integer cents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from outdial.store.models import Base
from outdial.store.types import JSONType, UTCDateTime, new_id, utcnow


class BillingAccount(Base):
    __tablename__ = "billing_accounts"

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # None: billing off for this organization (no charges, no balance check).
    rate_cents_per_minute: Mapped[int | None] = mapped_column(Integer)
    auto_reload_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_reload_threshold_cents: Mapped[int] = mapped_column(Integer, default=0)
    auto_reload_amount_cents: Mapped[int] = mapped_column(Integer, default=0)
    auto_reload_monthly_cap_cents: Mapped[int | None] = mapped_column(Integer)
    # The payment provider's references for this customer (e.g. Stripe customer and payment method).
    payment: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        # A call is charged at most once, whichever process ends it.
        UniqueConstraint("org_id", "kind", "call_id", name="uq_ledger_entries_call_charge"),
        Index("ix_ledger_entries_org_created", "org_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # top_up | auto_reload | call | credit
    amount_cents: Mapped[int] = mapped_column(BigInteger)  # positive adds to the balance
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)
    call_id: Mapped[str | None] = mapped_column(String(36))
    billable_minutes: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(String(300))
    provider_ref: Mapped[str | None] = mapped_column(String(200))  # e.g. the Stripe PaymentIntent id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
