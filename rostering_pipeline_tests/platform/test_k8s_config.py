"""The README's Kubernetes run launcher (Scale-out) is configuration that dagster-k8s's
`K8sRunLauncher` accepts, and the production `dagster.yaml` with it in place is a valid instance
configuration: the documented YAML is known to load, not only to read well."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml
from dagster._config import process_config, resolve_to_config_type
from dagster._core.instance.config import dagster_instance_config
from dagster_k8s import K8sRunLauncher

from rostering_pipeline_tests.platform.support import dagster_pg_env

REPO = Path(__file__).resolve().parents[2]


def readme_run_launcher() -> dict:
    """The `run_launcher:` YAML block of the README's Scale-out section."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Scale-out", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    (launcher,) = [yaml.safe_load(b) for b in blocks if b.startswith("run_launcher:")]
    return launcher["run_launcher"]


def k8s_config_errors(config: dict) -> list[str]:
    result = process_config(resolve_to_config_type(K8sRunLauncher.config_type()), config)
    return [error.message for error in result.errors or []]


def test_the_readme_k8s_run_launcher_is_valid_dagster_k8s_configuration():
    launcher = readme_run_launcher()

    module = importlib.import_module(launcher["module"])
    assert getattr(module, launcher["class"]) is K8sRunLauncher
    assert k8s_config_errors(launcher["config"]) == []
    # the check is real: a misspelled field is refused
    misspelled = {**launcher["config"], "job_namepsace": launcher["config"]["job_namespace"]}
    assert any("job_namepsace" in error for error in k8s_config_errors(misspelled))


def test_the_production_instance_with_the_k8s_launcher_is_valid(tmp_path, monkeypatch):
    for name, value in dagster_pg_env("postgresql://dagster@db.internal:5432/dagster").items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    home.mkdir()
    production = yaml.safe_load((REPO / "dagster.yaml").read_text())
    (home / "dagster.yaml").write_text(
        yaml.safe_dump({**production, "run_launcher": readme_run_launcher()})
    )

    config, _ = dagster_instance_config(str(home))

    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["run_coordinator"]["class"] == "QueuedDistrictRunCoordinator"
