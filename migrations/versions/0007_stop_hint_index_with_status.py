"""outbox: the "told how to stop" index is used, and holds the status

Fan-out asks which residents had a hinted SMS that was not cancelled or failed. Its query said
`with_stop_hint IS true`, which PostgreSQL cannot match to the index's `WHERE with_stop_hint`, so
every publication read the whole outbox. The query now says what SQLAlchemy renders for a plain
boolean column (`with_stop_hint` on PostgreSQL, `with_stop_hint = 1` on SQLite), the index's
predicate is written the same way on each, and the status is in the index so the answer comes
from the index alone.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PG_HINTED, SQLITE_HINTED = sa.text("with_stop_hint"), sa.text("with_stop_hint = 1")


def upgrade():
    op.drop_index("ix_outbox_stop_hint", table_name="outbox")
    op.create_index(
        "ix_outbox_stop_hint",
        "outbox",
        ["subscriber_id", "status"],
        postgresql_where=PG_HINTED,
        sqlite_where=SQLITE_HINTED,
    )


def downgrade():
    op.drop_index("ix_outbox_stop_hint", table_name="outbox")
    old = sa.text("with_stop_hint")
    op.create_index("ix_outbox_stop_hint", "outbox", ["subscriber_id"], postgresql_where=old, sqlite_where=old)
