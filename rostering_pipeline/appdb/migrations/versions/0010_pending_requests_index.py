"""The webhook inbox indexed for a fleet: the pending requests (read by the sensor every tick)
and the requests' age (the week's retention), so neither scans every district's notifications.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

PENDING = sa.text("consumed_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_sync_requests_pending",
        "sync_requests",
        ["district_id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index("ix_sync_requests_received_at", "sync_requests", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_sync_requests_received_at", table_name="sync_requests")
    op.drop_index("ix_sync_requests_pending", table_name="sync_requests")
