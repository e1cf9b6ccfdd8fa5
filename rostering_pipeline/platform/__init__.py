"""How the project plugs into a Dagster instance: run coordinators and the CLI's launches."""
