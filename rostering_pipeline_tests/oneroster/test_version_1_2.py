"""OneRoster 1.2 on the wire: the v1p2 path, the token's scope, the users fields, and 1.2 users
mapped onto the 1.1 frame (a role per school, preferred names, guardians left out)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from rostering_pipeline.devserver import DistrictSpec, ProviderServer, ProviderSettings
from rostering_pipeline.oneroster.auth import OAuth2ClientCredentials
from rostering_pipeline.oneroster.binding import DEFAULT_SCOPES
from rostering_pipeline.oneroster.client import ClientConfig, OneRosterClient
from rostering_pipeline.oneroster.entities import ENTITIES
from rostering_pipeline.oneroster.errors import CredentialsRejected
from rostering_pipeline.oneroster.normalize import normalize

SCOPE = DEFAULT_SCOPES["1.2"]
SECRET = "secret-of-the-1p2-client"


class Recording(httpx.HTTPTransport):
    """Real HTTP, every request kept."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return super().handle_request(request)


@pytest.fixture(scope="module")
def server():
    settings = ProviderSettings(
        district=DistrictSpec.sized(students=60), client_id="c", client_secret=SECRET, version="1.2"
    )
    with ProviderServer(settings) as provider:
        yield provider


def client(server: ProviderServer, recording: Recording, scope: str | None) -> OneRosterClient:
    auth = OAuth2ClientCredentials(server.token_url, "c", SECRET, scope=scope)
    return OneRosterClient(
        ClientConfig(
            base_url=server.base_url, auth=auth, version="1.2", page_size=25, transport=recording
        )
    )


def test_a_1_2_pull_asks_the_v1p2_path_with_the_scope_and_the_fields_it_stores(server):
    recording = Recording()
    with client(server, recording, SCOPE) as oneroster:
        frame = oneroster.fetch(ENTITIES["users"]).frame

    token, *data = recording.requests
    assert token.url.path == "/oauth/token"
    assert httpx.QueryParams(token.content.decode())["scope"] == SCOPE
    assert data and all(r.url.path == "/ims/oneroster/rostering/v1p2/users" for r in data)
    for request in data:
        fields = request.url.params["fields"].split(",")
        assert {"roles", "primaryOrg", "preferredFirstName", "preferredLastName"} <= set(fields)
        assert not {"pronouns", "role", "orgs", "userProfiles", "metadata"} & set(fields)
    records = server.district.tables["users"].records
    guardians = sum(u.role in ("guardian", "parent", "relative") for u in records)
    assert len(frame) == len(records) - guardians
    assert set(frame["role"]) <= {"administrator", "teacher", "student", "aide", "proctor"}
    assert frame["preferred_given_name"].notna().any()
    assert server.stats.demographics_requests == 0


def test_without_the_scope_the_1_2_token_is_refused(server):
    with (
        client(server, Recording(), None) as oneroster,
        pytest.raises(CredentialsRejected, match="scope"),
    ):
        oneroster.fetch(ENTITIES["orgs"])


def user(roles: list[dict], **fields) -> dict:
    return {"sourcedId": "u1", "status": "active", "roles": roles, **fields}


def role(kind: str, name: str, org: str) -> dict:
    return {"roleType": kind, "role": name, "org": {"sourcedId": org, "type": "org"}}


def normalized(*records: dict, include_guardians: bool = False):
    return normalize(
        ENTITIES["users"], list(records), version="1.2", include_guardians=include_guardians
    )


def test_a_user_teaching_at_two_schools_is_one_user_with_two_school_links():
    frame = normalized(
        user(
            [role("secondary", "teacher", "s2"), role("primary", "teacher", "s1")],
            primaryOrg={"sourcedId": "s1"},
            preferredFirstName="Sam",
            pronouns="they/them",
        )
    )
    [row] = frame.to_dict("records")
    assert row["role"] == "teacher"
    assert orjson.loads(row["org_sourced_ids"]) == ["s1", "s2"]  # the home school first
    assert orjson.loads(row["school_roles"]) == ["teacher", "teacher"]
    assert row["preferred_given_name"] == "Sam"
    assert "pronouns" not in frame.columns


def test_administrator_roles_map_to_administrator_and_keep_their_own_name_per_school():
    frame = normalized(
        user([role("primary", "principal", "s1"), role("secondary", "counselor", "s2")])
    )
    [row] = frame.to_dict("records")
    assert row["role"] == "administrator"
    assert orjson.loads(row["school_roles"]) == ["principal", "counselor"]


def test_a_teacher_who_is_also_a_parent_is_a_teacher_and_guardians_stay_out():
    teacher_parent = user([role("primary", "parent", "s1"), role("secondary", "teacher", "s1")])
    guardian = user([role("primary", "guardian", "s1")], sourcedId="g1")

    [row] = normalized(teacher_parent, guardian).to_dict("records")
    assert (row["sourced_id"], row["role"]) == ("u1", "teacher")
    assert orjson.loads(row["org_sourced_ids"]) == ["s1"]

    both = normalized(teacher_parent, guardian, include_guardians=True)
    assert dict(zip(both["sourced_id"], both["role"], strict=True)) == {
        "u1": "parent",
        "g1": "guardian",
    }


def test_a_role_outside_the_vocabulary_is_kept_as_sent_for_the_checks_to_judge():
    [row] = normalized(user([role("primary", "Janitor", "s1")])).to_dict("records")
    assert row["role"] == "Janitor"
