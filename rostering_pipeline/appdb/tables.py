"""SQLAlchemy Core tables of the application database. Alembic migrations mirror this file.

Lists are JSON text on both databases; timestamps are timezone-aware (UTC).
"""

from __future__ import annotations

from datetime import UTC

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# bigint on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Timestamp(sa.TypeDecorator):
    """Timezone-aware UTC on both databases (SQLite hands back naive values: they are UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(UTC) if value is not None and value.tzinfo else value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _id() -> sa.Column:
    return sa.Column("id", BigId, primary_key=True, autoincrement=True)


def _district_fk() -> sa.Column:
    return sa.Column("district_id", BigId, sa.ForeignKey("districts.id"), nullable=False)


def _roster_columns() -> list[sa.Column]:
    """Columns every roster table shares (DESIGN.md, Application database)."""
    return [
        _id(),
        _district_fk(),
        sa.Column("sourced_id", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("first_seen_at", Timestamp(), nullable=False),
        sa.Column("updated_at", Timestamp(), nullable=False),
        sa.Column("deactivated_at", Timestamp()),
        sa.Column("source_modified_at", Timestamp()),
        sa.Column("row_hash", sa.Text, nullable=False),
    ]


def _roster_table(name: str, *columns: sa.Column) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        *_roster_columns(),
        *columns,
        sa.UniqueConstraint("district_id", "sourced_id"),
        sa.CheckConstraint("active = (deactivated_at IS NULL)", name="active_iff_not_deactivated"),
    )


districts = sa.Table(
    "districts",
    metadata,
    _id(),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # preview | active | paused | purged
    sa.Column("credentials_ok", sa.Boolean),  # null until a sync has tried them
    # endpoint and auth
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("auth_method", sa.Text, nullable=False),  # oauth2 | oauth1
    sa.Column("oneroster_version", sa.Text, nullable=False, server_default="1.1"),  # 1.1 | 1.2
    sa.Column("source", sa.Text, nullable=False, server_default="rest"),  # rest | csv
    sa.Column("client_id", sa.Text, nullable=False),
    sa.Column("token_url", sa.Text),
    sa.Column("scope", sa.Text),
    sa.Column("client_secret_ciphertext", sa.Text),  # base64(nonce || AES-256-GCM ciphertext)
    sa.Column("client_secret_key_id", sa.Text),
    sa.Column("webhook_secret_ciphertext", sa.Text),
    sa.Column("webhook_secret_key_id", sa.Text),
    # the snapshots' data key (32 bytes), wrapped like the secrets; a purge destroys it
    sa.Column("data_key_ciphertext", sa.Text),
    sa.Column("data_key_key_id", sa.Text),
    sa.Column("snapshot_retention_runs", sa.Integer, nullable=False, server_default="7"),
    sa.Column("snapshot_retention_days", sa.Integer, nullable=False, server_default="30"),
    # schedules
    sa.Column("schedule", sa.Text, nullable=False),  # cron, full syncs
    sa.Column("delta_schedule", sa.Text),  # cron, delta syncs
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("blackout_start", sa.Date),
    sa.Column("blackout_end", sa.Date),
    # scope and guard
    sa.Column("school_allow_list", sa.Text),  # JSON list of school sourced_ids; null = all
    sa.Column("include_guardians", sa.Boolean, nullable=False),
    sa.Column("max_deactivation_ratio", sa.Float, nullable=False),
    sa.Column("min_deactivation_rows", sa.Integer, nullable=False),
    # client tuning
    sa.Column("page_size", sa.Integer, nullable=False),
    sa.Column("concurrency", sa.Integer, nullable=False),
    sa.Column("delta_overlap_seconds", sa.Integer),  # null: chosen from the provider profile
    # state
    sa.Column("delta_high_water_mark", Timestamp()),
    # when the applied roster was pulled (its oldest snapshot's verdict): no older set over it
    sa.Column("roster_pulled_at", Timestamp()),
    sa.Column("last_success_at", Timestamp()),
    sa.Column("last_error_at", Timestamp()),
    sa.Column("last_error", sa.Text),
    sa.Column("last_error_kind", sa.Text),
    sa.Column("created_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
)

schools = _roster_table(
    "schools",
    sa.Column("name", sa.Text),
    sa.Column("identifier", sa.Text),
    sa.Column("org_type", sa.Text),
    sa.Column("parent_sourced_id", sa.Text),
)

academic_sessions = _roster_table(
    "academic_sessions",
    sa.Column("title", sa.Text),
    sa.Column("session_type", sa.Text),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Column("school_year", sa.Text),
    sa.Column("parent_sourced_id", sa.Text),
)

courses = _roster_table(
    "courses",
    sa.Column("title", sa.Text),
    sa.Column("course_code", sa.Text),
    sa.Column("school_year_sourced_id", sa.Text),
    sa.Column("school_year", sa.Text),  # a 1.0-style year sent instead of a reference
    sa.Column("org_sourced_id", sa.Text),
    sa.Column("grades", sa.Text),
)

classes = _roster_table(
    "classes",
    sa.Column("title", sa.Text),
    sa.Column("class_code", sa.Text),
    sa.Column("class_type", sa.Text),
    sa.Column("location", sa.Text),
    sa.Column("periods", sa.Text),
    sa.Column("grades", sa.Text),
    sa.Column("course_sourced_id", sa.Text),
    sa.Column("school_sourced_id", sa.Text),
    sa.Column("term_sourced_ids", sa.Text),
    sa.Column("teacher_sourced_id", sa.Text),  # teacher of record
)

users = _roster_table(
    "users",
    sa.Column("role", sa.Text),
    sa.Column("given_name", sa.Text),
    sa.Column("family_name", sa.Text),
    sa.Column("middle_name", sa.Text),
    sa.Column("preferred_given_name", sa.Text),  # 1.2's preferredFirstName, when sent
    sa.Column("preferred_family_name", sa.Text),  # 1.2's preferredLastName, when sent
    sa.Column("email", sa.Text),
    sa.Column("username", sa.Text),
    sa.Column("identifier", sa.Text),
    sa.Column("grades", sa.Text),
    sa.Column("enabled", sa.Boolean),
)

user_schools = sa.Table(
    "user_schools",
    metadata,
    _id(),
    _district_fk(),
    sa.Column("user_sourced_id", sa.Text, nullable=False),
    sa.Column("school_sourced_id", sa.Text, nullable=False),
    sa.Column("role", sa.Text),  # the 1.2 role at that school, as sent; null for 1.1 districts
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("first_seen_at", Timestamp(), nullable=False),
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.Column("deactivated_at", Timestamp()),
    sa.Column("source_modified_at", Timestamp()),
    sa.Column("row_hash", sa.Text, nullable=False),
    sa.UniqueConstraint("district_id", "user_sourced_id", "school_sourced_id"),
    sa.CheckConstraint("active = (deactivated_at IS NULL)", name="active_iff_not_deactivated"),
)

enrollments = _roster_table(
    "enrollments",
    sa.Column("user_sourced_id", sa.Text),
    sa.Column("class_sourced_id", sa.Text),
    sa.Column("school_sourced_id", sa.Text),
    sa.Column("role", sa.Text),
    sa.Column("is_primary", sa.Boolean),
    sa.Column("begin_date", sa.Date),
    sa.Column("end_date", sa.Date),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    _id(),
    _district_fk(),
    sa.Column("mode", sa.Text, nullable=False),  # full | delta | preview | purge
    sa.Column("started_at", Timestamp(), nullable=False),
    sa.Column("finished_at", Timestamp()),
    sa.Column("status", sa.Text, nullable=False),  # running|succeeded|failed|held|preview|purge
    sa.Column("dagster_run_id", sa.Text),
    sa.Column("counts", sa.Text),  # JSON {entity: {inserted, updated, deactivated, ...}}
    sa.Column("held", sa.Text),  # JSON {entity: {would_deactivate, active, sample_ids}}
    sa.Column("approved_max", sa.Integer),
    sa.Column("preview", sa.Text),  # JSON report (preview mode only)
    sa.Column("error", sa.Text),
    sa.Index(None, "district_id", "started_at"),
)

sync_requests = sa.Table(
    "sync_requests",
    metadata,
    _id(),
    _district_fk(),
    sa.Column("received_at", Timestamp(), nullable=False),
    sa.Column("consumed_at", Timestamp()),
    sa.Column("signature", sa.Text, unique=True),  # replay refusal: a signature is accepted once
    # The webhook sensor reads the pending requests every tick, and deletes the consumed ones a
    # week old: neither may scan a week of every district's notifications.
    sa.Index(
        "ix_sync_requests_pending",
        "district_id",
        postgresql_where=sa.text("consumed_at IS NULL"),
        sqlite_where=sa.text("consumed_at IS NULL"),
    ),
    sa.Index(None, "received_at"),
)

snapshot_verdicts = sa.Table(
    "snapshot_verdicts",
    metadata,
    _id(),
    _district_fk(),
    sa.Column("dagster_run_id", sa.Text, nullable=False),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("snapshot_location", sa.Text, nullable=False),
    sa.Column("mode", sa.Text, nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("quarantined_count", sa.Integer, nullable=False),
    sa.Column("quarantined_ids", sa.Text, nullable=False),  # JSON list of sourced_ids
    # JSON list: rows held back because a row they depend on is quarantined (counted apart)
    sa.Column("dependent_quarantined_ids", sa.Text, nullable=False, server_default="[]"),
    sa.Column("recorded_at", Timestamp(), nullable=False),
    # The provider's clock when the pull's first response arrived: the run's high-water mark is
    # the earliest of its six pulls.
    sa.Column("provider_clock_at", Timestamp()),
    # JSON {"rule field": failing rows}: what a refused apply names.
    sa.Column("failure_counts", sa.Text, nullable=False, server_default="{}"),
    # A CSV package marked the entity's file absent: an empty snapshot that changes nothing.
    sa.Column("file_absent", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("dagster_run_id", "entity"),
    sa.Index(None, "district_id", "entity", "id"),  # a district's newest verdict per entity
)

# What each collection's pulls taught about the provider (oneroster/profile.py), merged pull by
# pull: counts, styles and grade codes only.
provider_profiles = sa.Table(
    "provider_profiles",
    metadata,
    _id(),
    _district_fk(),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("profile", sa.Text, nullable=False),  # JSON
    sa.Column("updated_at", Timestamp(), nullable=False),
    sa.UniqueConstraint("district_id", "entity"),
)

# The exports made of a district's data (when, what, where to): its privacy officer's inventory.
# Counts and paths only; kept through a purge, as the purge's own record is.
district_exports = sa.Table(
    "district_exports",
    metadata,
    _id(),
    _district_fk(),
    sa.Column("exported_at", Timestamp(), nullable=False),
    sa.Column("format", sa.Text, nullable=False),  # tables | oneroster-csv
    sa.Column("destination", sa.Text, nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
)

ROSTER_TABLES: dict[str, sa.Table] = {
    "orgs": schools,  # the `orgs` entity lands in `schools` (every org the provider sends)
    "academic_sessions": academic_sessions,
    "courses": courses,
    "classes": classes,
    "users": users,
    "enrollments": enrollments,
}

alerts = sa.Table(
    "alerts",
    metadata,
    _id(),
    # Cascades: removing a district takes its open alerts with it.
    sa.Column(
        "district_id", BigId, sa.ForeignKey("districts.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("kind", sa.Text, nullable=False),  # failed | held | credentials | stale
    sa.Column("reason", sa.Text, nullable=False),  # one line, no personal data
    sa.Column("dagster_run_id", sa.Text),
    sa.Column("opened_at", Timestamp(), nullable=False),
    sa.Column("delivered_at", Timestamp()),  # null: not POSTed yet (no webhook, or it failed)
    sa.UniqueConstraint("district_id", "kind"),  # open alerts: one per district and kind
)
