"""A district remembers when the roster it holds was pulled, so that no run applies an older set
of snapshots over it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("districts") as batch:
        batch.add_column(sa.Column("roster_pulled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("districts") as batch:
        batch.drop_column("roster_pulled_at")
