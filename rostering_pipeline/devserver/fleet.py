"""Many districts behind one provider host: the local provider as a rostering vendor serves them.

Each district (a tenant) has its own roster, sized at random within a range, and its own token
endpoint under `/t/<tenant>`; tenants share a handful of client ids, as a vendor's districts share
the app's clients on that host (the per-provider run limit keys on host and client id).
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp

from rostering_pipeline.devserver.app import Provider, build_app
from rostering_pipeline.devserver.server import AppServer
from rostering_pipeline.devserver.settings import DEMO_CLIENT_SECRET, ProviderSettings
from rostering_pipeline.devserver.synthetic import DistrictSpec


@dataclass(frozen=True)
class Tenant:
    name: str  # its path: /t/<name>
    client_id: str
    spec: DistrictSpec


def tenants(
    count: int,
    *,
    clients: int,
    students: tuple[int, int],
    seed: int = 1,
    prefix: str = "d",
) -> list[Tenant]:
    """`count` tenants named <prefix>000..., client ids <prefix>-client-0... taken in turn,
    student counts drawn uniformly from the inclusive range (the same for the same seed)."""
    low, high = students
    if not 1 <= low <= high:
        raise ValueError(f"students range {low}..{high}: expected 1 <= low <= high")
    if count < 1 or clients < 1:
        raise ValueError("a fleet needs at least one tenant and one client id")
    rng = Random(seed)
    return [
        Tenant(
            name=f"{prefix}{n:03d}",
            client_id=f"{prefix}-client-{n % clients}",
            spec=DistrictSpec.sized(rng.randint(low, high), seed=seed * 1_000 + n),
        )
        for n in range(count)
    ]


class FleetServer(AppServer):
    """`with FleetServer(tenants) as server:` serves every tenant's district under
    `server.tenant_url(name)`; each one's token URL is that plus /oauth/token."""

    def __init__(
        self,
        fleet: list[Tenant],
        *,
        client_secret: str = DEMO_CLIENT_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.tenants = {tenant.name: tenant for tenant in fleet}
        self.providers = {
            tenant.name: Provider(
                ProviderSettings(
                    district=tenant.spec, client_id=tenant.client_id, client_secret=client_secret
                )
            )
            for tenant in fleet
        }

    def app(self) -> ASGIApp:
        return Starlette(
            routes=[
                Mount(f"/t/{name}", app=build_app(provider))
                for name, provider in self.providers.items()
            ]
        )

    def tenant_url(self, name: str) -> str:
        """The tenant's server root (its base URL; the token URL is this plus /oauth/token)."""
        return f"{self.base_url}/t/{name}"
