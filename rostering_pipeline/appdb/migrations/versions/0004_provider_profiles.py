"""What real providers send: provider profiles, the provider's clock per pull, failure counts per
snapshot, a per-district delta overlap, and a course's 1.0-style school year.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "provider_profiles",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("district_id", BigId, nullable=False),
        sa.Column("entity", sa.Text(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_profiles")),
        sa.ForeignKeyConstraint(
            ["district_id"], ["districts.id"], name=op.f("fk_provider_profiles_district_id_districts")
        ),
        sa.UniqueConstraint(
            "district_id", "entity", name=op.f("uq_provider_profiles_district_id_entity")
        ),
    )
    with op.batch_alter_table("snapshot_verdicts") as batch:
        batch.add_column(sa.Column("provider_clock_at", Timestamp, nullable=True))
        batch.add_column(
            sa.Column("failure_counts", sa.Text(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("districts") as batch:
        batch.add_column(sa.Column("delta_overlap_seconds", sa.Integer(), nullable=True))
    with op.batch_alter_table("courses") as batch:
        batch.add_column(sa.Column("school_year", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("courses") as batch:
        batch.drop_column("school_year")
    with op.batch_alter_table("districts") as batch:
        batch.drop_column("delta_overlap_seconds")
    with op.batch_alter_table("snapshot_verdicts") as batch:
        batch.drop_column("failure_counts")
        batch.drop_column("provider_clock_at")
    op.drop_table("provider_profiles")
