import pandas as pd

from rostering_pipeline.preview import build_report, render
from rostering_pipeline_tests.frames import typed_frame


def sample_frames() -> dict[str, pd.DataFrame]:
    orgs = typed_frame(
        "orgs",
        [
            {"sourced_id": "d", "status": "active", "org_type": "district", "name": "District"},
            {"sourced_id": "s1", "status": "active", "org_type": "school", "name": "Bay\x1b[2J"},
            {"sourced_id": "s2", "status": "tobedeleted", "org_type": "school", "name": "Gone"},
        ],
    )
    users = typed_frame(
        "users",
        [
            {"sourced_id": "t1", "status": "active", "role": "teacher", "given_name": "Zoë",
             "family_name": "O'Brien", "email": "zoe@x.org", "org_sourced_ids": '["s1"]',
             "grades": "[]"},
            {"sourced_id": "u1", "status": "active", "role": "student", "given_name": "A",
             "family_name": "B", "org_sourced_ids": '["s1"]', "grades": '["09"]'},
            {"sourced_id": "u2", "status": "active", "role": "student", "given_name": "C",
             "family_name": "D", "org_sourced_ids": '["s1"]', "grades": '["09"]'},
            {"sourced_id": "u3", "status": "tobedeleted", "role": "student", "given_name": "E",
             "family_name": "F", "org_sourced_ids": '["s1"]', "grades": '["10"]'},
        ],
    )  # fmt: skip
    return {"orgs": orgs, "users": users}


def test_the_report_lists_active_schools_teachers_and_student_counts():
    report = build_report(sample_frames(), {"users": {"inserted": 3, "updated": 0}})
    assert [s["sourced_id"] for s in report["schools"]] == ["s1"]
    [teacher] = report["teachers"]
    assert (teacher["family_name"], teacher["email"], teacher["schools"]) == (
        "O'Brien",
        "zoe@x.org",
        ["s1"],
    )
    assert report["students_by_school_and_grade"] == {"s1": {"09": 2}}
    assert report["changes"] == {"users": {"inserted": 3, "updated": 0}}


def test_rendering_escapes_what_would_drive_a_terminal():
    text = render(build_report(sample_frames(), {"users": {"inserted": 3}}), first_sync=True)
    assert "\x1b" not in text
    assert "Bay\\x1b[2J" in text
    assert "O'Brien, Zoë  <zoe@x.org>" in text
    assert "The first active sync would apply:\n  users: 3 inserted" in text
