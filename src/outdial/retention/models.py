"""The per-organization retention policy (one row per org; absent means keep everything)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from outdial.store.models import Base
from outdial.store.types import UTCDateTime, utcnow


class RetentionPolicy(Base):
    __tablename__ = "retention_policies"

    org_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    # Hours after a call ends; None keeps forever. Call records take their transcript,
    # recording, events and webhook deliveries with them.
    call_records_hours: Mapped[int | None] = mapped_column(Integer)
    transcripts_hours: Mapped[int | None] = mapped_column(Integer)
    recordings_hours: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
