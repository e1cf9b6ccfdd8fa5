"""The webhook receiver: a provider's change notification becomes a row in `sync_requests`.

`POST /webhooks/{district_key}` with `X-Rostering-Timestamp` (Unix seconds) and
`X-Rostering-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">`, keyed by the
district's webhook secret. Accepted: 202 and one inbox row; the `webhook_sync_requests` sensor
turns rows into delta runs. Every refusal (unknown district, no webhook secret, bad signature,
timestamp outside the window, replay) is the same 401, so a caller learns nothing about which
districts exist. Logs name the district and the reason, never the secret or the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

import anyio
import anyio.to_thread
import sqlalchemy as sa
import uvicorn.config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rostering_pipeline.appdb.tables import sync_requests
from rostering_pipeline.districts import District, get_district, webhook_secret
from rostering_pipeline.errors import BadInput
from rostering_pipeline.secrets import SecretBox, SecretKeyError

TIMESTAMP_HEADER = "x-rostering-timestamp"
SIGNATURE_HEADER = "x-rostering-signature"
SIGNATURE_PREFIX = "sha256="
WINDOW_S = 300  # a timestamp further than this from the receiver's clock is refused
# Database connections of each receiver worker, kept open: a request needs one for about 2 ms.
CONNECTIONS = 8
MAX_BODY_BYTES = 64 * 1024  # a change notification is small; the body is only signed, not used
# Unknown districts are verified against a random key, so that they take as long as known ones.
_DECOY_SECRET = secrets.token_hex(32)

log = logging.getLogger(__name__)


class Refused(Exception):
    """A request that gets the uniform 401; the reason is for the log only."""


class TooLarge(Exception):
    pass


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `X-Rostering-Signature` value a sender computes (also what tests and docs use)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


# uvicorn's logging (set up in each worker), with the receiver's own lines beside it.
LOG_CONFIG = {
    **uvicorn.config.LOGGING_CONFIG,
    "formatters": {
        **uvicorn.config.LOGGING_CONFIG["formatters"],
        "receiver": {"format": "%(levelname)s:     %(name)s: %(message)s"},
    },
    "handlers": {
        **uvicorn.config.LOGGING_CONFIG["handlers"],
        "receiver": {"formatter": "receiver", "class": "logging.StreamHandler"},
    },
    "loggers": {
        **uvicorn.config.LOGGING_CONFIG["loggers"],
        __name__: {"handlers": ["receiver"], "level": "INFO", "propagate": False},
    },
}


def app_from_env() -> Starlette:
    """The app on the environment's application database and keys: what each worker of
    `webhook serve` builds."""
    from rostering_pipeline.appdb.engine import ready_engine

    return create_app(ready_engine(connections=CONNECTIONS), SecretBox.from_env)


def create_app(engine: sa.Engine, keys: Callable[[], SecretBox] = SecretBox.from_env) -> Starlette:
    """The ASGI app on an upgraded application database; `keys` gives the secret keys in force,
    asked for each request (a keys file rotated under a running receiver takes effect at once).
    At most CONNECTIONS requests are at the database at once; the others wait in the event loop,
    not in threads contending for connections."""
    limiter = anyio.CapacityLimiter(CONNECTIONS)  # bound to the server's event loop on first use

    async def receive(request: Request) -> JSONResponse:
        key = request.path_params["district_key"]
        try:
            timestamp = _timestamp(request.headers.get(TIMESTAMP_HEADER), time.time())
            signature = request.headers.get(SIGNATURE_HEADER, "")
            body = await _body(request)
            await anyio.to_thread.run_sync(
                _accept, engine, keys, key, timestamp, signature, body, limiter=limiter
            )
        except TooLarge:
            log.warning("webhook for %r refused: body over %d bytes", key[:64], MAX_BODY_BYTES)
            return JSONResponse({"error": "payload too large"}, status_code=413)
        except Refused as reason:
            log.warning("webhook for %r refused: %s", key[:64], reason)
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        log.info("webhook for %r accepted", key)
        return JSONResponse({"status": "accepted"}, status_code=202)

    return Starlette(routes=[Route("/webhooks/{district_key}", receive, methods=["POST"])])


def _timestamp(header: str | None, now: float) -> int:
    if header is None or not header.isdigit():
        raise Refused("missing or malformed timestamp")
    timestamp = int(header)
    if abs(now - timestamp) > WINDOW_S:
        raise Refused("timestamp outside the window")
    return timestamp


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():  # a lying or absent Content-Length is caught here
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _stored_secret(
    district: District | None, keys: Callable[[], SecretBox]
) -> tuple[str | None, str | None]:
    """The district's webhook secret, and why it could not be read (a key this process does not
    hold, or no keys at all): the caller gets the same 401 either way, only the log tells them
    apart."""
    if district is None:
        return None, None
    try:
        return webhook_secret(district, keys()), None
    except SecretKeyError as exc:
        return None, str(exc)


def _accept(
    engine: sa.Engine,
    keys: Callable[[], SecretBox],
    key: str,
    timestamp: int,
    signature: str,
    body: bytes,
) -> None:
    """Verify and record, or raise Refused; the signature is accepted only once."""
    with engine.begin() as conn:
        try:
            district = get_district(conn, key)
        except BadInput:
            district = None
        secret, unreadable = _stored_secret(district, keys)
        expected = sign(secret or _DECOY_SECRET, timestamp, body)
        matches = hmac.compare_digest(expected.encode(), signature.strip().lower().encode())
        if unreadable:
            raise Refused(f"the stored webhook secret cannot be decrypted ({unreadable})")
        if district is None or secret is None:
            raise Refused("unknown district or no webhook secret")
        if not matches:
            raise Refused("bad signature")
        try:  # the unique signature column refuses a replay, even one racing on another worker
            conn.execute(
                sync_requests.insert().values(
                    district_id=district.id, received_at=datetime.now(UTC), signature=expected
                )
            )
        except sa.exc.IntegrityError:
            raise Refused("replayed signature") from None
    if district.status != "active":
        log.info("webhook for %r recorded; district is %s, so no run", key, district.status)
