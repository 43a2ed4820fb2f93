"""gateway_slots: a limit of the gateway that every worker shares

SMSC answers error 9 to a second status.php request about several messages within a minute (one
"mass" request a minute per login). The status poller and the reconcile job of every worker take
that minute's turn from this table before such a request.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "gateway_slots",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("free_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_gateway_slots")),
    )


def downgrade():
    op.drop_table("gateway_slots")
