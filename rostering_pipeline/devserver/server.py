"""Run the provider with uvicorn on a background thread; control it from the calling thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Self

import uvicorn
from starlette.types import ASGIApp

from rostering_pipeline.devserver.app import ConnectionDropped, Provider, Stats, build_app
from rostering_pipeline.devserver.daily import DayChanges
from rostering_pipeline.devserver.faults import DEFAULT_SLOW_S
from rostering_pipeline.devserver.records import Record
from rostering_pipeline.devserver.settings import Faults, ProviderSettings, Quirks
from rostering_pipeline.devserver.synthetic import District
from rostering_pipeline.devserver.tamper import Tampering

START_TIMEOUT_S = 30.0


class _HideInjectedResets(logging.Filter):
    """uvicorn logs an app exception with a traceback; a drop we injected on purpose is not one."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


logging.getLogger("uvicorn.error").addFilter(_HideInjectedResets())


class AppServer:
    """An ASGI app served by uvicorn on a background thread: `with server:` serves within the
    block on `server.base_url`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def app(self) -> ASGIApp:
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            date_header=False,  # the provider sends its own clock (Provider.clock)
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name="oneroster-provider",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the OneRoster provider did not start on {self.host}:{self.port}"
                )
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """The server root; clients append the version's roster path."""
        return f"http://{self.host}:{self._port}"


class ProviderServer(AppServer):
    """`with ProviderServer(settings) as server:` serves on `server.base_url` within the block."""

    def __init__(
        self,
        settings: ProviderSettings | None = None,
        *,
        district: District | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.provider = Provider(settings or ProviderSettings(), district)

    def app(self) -> ASGIApp:
        return build_app(self.provider)

    # -- where -------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        return self.base_url + self.provider.api_prefix

    @property
    def token_url(self) -> str:
        return self.base_url + "/oauth/token"

    # -- control -----------------------------------------------------------------------------
    @property
    def district(self) -> District:
        return self.provider.district

    @property
    def faults(self) -> Faults:
        return self.provider.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.provider.faults = faults

    @property
    def quirks(self) -> Quirks:
        return self.provider.quirks

    @quirks.setter
    def quirks(self, quirks: Quirks) -> None:
        self.provider.quirks = quirks

    def inject(
        self, kind: str, times: int = 1, path: str | None = None, seconds: float = DEFAULT_SLOW_S
    ) -> None:
        """One-shot faults for the next `times` data requests under `path` (e.g. "/users")."""
        self.provider.fault_plan.inject(kind, times, path, seconds)

    @property
    def tampering(self) -> Tampering:
        """Raw edits to the records served (bad input for tests); `tampering.clear()` undoes."""
        return self.provider.tampering

    def revoke_tokens(self) -> None:
        self.provider.tokens.revoke_all()

    def set_credentials(
        self, client_id: str | None = None, client_secret: str | None = None
    ) -> None:
        self.provider.set_credentials(client_id, client_secret)

    def advance_day(self) -> DayChanges:
        return self.provider.advance_day()

    def edit(self, table: str, sourced_id: str, **fields: object) -> Record:
        """A record changed now, on the provider's clock (`provider.clock_time` of its day)."""
        return self.provider.edit(table, sourced_id, **fields)

    @property
    def stats(self) -> Stats:
        return self.provider.stats

    def reset_stats(self) -> None:
        self.provider.reset_stats()
