import base64
import os

import pytest

from rostering_pipeline.appdb.engine import make_engine, upgrade
from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings
from rostering_pipeline_tests.e2e import CLIENT_ID, SECRET


@pytest.fixture
def env(data_dir, app_db_url, monkeypatch):
    """An upgraded app DB (both kinds), a secret key and a Dagster home: returns the engine."""
    monkeypatch.setenv("ROSTERING_DATABASE_URL", app_db_url)
    monkeypatch.setenv("ROSTERING_SECRET_KEYS", "k1:" + base64.b64encode(os.urandom(32)).decode())
    monkeypatch.setenv("DAGSTER_HOME", str(data_dir / "dagster_home"))
    upgrade(app_db_url)
    engine = make_engine(app_db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def provider():
    """The local provider serving a small district."""
    settings = ProviderSettings(
        district=DistrictSpec.sized(students=300), client_id=CLIENT_ID, client_secret=SECRET
    )
    with ProviderServer(settings) as server:
        yield server
