"""From the UI to the code in one click: every asset, check, job, schedule and sensor references
its source; with the hosted repository named, the references are links into it."""

from __future__ import annotations

from pathlib import Path

from rostering_pipeline.defs import code_references
from rostering_pipeline.defs.extract import extract_assets
from rostering_pipeline.defs.freshness import fresh

REPO = Path(__file__).resolve().parents[2]


def local_reference(metadata) -> tuple[Path, int]:
    (reference,) = metadata[code_references.REFERENCES_KEY].code_references
    return Path(reference.file_path), reference.line_number


def test_every_definition_references_its_source_file_and_line():
    from rostering_pipeline.definitions import defs

    repository = defs.get_repository_def()
    referenced = {
        **{node.key.to_user_string(): node.metadata for node in repository.asset_graph.asset_nodes},
        **{f"check {spec.name}": spec.metadata for spec in fresh.check_specs},
        **{
            job.name: job.metadata
            for job in repository.get_all_jobs()
            if job.name in ("roster_sync", "snapshot_sweep")
        },
        **{schedule.name: schedule.metadata for schedule in repository.schedule_defs},
        **{sensor.name: sensor.metadata for sensor in repository.sensor_defs},
    }
    assert len(referenced) == 7 + 1 + 2 + 2 + 5
    for name, metadata in referenced.items():
        path, line = local_reference(metadata)
        assert path.is_relative_to(REPO / "rostering_pipeline"), name
        assert 0 < line <= len(path.read_text().splitlines()), name


def test_with_the_hosted_repository_named_references_are_links_into_it(monkeypatch):
    monkeypatch.setenv(code_references.CODE_URL, "https://github.com/acme/rostering_pipeline/")
    monkeypatch.setenv(code_references.CODE_REVISION, "0123abc")

    (users,) = [a for a in code_references.for_assets(extract_assets) if "users" in str(a.key)]
    (linked,) = users.metadata_by_key[users.key][code_references.REFERENCES_KEY].code_references
    assert linked.url.startswith(
        "https://github.com/acme/rostering_pipeline/tree/0123abc/rostering_pipeline/defs/extract.py"
    )
    line = code_references.here()  # this line, as a decorator's argument would reference it
    (reference,) = line[code_references.REFERENCES_KEY].code_references
    assert reference.url.startswith(
        "https://github.com/acme/rostering_pipeline/blob/0123abc/"
        "rostering_pipeline_tests/defs/test_code_references.py#L"
    )
