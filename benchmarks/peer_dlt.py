"""The peer a data engineer would assemble instead: dlt's `rest_api` source into PostgreSQL.

    python -m benchmarks.peer_dlt API_URL TOKEN_URL DATABASE_URL SCHEMA PIPELINES_DIR

OAuth 2.0 client credentials through dlt's own auth class, offset paging of 1,000 with
`sort=sourcedId`, `merge` on `sourcedId` into SCHEMA, dlt's default loader and settings otherwise
(nested lists become child tables, as dlt does by default). The pipeline's state lives in
PIPELINES_DIR, so a second run is dlt's re-sync. Stage times come from dlt's own trace.
"""

from __future__ import annotations

import os
import time

import click
import sqlalchemy as sa

# Before dlt is imported: no telemetry (this machine reaches no analytics host anyway).
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt
from dlt.sources.helpers.rest_client.auth import OAuth2ClientCredentials
from dlt.sources.rest_api import rest_api_source

from benchmarks.child import emit
from rostering_pipeline.devserver import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from rostering_pipeline.oneroster.entities import ENTITIES


def source(api_url: str, token_url: str):
    return rest_api_source(
        {
            "client": {
                "base_url": api_url.rstrip("/") + "/",
                "auth": OAuth2ClientCredentials(
                    access_token_url=token_url,
                    client_id=DEMO_CLIENT_ID,
                    client_secret=DEMO_CLIENT_SECRET,
                ),
                "paginator": {"type": "offset", "limit": 1000, "total_path": None},
            },
            "resource_defaults": {
                "primary_key": "sourcedId",
                "write_disposition": "merge",
                "endpoint": {"params": {"sort": "sourcedId"}},
            },
            "resources": [
                {
                    "name": name,
                    "endpoint": {
                        "path": entity.path.lstrip("/"),
                        "data_selector": entity.envelope_keys[0],
                    },
                }
                for name, entity in ENTITIES.items()
            ],
        }
    )


@click.command()
@click.argument("api_url")
@click.argument("token_url")
@click.argument("database_url")
@click.argument("schema")
@click.argument("pipelines_dir")
def main(api_url: str, token_url: str, database_url: str, schema: str, pipelines_dir: str) -> None:
    url = sa.make_url(database_url)
    # dlt insists on a password; a local server on trust authentication ignores whatever is sent.
    url = url.set(password=url.password or "unused").render_as_string(hide_password=False)
    pipeline = dlt.pipeline(
        pipeline_name=f"peer_{schema}",
        destination=dlt.destinations.postgres(credentials=url),
        dataset_name=schema,
        pipelines_dir=pipelines_dir,
    )
    started = time.perf_counter()
    info = pipeline.run(source(api_url, token_url))
    total = time.perf_counter() - started
    info.raise_on_failed_jobs()
    stages = {
        f"{step.step}_s": (step.finished_at - step.started_at).total_seconds()
        for step in pipeline.last_trace.steps
    }
    rows = pipeline.last_trace.last_normalize_info.row_counts
    emit({"total_s": total, "stages": stages, "rows": dict(rows)})


if __name__ == "__main__":
    main()
