"""Safe sessions: one turn at a time per conversation, versioned state and profiles, idempotent turns,
shared rate windows and server secrets.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("state_version", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("turn_owner", sa.String(32)))
        batch.add_column(sa.Column("turn_until", sa.Float))
        batch.drop_column("rate_count")  # request counting moved to rate_windows
        batch.drop_column("rate_window_start")
    with op.batch_alter_table("user_profiles") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="0"))
    with op.batch_alter_table("turns") as batch:
        batch.add_column(sa.Column("action", sa.String(16), nullable=False, server_default="recommend"))
        batch.add_column(sa.Column("request_key", sa.String(64)))
        batch.create_unique_constraint("uq_turns_conversation_request_key", ["conversation_id", "request_key"])
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    op.drop_table("rate_windows")
    with op.batch_alter_table("turns") as batch:
        batch.drop_constraint("uq_turns_conversation_request_key", type_="unique")
        batch.drop_column("request_key")
        batch.drop_column("action")
    with op.batch_alter_table("user_profiles") as batch:
        batch.drop_column("version")
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("rate_window_start", sa.Float))
        batch.add_column(sa.Column("rate_count", sa.Integer, nullable=False, server_default="0"))
        batch.drop_column("turn_until")
        batch.drop_column("turn_owner")
        batch.drop_column("state_version")
