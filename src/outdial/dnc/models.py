"""The do-not-call list: numbers an organization must never call, on any surface."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from outdial.store.models import Base
from outdial.store.types import UTCDateTime, new_id, utcnow


class DncEntry(Base):
    __tablename__ = "dnc_entries"
    __table_args__ = (UniqueConstraint("org_id", "number", name="uq_dnc_entries_org_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(20))  # E.164
    reason: Mapped[str | None] = mapped_column(String(500))
    # api | import | agent (the callee asked during a call) ...
    source: Mapped[str] = mapped_column(String(16), default="api")
    call_id: Mapped[str | None] = mapped_column(String(36))  # the call in which the callee opted out
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
