"""The ledger is found by district and keeps only the runs whose snapshots are kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

KEEP_RUNS = 7  # rostering_pipeline.snapshots.KEEP_RUNS when this migration was written


def upgrade() -> None:
    op.create_index(
        op.f("ix_snapshot_verdicts_district_id_entity_id"),
        "snapshot_verdicts",
        ["district_id", "entity", "id"],
    )
    # Verdicts of runs older than each district's last KEEP_RUNS point at pruned snapshots.
    op.execute(
        sa.text(
            """
            DELETE FROM snapshot_verdicts WHERE id IN (
                SELECT v.id FROM snapshot_verdicts v
                JOIN (
                    SELECT district_id, dagster_run_id,
                           ROW_NUMBER() OVER (
                               PARTITION BY district_id ORDER BY MAX(id) DESC
                           ) AS newest
                    FROM snapshot_verdicts GROUP BY district_id, dagster_run_id
                ) r ON r.district_id = v.district_id AND r.dagster_run_id = v.dagster_run_id
                WHERE r.newest > :keep
            )
            """
        ).bindparams(keep=KEEP_RUNS)
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_snapshot_verdicts_district_id_entity_id"), "snapshot_verdicts")
