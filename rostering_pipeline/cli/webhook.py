"""`webhook serve`: the change-notification receiver in the foreground (uvicorn)."""

from __future__ import annotations

import click


@click.group()
def webhook() -> None:
    """Providers' change notifications: signed POSTs that queue delta syncs."""


@webhook.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Put TLS in front of it.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve POST /webhooks/{district_key} until interrupted."""
    import logging

    import uvicorn

    from rostering_pipeline.appdb.engine import ready_engine
    from rostering_pipeline.secrets import SecretBox
    from rostering_pipeline.webhook import create_app

    SecretBox.from_env()  # fail now, not on the first request; then read per request
    app = create_app(ready_engine(), SecretBox.from_env)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    click.echo(f"webhook receiver on http://{host}:{port}/webhooks/{{district_key}}")
    uvicorn.run(app, host=host, port=port, server_header=False, log_level="info")
