from __future__ import annotations

from collections import Counter

import pytest

from rostering_pipeline.devserver import DistrictSpec, generate
from rostering_pipeline.devserver.synthetic import GRADES


@pytest.fixture(scope="module")
def demo():
    return generate(DistrictSpec.demo())


def test_same_seed_gives_identical_district(demo):
    again = generate(DistrictSpec.demo())
    for name, table in demo.tables.items():
        assert again.tables[name].records == table.records, name


def test_another_seed_gives_another_district(demo):
    other = generate(DistrictSpec(seed=2))
    assert other.tables["users"].ids != demo.tables["users"].ids


def test_demo_sizes(demo):
    orgs = Counter(o.type for o in demo.tables["orgs"].records)
    roles = Counter(u.role for u in demo.tables["users"].records)
    assert orgs == {"district": 1, "school": 5}
    assert roles["student"] == 1000
    assert roles["teacher"] >= 55
    assert roles["administrator"] == 5 + 2
    assert len(demo.tables["classes"]) == roles["teacher"] * 5
    # about 7 per student, plus one or two teachers per class
    assert 6.5 * 1000 < len(demo.tables["enrollments"]) < 7.8 * 1000
    assert [s.type for s in demo.tables["academicSessions"].records].count("semester") == 2


def test_sized_scales_schools_and_teachers():
    spec = DistrictSpec.sized(students=2000)
    assert (spec.schools, spec.teacher_count) == (3, 120)
    large = DistrictSpec.large()
    assert (large.schools, large.students, large.teacher_count) == (300, 200_000, 12_000)


def test_names_are_varied_and_realistic(demo):
    users = demo.tables["users"].records
    names = [f"{u.givenName} {u.familyName}" for u in users]
    assert any(not n.isascii() for n in names)
    assert any("'" in n for n in names)
    assert any("-" in u.familyName for u in users)
    emails = [u.email for u in users]
    assert len(set(emails)) == len(emails)
    assert all(e.isascii() and "'" not in e and " " not in e for e in emails)
    assert {g for u in users if u.role == "student" for g in u.grades} == set(GRADES)


def test_guardians_are_linked_both_ways(demo):
    users = {u.sourcedId: u for u in demo.tables["users"].records}
    guardians = [u for u in users.values() if u.role in ("guardian", "parent", "relative")]
    assert len(guardians) > 10
    assert {g.role for g in guardians} == {"guardian", "parent", "relative"}
    for guardian in guardians:
        (child,) = guardian.agents
        assert users[child].role == "student"
        assert users[child].agents == (guardian.sourcedId,)


def test_references_resolve(demo):
    t = demo.tables
    ids = {name: set(table.ids) for name, table in t.items()}
    for e in t["enrollments"].records:
        assert e.user in ids["users"] and e.class_ in ids["classes"] and e.school in ids["orgs"]
    for c in t["classes"].records:
        assert c.course in ids["courses"] and c.school in ids["orgs"]
        assert set(c.terms) <= ids["academicSessions"]
    primaries = Counter(e.class_ for e in t["enrollments"].records if e.primary)
    assert set(primaries.values()) == {1} and len(primaries) == len(t["classes"])
