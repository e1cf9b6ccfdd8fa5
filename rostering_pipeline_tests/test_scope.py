import orjson

from rostering_pipeline.scope import restrict_to_schools
from rostering_pipeline_tests.frames import typed_frame


def test_orgs_outside_the_list_and_their_children_are_left_out():
    orgs = typed_frame(
        "orgs",
        [
            {"sourced_id": "d", "org_type": "district"},
            {"sourced_id": "s1", "org_type": "school", "parent_sourced_id": "d"},
            {"sourced_id": "s2", "org_type": "school", "parent_sourced_id": "d"},
            {"sourced_id": "dep", "org_type": "department", "parent_sourced_id": "s2"},
        ],
    )
    kept = restrict_to_schools("orgs", orgs, ["s1"])
    assert kept["sourced_id"].tolist() == ["d", "s1"]


def test_classes_and_enrollments_follow_their_school():
    classes = typed_frame(
        "classes",
        [
            {"sourced_id": "c1", "school_sourced_id": "s1"},
            {"sourced_id": "c2", "school_sourced_id": "s2"},
        ],
    )
    assert restrict_to_schools("classes", classes, {"s1"})["sourced_id"].tolist() == ["c1"]
    enrollments = typed_frame(
        "enrollments",
        [
            {"sourced_id": "e1", "school_sourced_id": "s2"},
            {"sourced_id": "e2", "school_sourced_id": None},
        ],
    )
    assert restrict_to_schools("enrollments", enrollments, {"s1"}).empty


def test_users_keep_only_their_allowed_school_links():
    users = typed_frame(
        "users",
        [
            {"sourced_id": "u1", "org_sourced_ids": '["s1","s2"]'},
            {"sourced_id": "u2", "org_sourced_ids": '["s2"]'},
            {"sourced_id": "u3", "org_sourced_ids": "[]"},
        ],
    )
    kept = restrict_to_schools("users", users, {"s1"})
    assert kept["sourced_id"].tolist() == ["u1"]
    assert orjson.loads(kept.loc[0, "org_sourced_ids"]) == ["s1"]
    assert kept["org_sourced_ids"].dtype == users["org_sourced_ids"].dtype


def test_courses_follow_the_orgs_the_pull_kept():
    courses = typed_frame(
        "courses",
        [
            {"sourced_id": "k1", "org_sourced_id": "s9"},
            {"sourced_id": "k2", "org_sourced_id": "d"},
            {"sourced_id": "k3", "org_sourced_id": "s1"},
        ],
    )
    kept = restrict_to_schools("courses", courses, {"s1"}, kept_orgs={"d", "s1"})
    assert kept["sourced_id"].tolist() == ["k2", "k3"]


def test_academic_sessions_are_kept_whole():
    sessions = typed_frame("academic_sessions", [{"sourced_id": "y1"}])
    assert restrict_to_schools("academic_sessions", sessions, {"s1"}).equals(sessions)
