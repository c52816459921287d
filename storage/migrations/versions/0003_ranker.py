"""Hybrid ranker: fitted weights (ranker_models) and collaborative counts (item_links).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ranker_models",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("weights", sa.JSON, nullable=False),
        sa.Column("meta", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "item_links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(100), sa.ForeignKey("ranker_models.name", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("source_id", sa.String(200), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("count", sa.Float, nullable=False),
        sa.UniqueConstraint("model", "source_id", "target_id"),
    )


def downgrade() -> None:
    op.drop_table("item_links")
    op.drop_table("ranker_models")
