"""OneRoster CSV files: a district's source (rest or csv), and the ledger's note that a package
left an entity's file out (the entity stays as it is).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("districts") as batch:
        batch.add_column(sa.Column("source", sa.Text(), nullable=False, server_default="rest"))
    with op.batch_alter_table("snapshot_verdicts") as batch:
        batch.add_column(
            sa.Column("file_absent", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("snapshot_verdicts") as batch:
        batch.drop_column("file_absent")
    with op.batch_alter_table("districts") as batch:
        batch.drop_column("source")
