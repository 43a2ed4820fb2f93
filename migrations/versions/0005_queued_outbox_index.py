"""queued outbox index: the claim reads the queue in its own order instead of sorting the backlog

Revision ID: 0005
Revises: 0004
"""


import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_outbox_queued",
        "outbox",
        ["urgent", "id"],
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    )


def downgrade():
    op.drop_index("ix_outbox_queued", table_name="outbox")
