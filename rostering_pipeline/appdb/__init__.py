"""The application database: tables, migrations and the reconciliation engine (no Dagster)."""
