"""do-not-call list and prepaid billing

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import outdial.store.types

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TS = outdial.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dnc_entries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "org_id",
            sa.String(36),
            sa.ForeignKey("organizations.id", ondelete="CASCADE", name="fk_dnc_entries_org_id_organizations"),
            nullable=False,
        ),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(500)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("call_id", sa.String(36)),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("org_id", "number", name="uq_dnc_entries_org_number"),
    )
    op.create_table(
        "billing_accounts",
        sa.Column(
            "org_id",
            sa.String(36),
            sa.ForeignKey(
                "organizations.id", ondelete="CASCADE", name="fk_billing_accounts_org_id_organizations"
            ),
            primary_key=True,
        ),
        sa.Column("balance_cents", sa.BigInteger(), nullable=False),
        sa.Column("rate_cents_per_minute", sa.Integer()),
        sa.Column("auto_reload_enabled", sa.Boolean(), nullable=False),
        sa.Column("auto_reload_threshold_cents", sa.Integer(), nullable=False),
        sa.Column("auto_reload_amount_cents", sa.Integer(), nullable=False),
        sa.Column("auto_reload_monthly_cap_cents", sa.Integer()),
        sa.Column("payment", JSON, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "org_id",
            sa.String(36),
            sa.ForeignKey(
                "organizations.id", ondelete="CASCADE", name="fk_ledger_entries_org_id_organizations"
            ),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("balance_after_cents", sa.BigInteger(), nullable=False),
        sa.Column("call_id", sa.String(36)),
        sa.Column("billable_minutes", sa.Integer()),
        sa.Column("description", sa.String(300)),
        sa.Column("provider_ref", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("org_id", "kind", "call_id", name="uq_ledger_entries_call_charge"),
    )
    op.create_index("ix_ledger_entries_org_created", "ledger_entries", ["org_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_org_created", "ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("billing_accounts")
    op.drop_table("dnc_entries")
