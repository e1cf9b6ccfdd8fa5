"""The recorded vendor-shaped bodies in fixtures/vendor are reproduced by the matching quirk."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from rostering_pipeline.devserver import Quirks
from rostering_pipeline.devserver.serialize import html_error_body, status_info_body

VENDOR = Path(__file__).parent.parent / "fixtures" / "vendor"


def _kind(value: object) -> str:
    if isinstance(value, dict):
        if "href" in value:
            return "ref:relative" if value["href"].startswith("~/") else "ref:absolute"
        return "object"
    if isinstance(value, bool):
        return "bool"
    if value in ("True", "False"):
        return "bool:Title"
    if value in ("true", "false"):
        return "bool:lower"
    return type(value).__name__


def _same_shape(recorded: dict, served: dict) -> None:
    assert set(recorded) <= set(served)
    for key, value in recorded.items():
        if isinstance(value, list) and isinstance(served[key], list):
            if value and served[key]:
                assert _kind(value[0]) == _kind(served[key][0]), key
        else:
            assert _kind(value) == _kind(served[key]), key


@pytest.mark.parametrize(
    ("fixture", "path", "quirks", "role"),
    [
        ("users_title_booleans_relative_href.json", "/users",
         Quirks(bool_style="title", relative_href=True), "student"),
        ("enrollments_lower_booleans.json", "/enrollments", Quirks(bool_style="lower"), None),
        ("terms_envelope.json", "/terms", Quirks(sessions_envelope="terms"), None),
        ("classes_periods_string.json", "/classes", Quirks(periods_as_string=True), None),
        ("students_envelope_inactive.json", "/users",
         Quirks(users_envelope="students", inactive_status=True, bool_style="lower",
                extra_fields=False), "student"),
    ],
)  # fmt: skip
def test_quirk_reproduces_the_recorded_shape(server, api, fixture, path, quirks, role):
    recorded = orjson.loads((VENDOR / fixture).read_bytes())
    server.quirks = quirks
    served = api.get(path, params={"limit": 1000}).json()
    (envelope,) = recorded
    assert set(served) == {envelope}
    rows = [r for r in served[envelope] if role is None or r["role"] == role]
    first = recorded[envelope][0]
    if "agents" in first:  # compare with a served student who has a guardian
        rows = [r for r in rows if r["agents"]]
    _same_shape(first, rows[0])


def test_error_bodies_match_the_recorded_ones(api):
    recorded = orjson.loads((VENDOR / "error_unknownobject.json").read_bytes())
    served = api.get("/users/0000-missing").json()
    assert served.keys() == recorded.keys()
    assert served["statusInfoSet"][0].keys() == recorded["statusInfoSet"][0].keys()
    no_description = orjson.loads((VENDOR / "error_no_description.json").read_bytes())
    assert orjson.loads(status_info_body("invalid_selection_field", None)) == no_description
    assert (
        html_error_body(500, "Internal Server Error") == (VENDOR / "error_page.html").read_bytes()
    )
