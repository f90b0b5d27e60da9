"""webhooks: NOTIFY outdial_webhooks after call_events inserts (PostgreSQL), to wake senders at once

Revision ID: 0003_webhooks_notify
Revises: 0003_webhooks
"""

from __future__ import annotations

from alembic import op

revision = "0003_webhooks_notify"
down_revision = "0003_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite deployments are one process: the sender polls its own database
    op.execute(
        """
        CREATE OR REPLACE FUNCTION outdial_webhooks_notify() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('outdial_webhooks', '');
            RETURN NULL;
        END;
        $$ LANGUAGE plpgsql
        """
    )
    # Once per statement; PostgreSQL delivers it at commit and folds duplicates within a transaction.
    op.execute(
        """
        CREATE TRIGGER call_events_notify_webhooks AFTER INSERT ON call_events
        FOR EACH STATEMENT EXECUTE FUNCTION outdial_webhooks_notify()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS call_events_notify_webhooks ON call_events")
    op.execute("DROP FUNCTION IF EXISTS outdial_webhooks_notify()")
