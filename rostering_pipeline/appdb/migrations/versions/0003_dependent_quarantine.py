"""The ledger keeps rows quarantined with an upstream row apart from rows quarantined on their own.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot_verdicts") as batch:
        batch.add_column(
            sa.Column(
                "dependent_quarantined_ids", sa.Text(), nullable=False, server_default="[]"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("snapshot_verdicts") as batch:
        batch.drop_column("dependent_quarantined_ids")
