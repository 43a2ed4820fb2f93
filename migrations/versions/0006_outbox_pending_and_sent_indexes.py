"""outbox: index only the pending messages by status, and sent messages by when they went

The full (status, next_attempt_at) index grew with every message ever sent and took a new entry
on every status change; the daily budget (before each dispatch) and the status poller filter on
sent_at, which no index led with, so both read the whole outbox.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PENDING = sa.text("status IN ('queued', 'held', 'sending')")


def upgrade():
    op.drop_index("ix_outbox_status_next", table_name="outbox")
    # Partial on PostgreSQL only: SQLite cannot tell that status = 'held' implies the IN list.
    op.create_index("ix_outbox_pending", "outbox", ["status", "next_attempt_at"], postgresql_where=PENDING)
    op.create_index(
        "ix_outbox_sent_at",
        "outbox",
        ["sent_at"],
        postgresql_where=sa.text("sent_at IS NOT NULL"),
        sqlite_where=sa.text("sent_at IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.create_index("ix_outbox_status_next", "outbox", ["status", "next_attempt_at"])
