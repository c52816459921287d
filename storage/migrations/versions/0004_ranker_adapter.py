"""Interest adapter: the fitted linear map of the interest vector, stored with the ranker's weights.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ranker_models") as batch:
        batch.add_column(sa.Column("adapter", sa.LargeBinary, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ranker_models") as batch:
        batch.drop_column("adapter")
