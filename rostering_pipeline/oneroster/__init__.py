"""OneRoster 1.1 REST client. Knows nothing of Dagster or the application database."""
