"""OneRoster 1.2: a district's version, users' preferred names, and the role a user holds at each
of its schools (1.2's roles list).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("districts") as batch:
        batch.add_column(
            sa.Column("oneroster_version", sa.Text(), nullable=False, server_default="1.1")
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("preferred_given_name", sa.Text(), nullable=True))
        batch.add_column(sa.Column("preferred_family_name", sa.Text(), nullable=True))
    with op.batch_alter_table("user_schools") as batch:
        batch.add_column(sa.Column("role", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_schools") as batch:
        batch.drop_column("role")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("preferred_family_name")
        batch.drop_column("preferred_given_name")
    with op.batch_alter_table("districts") as batch:
        batch.drop_column("oneroster_version")
