"""Encrypted snapshots: each district's data key (wrapped by ROSTERING_SECRET_KEYS), its snapshot
retention, and a record of the exports made of its data.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("districts") as batch:
        batch.add_column(sa.Column("data_key_ciphertext", sa.Text(), nullable=True))
        batch.add_column(sa.Column("data_key_key_id", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("snapshot_retention_runs", sa.Integer(), nullable=False, server_default="7")
        )
        batch.add_column(
            sa.Column("snapshot_retention_days", sa.Integer(), nullable=False, server_default="30")
        )
    op.create_table(
        "district_exports",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("district_id", BigId, nullable=False),
        sa.Column("exported_at", Timestamp, nullable=False),
        sa.Column("format", sa.Text(), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_district_exports")),
        sa.ForeignKeyConstraint(
            ["district_id"], ["districts.id"], name=op.f("fk_district_exports_district_id_districts")
        ),
    )


def downgrade() -> None:
    op.drop_table("district_exports")
    with op.batch_alter_table("districts") as batch:
        batch.drop_column("snapshot_retention_days")
        batch.drop_column("snapshot_retention_runs")
        batch.drop_column("data_key_key_id")
        batch.drop_column("data_key_ciphertext")
