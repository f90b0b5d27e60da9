"""The dialer's own tables: worker heartbeats, per-trunk pacing state and cancel requests.

Plus one index on ``calls`` that the limits need (live calls per trunk), declared here so that the
metadata and the ``0002`` migration agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from outdial.store.models import Base, Call
from outdial.store.types import UTCDateTime, utcnow

# Live calls per trunk and per org are counted inside every admission; these keep that cheap.
Index("ix_calls_trunk_status", Call.trunk_id, Call.status)
Index("ix_calls_lease_owner", Call.lease_owner)


class DialerWorker(Base):
    """One row per dialer process: who is alive, how loaded, since when."""

    __tablename__ = "dialer_workers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[int] = mapped_column(Integer)
    live_calls: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TrunkPace(Base):
    """The calls-per-second state of one trunk, shared by every worker (GCRA: theoretical arrival time).

    Its row is also the lock that serialises admissions on the trunk, so the live-call count read
    under it is exact across workers.
    """

    __tablename__ = "dialer_trunk_pace"

    trunk_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tat: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CancelRequest(Base):
    """The API asked to cancel a live call; the worker that owns it sends CANCEL or BYE."""

    __tablename__ = "dialer_cancel_requests"

    call_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
