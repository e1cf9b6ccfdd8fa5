"""Dagster glue, one module per concern. The logic lives in plain libraries beside this package."""
