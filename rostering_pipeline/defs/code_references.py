"""From the UI to the code: each asset, check, job, schedule and sensor links to its source.

Local file and line by default; links into the hosted repository when `ROSTERING_CODE_URL` (e.g.
`https://github.com/acme/rostering_pipeline`) and `ROSTERING_CODE_REVISION` (a commit or branch)
are set where the code location loads.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

CODE_URL = "ROSTERING_CODE_URL"
CODE_REVISION = "ROSTERING_CODE_REVISION"
REFERENCES_KEY = "dagster/code_references"
# Repository paths are relative to the folder that holds the package.
_ANCHOR = Path(__file__).resolve()
with warnings.catch_warnings():
    # Code references are a beta API in Dagster 1.13: keep its warning off every CLI run.
    warnings.simplefilter("ignore", dg.BetaWarning)
    _MAPPING = dg.AnchorBasedFilePathMapping(
        local_file_anchor=_ANCHOR,
        file_anchor_path_in_repository=_ANCHOR.relative_to(_ANCHOR.parents[2]).as_posix(),
    )


def _hosted() -> tuple[str, str] | None:
    url, revision = os.environ.get(CODE_URL, ""), os.environ.get(CODE_REVISION, "")
    return (url.rstrip("/"), revision) if url and revision else None


def for_assets(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets with references to the functions that compute them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        referenced = dg.with_source_code_references(assets)
        hosted = _hosted()
        if hosted:
            referenced = dg.link_code_references_to_git(
                referenced, git_url=hosted[0], git_branch=hosted[1], file_path_mapping=_MAPPING
            )
    return list(referenced)


def here() -> dict[str, dg.CodeReferencesMetadataValue]:
    """Metadata referencing the caller's line (a decorator's): for checks, jobs, schedules and
    sensors, which Dagster's helpers do not cover."""
    caller = inspect.currentframe().f_back  # type: ignore[union-attr]
    path, line = Path(caller.f_code.co_filename).resolve(), caller.f_lineno
    reference: dg.LocalFileCodeReference | dg.UrlCodeReference
    hosted = _hosted()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        if hosted:
            in_repository = _MAPPING.convert_to_source_control_path(path)
            reference = dg.UrlCodeReference(
                url=f"{hosted[0]}/blob/{hosted[1]}/{in_repository}#L{line}",
                label=f"{in_repository}:{line}",
            )
        else:
            reference = dg.LocalFileCodeReference(file_path=str(path), line_number=line)
        return {REFERENCES_KEY: dg.CodeReferencesMetadataValue(code_references=[reference])}
