"""`webhook serve`: the change-notification receiver in the foreground (uvicorn)."""

from __future__ import annotations

import click


@click.group()
def webhook() -> None:
    """Providers' change notifications: signed POSTs that queue delta syncs."""


@webhook.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Put TLS in front of it.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Receiver processes on the port (one per core; a replay is refused across them).",
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve POST /webhooks/{district_key} until interrupted."""
    import uvicorn

    from rostering_pipeline.appdb.engine import ready_engine
    from rostering_pipeline.secrets import SecretBox
    from rostering_pipeline.webhook import LOG_CONFIG

    SecretBox.from_env()  # fail now, not on the first request; then read per request
    ready_engine().dispose()  # likewise an app database that is missing or not upgraded
    click.echo(f"webhook receiver on http://{host}:{port}/webhooks/{{district_key}}")
    uvicorn.run(
        "rostering_pipeline.webhook:app_from_env",
        factory=True,  # each worker builds its own app: its own connections
        workers=workers,
        host=host,
        port=port,
        server_header=False,
        log_config=LOG_CONFIG,
    )
