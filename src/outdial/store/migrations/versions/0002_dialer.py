"""dialer: worker heartbeats, trunk pacing, cancel requests, live-call indexes

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import outdial.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dialer_workers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("live_calls", sa.Integer(), nullable=False),
        sa.Column("started_at", outdial.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", outdial.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", outdial.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dialer_workers")),
    )
    op.create_table(
        "dialer_trunk_pace",
        sa.Column("trunk_id", sa.String(length=36), nullable=False),
        sa.Column("tat", outdial.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("trunk_id", name=op.f("pk_dialer_trunk_pace")),
    )
    op.create_table(
        "dialer_cancel_requests",
        sa.Column("call_id", sa.String(length=36), nullable=False),
        sa.Column("requested_at", outdial.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_dialer_cancel_requests")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_trunk_status", ["trunk_id", "status"], unique=False)
        batch_op.create_index("ix_calls_lease_owner", ["lease_owner"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_lease_owner")
        batch_op.drop_index("ix_calls_trunk_status")
    op.drop_table("dialer_cancel_requests")
    op.drop_table("dialer_trunk_pace")
    op.drop_table("dialer_workers")
