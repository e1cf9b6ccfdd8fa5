"""`backfill --failed` and the credentials flow it ends: reject, flag, skip, fix, backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
from click.testing import CliRunner

from rostering_pipeline.alerts import open_alerts
from rostering_pipeline.cli import cli
from rostering_pipeline.defs.resources import AppDatabase
from rostering_pipeline.defs.schedules import district_dispatcher
from rostering_pipeline.districts import get_district, record_outcome, set_credentials, set_status
from rostering_pipeline.runner import instance
from rostering_pipeline.secrets import SecretBox
from rostering_pipeline_tests.alert_receiver import alert_webhook
from rostering_pipeline_tests.e2e import register

# Tomorrow 02:00 UTC: the runs the test launches begin now, before the nights it dispatches, as
# they would (a run that began after a fire time serves it, and the dispatcher launches none).
NIGHT = (datetime.now(UTC) + timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)


def dispatch(app_db_url: str, tick: datetime) -> list[dg.RunRequest] | dg.SkipReason:
    with dg.build_schedule_context(
        instance=instance(),
        scheduled_execution_time=tick,
        resources={"app_db": AppDatabase(url=app_db_url)},
    ) as context:
        return district_dispatcher(context)


def launch(request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    """What the run launcher does with a scheduled request, in this process."""
    from rostering_pipeline.definitions import defs

    return defs.resolve_job_def("roster_sync").execute_in_process(
        instance=instance(),
        partition_key=request.partition_key,
        run_config=request.run_config,
        tags=request.tags,
        raise_on_error=False,
    )


def backfill():
    return CliRunner().invoke(cli, ["backfill", "--failed"])


def test_rejected_credentials_through_a_scheduled_run_then_backfill(
    env, app_db_url, provider, monkeypatch
):
    register(env, provider)
    provider.set_credentials(client_secret="rotated-at-the-provider")

    with alert_webhook(monkeypatch) as receiver:
        (request,) = dispatch(app_db_url, NIGHT)
        assert not launch(request).success
        district = get_district(env, "d1")
        assert district.credentials_ok is False
        assert district.last_error_kind == "credentials"
        assert [(a["kind"], a["district"]) for a in receiver.received] == [("credentials", "d1")]

        skipped = dispatch(app_db_url, NIGHT + timedelta(days=1))
        assert isinstance(skipped, dg.SkipReason)  # flagged: the schedule leaves it alone

        set_credentials(
            env, "d1", box=SecretBox.from_env(), client_secret="rotated-at-the-provider"
        )
        result = backfill()
        assert result.exit_code == 0, result.output
        assert result.output.startswith("d1: ok (full), run ")

        district = get_district(env, "d1")
        assert district.credentials_ok is True
        assert district.last_success_at > district.last_error_at
        assert open_alerts(env, "d1") == {}
        assert len(receiver.received) == 1  # once while it lasted, none after the recovery
    assert [r.partition_key for r in dispatch(app_db_url, NIGHT + timedelta(days=2))] == ["d1"]


def test_backfill_runs_only_failed_active_or_preview_districts(env, provider):
    for key in ("broken", "paused", "healthy"):
        register(env, provider, key=key)
    register(env, provider, key="preview", status="preview")
    set_credentials(env, "broken", box=SecretBox.from_env(), client_secret="wrong")
    set_status(env, "paused", "paused")
    now = datetime.now(UTC)
    for key in ("broken", "paused", "preview", "healthy"):
        record_outcome(env, key, succeeded=False, at=now, error="x", error_kind="provider")
    record_outcome(env, "healthy", succeeded=True, at=now + timedelta(seconds=1))

    result = backfill()

    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines] == ["broken", "preview"]
    assert lines[0].startswith("broken: failed, exit 5: ")
    assert lines[1].startswith("preview: ok (preview), run ")
    assert result.exception.exit_code == 5  # the console script's exit: the first failure's
    assert "wrong" not in result.output


def test_backfill_with_nothing_failed_says_so(env):
    result = backfill()
    assert result.exit_code == 0
    assert "nothing to backfill" in result.output
