"""Typed catalog attributes: their values on each item, a row per value for SQL filters, and their declarations.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("attributes", sa.JSON, nullable=False, server_default="{}"))
    op.create_table(
        "item_attributes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(200), sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("number", sa.Float, nullable=True),
        sa.Column("text", sa.String(200), nullable=True),
    )
    op.create_index("ix_item_attributes_item_id", "item_attributes", ["item_id"])
    op.create_index("ix_item_attributes_number", "item_attributes", ["name", "number"])
    op.create_index("ix_item_attributes_text", "item_attributes", ["name", "text"])
    op.create_table(
        "attribute_declarations",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attribute_declarations")
    op.drop_index("ix_item_attributes_text", "item_attributes")
    op.drop_index("ix_item_attributes_number", "item_attributes")
    op.drop_index("ix_item_attributes_item_id", "item_attributes")
    op.drop_table("item_attributes")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("attributes")
