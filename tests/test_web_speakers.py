"""Speakers of a file, speaker profiles and speaker collections, through the HTTP API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from repo.rows import Actor
from tests import factories
from tests.web import signed_in

Route = tuple[str, str, Any]  # method, path template, body template


@dataclass(frozen=True)
class Recording:
    file_uuid: str
    ann: str  # speaker uuids: SPEAKER_00 talks in segments 0 and 1, SPEAKER_01 in segment 2
    bob: str


def recording(url: str, owner: Actor, filename: str = "talk.wav") -> Recording:
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, filename=filename, status="completed")
        ann = factories.speaker(conn, owner, file_id, "SPEAKER_00")
        bob = factories.speaker(conn, owner, file_id, "SPEAKER_01")
        factories.segments(conn, file_id, ["hello", "how are you"], speaker_id=ann)
        factories.segments(conn, file_id, ["fine thanks"], speaker_id=bob)
        uuids: dict[int, str] = dict(
            conn.execute("SELECT id, uuid::text FROM speakers WHERE id IN (%s, %s)", [ann, bob]).fetchall()
        )
    return Recording(str(file_uuid), uuids[ann], uuids[bob])


def match(url: str, first_uuid: str, second_uuid: str, confidence: float) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence) "
            "SELECT least(a.id, b.id), greatest(a.id, b.id), %s FROM speakers a, speakers b "
            "WHERE a.uuid = %s AND b.uuid = %s",
            [confidence, first_uuid, second_uuid],
        )


def speakers_of(client: Any, headers: dict[str, str], file_uuid: str) -> dict[str, dict[str, Any]]:
    response = client.get(f"/api/files/{file_uuid}/speakers", headers=headers)
    assert response.status_code == 200, response.text
    return {speaker["uuid"]: speaker for speaker in response.json()}


def test_list_rename_and_verify_speakers(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)

    listed = client.get(f"/api/files/{rec.file_uuid}/speakers", headers=alice).json()
    assert [(s["label"], s["segment_count"]) for s in listed] == [("SPEAKER_00", 2), ("SPEAKER_01", 1)]
    assert listed[0]["talk_time"] == pytest.approx(1.8) and listed[0]["media_file_uuid"] == rec.file_uuid
    assert listed[0]["verified"] is False and listed[0]["profile_uuid"] is None
    assert all("id" not in s and "user_id" not in s for s in listed)

    renamed = client.put(f"/api/speakers/{rec.ann}", headers=alice, json={"display_name": " Ann "})
    assert renamed.status_code == 200 and renamed.json()["display_name"] == "Ann"
    assert renamed.json()["verified"] is False
    verified = client.post(f"/api/speakers/{rec.ann}/verify", headers=alice)
    assert verified.status_code == 200 and verified.json()["verified"] is True
    assert verified.json()["display_name"] == "Ann"
    unverified = client.put(f"/api/speakers/{rec.ann}", headers=alice, json={"verified": False, "display_name": ""})
    assert unverified.json()["verified"] is False and unverified.json()["display_name"] is None
    after = speakers_of(client, alice, rec.file_uuid)[rec.ann]
    assert after["display_name"] is None and after["verified"] is False


def test_a_file_without_speakers_lists_none(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _, file_uuid = factories.media_file(conn, alice_actor)
    assert client.get(f"/api/files/{file_uuid}/speakers", headers=alice).json() == []
    assert client.get(f"/api/files/{uuid4()}/speakers", headers=alice).status_code == 404


def test_merge_folds_the_source_into_the_target(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)
    client.put(f"/api/speakers/{rec.bob}", headers=alice, json={"display_name": "Bob"})

    merged = client.post(
        f"/api/files/{rec.file_uuid}/speakers/merge",
        headers=alice,
        json={"source_uuid": rec.bob, "target_uuid": rec.ann},
    )
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["uuid"] == rec.ann and body["segment_count"] == 3 and body["display_name"] == "Bob"
    assert list(speakers_of(client, alice, rec.file_uuid)) == [rec.ann]
    assert client.put(f"/api/speakers/{rec.bob}", headers=alice, json={"verified": True}).status_code == 404


def test_merge_refuses_speakers_of_another_file_and_itself(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)
    other = recording(fresh_url, alice_actor)
    path = f"/api/files/{rec.file_uuid}/speakers/merge"
    across = client.post(path, headers=alice, json={"source_uuid": other.ann, "target_uuid": rec.ann})
    # the body names speakers of another file: a reference to nothing of this file's, 409 naming the field
    assert (across.status_code, across.json()["field"]) == (409, "source_uuid")
    elsewhere = f"/api/files/{uuid4()}/speakers/merge"  # the path's file: 404
    pair = {"source_uuid": rec.bob, "target_uuid": rec.ann}
    assert client.post(elsewhere, headers=alice, json=pair).status_code == 404
    itself = client.post(path, headers=alice, json={"source_uuid": rec.ann, "target_uuid": rec.ann})
    assert itself.status_code == 409 and itself.json()["field"] == "target_uuid"
    assert len(speakers_of(client, alice, rec.file_uuid)) == 2 and len(speakers_of(client, alice, other.file_uuid)) == 2


def test_link_a_speaker_to_a_profile_and_find_its_occurrences(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor, filename="monday.wav")
    profile = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann Lee"}).json()

    linked = client.put(f"/api/speakers/{rec.ann}/profile", headers=alice, json={"profile_uuid": profile["uuid"]})
    assert linked.status_code == 200, linked.text
    assert linked.json()["profile_uuid"] == profile["uuid"] and linked.json()["profile_name"] == "Ann Lee"
    assert speakers_of(client, alice, rec.file_uuid)[rec.ann]["profile_uuid"] == profile["uuid"]
    assert client.get(f"/api/speaker-profiles/{profile['uuid']}", headers=alice).json()["speaker_count"] == 1

    occurrences = client.get(f"/api/speaker-profiles/{profile['uuid']}/occurrences", headers=alice)
    assert occurrences.status_code == 200
    (seen,) = occurrences.json()
    assert seen["file_uuid"] == rec.file_uuid and seen["filename"] == "monday.wav"
    assert seen["speaker_uuid"] == rec.ann and seen["segment_count"] == 2 and "id" not in seen

    unlinked = client.put(f"/api/speakers/{rec.ann}/profile", headers=alice, json={"profile_uuid": None})
    assert unlinked.status_code == 200 and unlinked.json()["profile_uuid"] is None
    assert client.get(f"/api/speaker-profiles/{profile['uuid']}/occurrences", headers=alice).json() == []


def test_matches_list_similar_speakers_of_your_files(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    _, bob_actor = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)
    other = recording(fresh_url, alice_actor, filename="tuesday.wav")
    strangers = recording(fresh_url, bob_actor)
    match(fresh_url, rec.ann, other.bob, 0.75)
    match(fresh_url, other.ann, rec.ann, 0.5)
    match(fresh_url, rec.ann, strangers.ann, 0.9)

    response = client.get(f"/api/speakers/{rec.ann}/matches", headers=alice)
    assert response.status_code == 200
    found = response.json()
    assert [(m["speaker_uuid"], m["confidence"]) for m in found] == [(other.bob, 0.75), (other.ann, 0.5)]
    assert found[0]["filename"] == "tuesday.wav" and found[0]["media_file_uuid"] == other.file_uuid
    assert "id" not in found[0]
    assert client.get(f"/api/speakers/{rec.bob}/matches", headers=alice).json() == []


SPEAKER_ROUTES: list[Route] = [
    ("GET", "/api/files/{file}/speakers", None),
    ("PUT", "/api/speakers/{speaker}", {"display_name": "x"}),
    ("POST", "/api/speakers/{speaker}/verify", None),
    ("POST", "/api/files/{file}/speakers/merge", {"source_uuid": "{other}", "target_uuid": "{speaker}"}),
    ("PUT", "/api/speakers/{speaker}/profile", {"profile_uuid": None}),
    ("GET", "/api/speakers/{speaker}/matches", None),
    ("POST", "/api/files/{file}/speakers", {"label": "Guest"}),
    ("DELETE", "/api/speakers/{speaker}", {"move_segments_to": "{other}"}),
    ("GET", "/api/speakers/{speaker}/suggestions", None),
    ("POST", "/api/speakers/{speaker}/suggestions/{profile}/accept", None),
    ("POST", "/api/speakers/{speaker}/suggestions/{profile}/reject", None),
    ("POST", "/api/speakers/{speaker}/remember", {"name": "x"}),
]
PROFILE_ROUTES: list[Route] = [
    ("GET", "/api/speaker-profiles/{profile}", None),
    ("PUT", "/api/speaker-profiles/{profile}", {"name": "x"}),
    ("DELETE", "/api/speaker-profiles/{profile}", None),
    ("GET", "/api/speaker-profiles/{profile}/occurrences", None),
    ("POST", "/api/speaker-profiles/{profile}/merge", {"source_profile_uuid": "{other}"}),
]
COLLECTION_ROUTES: list[Route] = [
    ("GET", "/api/speaker-collections/{collection}", None),
    ("PUT", "/api/speaker-collections/{collection}", {"name": "x"}),
    ("DELETE", "/api/speaker-collections/{collection}", None),
    ("POST", "/api/speaker-collections/{collection}/profiles", {"profile_uuids": ["{profile}"]}),
    ("POST", "/api/speaker-collections/{collection}/profiles/remove", {"profile_uuids": ["{profile}"]}),
]
ADDRESSED = SPEAKER_ROUTES + PROFILE_ROUTES + COLLECTION_ROUTES
UNADDRESSED: list[Route] = [
    ("GET", "/api/speakers", None),
    ("GET", "/api/speaker-profiles", None),
    ("POST", "/api/speaker-profiles", {"name": "x"}),
    ("GET", "/api/speaker-collections", None),
    ("POST", "/api/speaker-collections", {"name": "x"}),
]


def fill(template: Any, names: dict[str, str]) -> Any:
    """The route's path or body with every {placeholder} replaced."""
    if isinstance(template, str):
        return template.format(**names)
    if isinstance(template, list):
        return [fill(item, names) for item in template]
    if isinstance(template, dict):
        return {key: fill(value, names) for key, value in template.items()}
    return template


@pytest.mark.parametrize(("method", "path", "body"), ADDRESSED + UNADDRESSED)
def test_every_route_needs_a_token(client: Any, method: str, path: str, body: Any) -> None:
    names = {key: str(uuid4()) for key in ("file", "speaker", "other", "profile", "collection")}
    assert client.request(method, fill(path, names), json=fill(body, names)).status_code == 401


def test_another_users_speakers_profiles_and_collections_are_not_found(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    bob, _ = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)
    profile = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann"}).json()
    collection = client.post("/api/speaker-collections", headers=alice, json={"name": "Team"}).json()
    names = {
        "file": rec.file_uuid,
        "speaker": rec.ann,
        "other": rec.bob,
        "profile": profile["uuid"],
        "collection": collection["uuid"],
    }
    for method, path, body in ADDRESSED:
        response = client.request(method, fill(path, names), headers=bob, json=fill(body, names))
        assert response.status_code == 404, (method, path, response.text)

    assert len(speakers_of(client, alice, rec.file_uuid)) == 2
    assert speakers_of(client, alice, rec.file_uuid)[rec.ann]["display_name"] is None
    assert client.get(f"/api/speaker-profiles/{profile['uuid']}", headers=alice).json()["name"] == "Ann"
    assert client.get(f"/api/speaker-collections/{collection['uuid']}", headers=alice).json()["name"] == "Team"
    assert client.get("/api/speaker-profiles", headers=bob).json() == []
    assert client.get("/api/speaker-collections", headers=bob).json() == []


def test_another_users_profile_cannot_be_linked_or_collected(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    bob, _ = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)
    theirs = client.post("/api/speaker-profiles", headers=bob, json={"name": "Spy"}).json()
    mine = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann"}).json()
    collection = client.post("/api/speaker-collections", headers=alice, json={"name": "Team"}).json()

    linked = client.put(f"/api/speakers/{rec.ann}/profile", headers=alice, json={"profile_uuid": theirs["uuid"]})
    assert linked.status_code == 404
    added = client.post(
        f"/api/speaker-collections/{collection['uuid']}/profiles",
        headers=alice,
        json={"profile_uuids": [mine["uuid"], theirs["uuid"]]},
    )
    assert added.status_code == 409 and added.json()["field"] == "profile_uuids"
    assert client.get(f"/api/speaker-collections/{collection['uuid']}", headers=alice).json()["profile_uuids"] == []
    assert speakers_of(client, alice, rec.file_uuid)[rec.ann]["profile_uuid"] is None


def test_speaker_profile_lifecycle_and_paging(client: Any, fresh_url: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    created = client.post("/api/speaker-profiles", headers=alice, json={"name": " Ann ", "description": "host"})
    assert created.status_code == 201, created.text
    ann = created.json()
    assert ann["name"] == "Ann" and ann["description"] == "host" and ann["speaker_count"] == 0
    assert "id" not in ann and "user_id" not in ann
    duplicate = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann"})
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"
    bob = client.post("/api/speaker-profiles", headers=alice, json={"name": "Bob"}).json()

    assert [p["name"] for p in client.get("/api/speaker-profiles", headers=alice).json()] == ["Ann", "Bob"]
    page = client.get("/api/speaker-profiles", headers=alice, params={"limit": 1})
    assert [p["name"] for p in page.json()] == ["Ann"]
    rest = client.get("/api/speaker-profiles", headers=alice, params={"limit": 1, "after": "Ann"})
    assert [p["name"] for p in rest.json()] == ["Bob"]

    assert client.get(f"/api/speaker-profiles/{ann['uuid']}", headers=alice).json() == ann
    renamed = client.put(f"/api/speaker-profiles/{ann['uuid']}", headers=alice, json={"name": "Anna"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Anna" and renamed.json()["description"] == "host"
    taken = client.put(f"/api/speaker-profiles/{ann['uuid']}", headers=alice, json={"name": "Bob"})
    assert taken.status_code == 409 and taken.json()["field"] == "name"

    assert client.delete(f"/api/speaker-profiles/{bob['uuid']}", headers=alice).status_code == 204
    assert client.get(f"/api/speaker-profiles/{bob['uuid']}", headers=alice).status_code == 404
    assert [p["name"] for p in client.get("/api/speaker-profiles", headers=alice).json()] == ["Anna"]


def test_speaker_collection_lifecycle(client: Any, fresh_url: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    ann = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann"}).json()["uuid"]
    bob = client.post("/api/speaker-profiles", headers=alice, json={"name": "Bob"}).json()["uuid"]

    created = client.post("/api/speaker-collections", headers=alice, json={"name": "Team", "description": "core"})
    assert created.status_code == 201, created.text
    team = created.json()
    assert team["profile_uuids"] == [] and team["description"] == "core" and "id" not in team
    duplicate = client.post("/api/speaker-collections", headers=alice, json={"name": "Team"})
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"
    path = f"/api/speaker-collections/{team['uuid']}"

    added = client.post(f"{path}/profiles", headers=alice, json={"profile_uuids": [bob, ann, ann]})
    assert added.status_code == 200 and added.json()["profile_uuids"] == [ann, bob]
    removed = client.post(f"{path}/profiles/remove", headers=alice, json={"profile_uuids": [ann]})
    assert removed.status_code == 200 and removed.json()["profile_uuids"] == [bob]
    assert client.get(path, headers=alice).json()["profile_uuids"] == [bob]
    assert [c["name"] for c in client.get("/api/speaker-collections", headers=alice).json()] == ["Team"]

    renamed = client.put(path, headers=alice, json={"name": "Crew"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Crew" and renamed.json()["profile_uuids"] == [bob]
    assert client.delete(path, headers=alice).status_code == 204
    assert client.get(path, headers=alice).status_code == 404
    assert client.get(f"/api/speaker-profiles/{bob}", headers=alice).status_code == 200, "profiles stay"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/speakers/{speaker}", {"display_name": "x" * 201}, "display_name"),
        ("/api/speakers/{speaker}", {"verified": "maybe"}, "verified"),
        ("/api/speakers/{speaker}", {"label": "SPEAKER_09"}, "label"),
        ("/api/speakers/{speaker}/profile", {}, "profile_uuid"),
        ("/api/speakers/{speaker}/profile", {"profile_uuid": "ann"}, "profile_uuid"),
        ("/api/speakers/{speaker}/profile", {"profile_uuid": None, "force": True}, "force"),
    ],
)
def test_bad_speaker_edits_name_the_field(
    client: Any, fresh_url: str, path: str, body: dict[str, Any], field: str
) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)
    response = client.put(path.format(speaker=rec.ann), headers=alice, json=body)
    assert response.status_code == 422 and response.json()["field"] == field
    unchanged = speakers_of(client, alice, rec.file_uuid)[rec.ann]
    assert unchanged["display_name"] is None and unchanged["label"] == "SPEAKER_00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"target_uuid": "{speaker}"}, "source_uuid"),
        ({"source_uuid": "not-a-uuid", "target_uuid": "{speaker}"}, "source_uuid"),
        ({"source_uuid": "{other}"}, "target_uuid"),
        ({"source_uuid": "{other}", "target_uuid": "{speaker}", "keep": "both"}, "keep"),
    ],
)
def test_bad_merges_name_the_field(client: Any, fresh_url: str, body: dict[str, Any], field: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)
    names = {"speaker": rec.ann, "other": rec.bob}
    response = client.post(f"/api/files/{rec.file_uuid}/speakers/merge", headers=alice, json=fill(body, names))
    assert response.status_code == 422 and response.json()["field"] == field
    assert len(speakers_of(client, alice, rec.file_uuid)) == 2


@pytest.mark.parametrize("kind", ["speaker-profiles", "speaker-collections"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "ok", "description": "x" * 2001}, "description"),
        ({"name": "ok", "owner": "me"}, "owner"),
    ],
)
def test_bad_profile_and_collection_bodies_name_the_field(
    client: Any, fresh_url: str, kind: str, body: dict[str, Any], field: str
) -> None:
    alice, _ = signed_in(client, fresh_url)
    response = client.post(f"/api/{kind}", headers=alice, json=body)
    assert response.status_code == 422 and response.json()["field"] == field
    assert client.get(f"/api/{kind}", headers=alice).json() == []
    if "name" in body:
        existing = client.post(f"/api/{kind}", headers=alice, json={"name": "Fine"}).json()
        edited = client.put(f"/api/{kind}/{existing['uuid']}", headers=alice, json=body)
        assert edited.status_code == 422 and edited.json()["field"] == field
        assert client.get(f"/api/{kind}/{existing['uuid']}", headers=alice).json()["name"] == "Fine"


@pytest.mark.parametrize("kind", ["speaker-profiles", "speaker-collections"])
@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 0}, "limit"), ({"limit": "all"}, "limit"), ({"sort": "name"}, "sort")]
)
def test_bad_list_queries_name_the_field(
    client: Any, fresh_url: str, kind: str, params: dict[str, Any], field: str
) -> None:
    alice, _ = signed_in(client, fresh_url)
    response = client.get(f"/api/{kind}", headers=alice, params=params)
    assert response.status_code == 422 and response.json()["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "profile_uuids"),
        ({"profile_uuids": []}, "profile_uuids"),
        ({"profile_uuids": ["ann"]}, "profile_uuids.0"),
        ({"profile_uuids": [str(uuid4()) for _ in range(1001)]}, "profile_uuids"),
        ({"profile_uuids": [str(uuid4())], "all": True}, "all"),
    ],
)
def test_bad_member_lists_name_the_field(client: Any, fresh_url: str, body: dict[str, Any], field: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    collection = client.post("/api/speaker-collections", headers=alice, json={"name": "Team"}).json()
    for suffix in ("profiles", "profiles/remove"):
        path = f"/api/speaker-collections/{collection['uuid']}/{suffix}"
        response = client.post(path, headers=alice, json=body)
        assert response.status_code == 422 and response.json()["field"] == field, (path, response.text)


@pytest.mark.parametrize(("method", "path", "body"), ADDRESSED)
def test_bad_uuid_in_the_path_names_the_field(client: Any, fresh_url: str, method: str, path: str, body: Any) -> None:
    alice, _ = signed_in(client, fresh_url)
    placeholder = path[path.index("{") + 1 : path.index("}")]
    names = {key: str(uuid4()) for key in ("file", "speaker", "other", "profile", "collection")}
    response = client.request(method, fill(path, {**names, placeholder: "nope"}), headers=alice, json=fill(body, names))
    assert 400 <= response.status_code < 500 and response.json()["field"] == "uuid"


# --- creating and deleting speakers, voice suggestions, all speakers ---------------------------------------------


def voice(url: str, speaker_uuid: str, vector: list[float], seconds: float = 10.0) -> None:
    """Give a speaker a voice embedding and match its file, as the worker does after processing."""
    from repo.voices import VoiceRepository
    from transcript.speakers import Voice

    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        row = conn.execute(
            "SELECT sp.media_file_id, sp.label, sp.user_id FROM speakers sp WHERE sp.uuid = %s", [speaker_uuid]
        ).fetchone()
        assert row is not None
        voices = VoiceRepository(conn)
        voices.store_embeddings(row[0], {row[1]: Voice(vector, seconds)})
        voices.match_file(row[0], row[2], auto_assign=0.8, suggest=0.65)


def test_create_a_speaker_then_delete_speakers_moving_their_segments(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)
    other = recording(fresh_url, alice_actor, "other.wav")

    created = client.post(f"/api/files/{rec.file_uuid}/speakers", headers=alice, json={})
    assert created.status_code == 201, created.text
    assert (created.json()["label"], created.json()["segment_count"]) == ("SPEAKER_02", 0)
    guest = client.post(
        f"/api/files/{rec.file_uuid}/speakers", headers=alice, json={"label": " Guest ", "display_name": "Dee"}
    ).json()
    assert (guest["label"], guest["display_name"], guest["assigned_by"]) == ("Guest", "Dee", None)
    taken = client.post(f"/api/files/{rec.file_uuid}/speakers", headers=alice, json={"label": "Guest"})
    assert (taken.status_code, taken.json()["field"]) == (409, "label")

    refused = client.request("DELETE", f"/api/speakers/{rec.ann}", headers=alice, json={})
    assert (refused.status_code, refused.json()["field"]) == (409, "move_segments_to")
    assert "still has 2 segment(s)" in refused.json()["detail"]
    itself = client.request("DELETE", f"/api/speakers/{rec.ann}", headers=alice, json={"move_segments_to": rec.ann})
    # a rule between the path and the body, which no schema can state: a conflict (Schemathesis sends such pairs)
    assert (itself.status_code, itself.json()["field"]) == (409, "move_segments_to")
    elsewhere = client.request(
        "DELETE", f"/api/speakers/{rec.ann}", headers=alice, json={"move_segments_to": other.ann}
    )
    assert (elsewhere.status_code, elsewhere.json()["field"]) == (404, "move_segments_to")

    moved = client.request(
        "DELETE", f"/api/speakers/{rec.ann}", headers=alice, json={"move_segments_to": guest["uuid"]}
    )
    assert moved.status_code == 204, moved.text
    emptied = client.request("DELETE", f"/api/speakers/{created.json()['uuid']}", headers=alice, json={})
    assert emptied.status_code == 204
    left = {s["label"]: s["segment_count"] for s in speakers_of(client, alice, rec.file_uuid).values()}
    assert left == {"Guest": 2, "SPEAKER_01": 1}
    transcript = client.get(f"/api/files/{rec.file_uuid}/transcript", headers=alice).json()
    assert sorted(t["speaker_label"] for t in transcript) == ["Guest", "Guest", "SPEAKER_01"]


def test_voice_suggestions_accept_and_reject(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    first = recording(fresh_url, alice_actor, "monday.wav")
    second = recording(fresh_url, alice_actor, "tuesday.wav")
    ann_voice, cy_voice = [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]
    voice(fresh_url, first.ann, ann_voice)
    profile = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann"}).json()
    accepted = client.post(f"/api/speakers/{first.ann}/suggestions/{profile['uuid']}/accept", headers=alice)
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["profile_name"], accepted.json()["verified"], accepted.json()["assigned_by"]) == (
        "Ann",
        True,
        "user",
    )
    voice(fresh_url, second.ann, [0.7, 0.0, 0.71414284, 0.0])  # cosine 0.7 with Ann
    voice(fresh_url, second.bob, cy_voice)

    suggested = client.get(f"/api/speakers/{second.ann}/suggestions", headers=alice)
    assert suggested.status_code == 200, suggested.text
    assert [(s["profile_name"], round(s["confidence"], 3), s["assigned"]) for s in suggested.json()] == [
        ("Ann", 0.7, False)
    ]
    assert client.get(f"/api/speakers/{second.bob}/suggestions", headers=alice).json() == []

    rejected = client.post(f"/api/speakers/{second.ann}/suggestions/{profile['uuid']}/reject", headers=alice)
    assert rejected.status_code == 204, rejected.text
    assert client.get(f"/api/speakers/{second.ann}/suggestions", headers=alice).json() == []
    voice(fresh_url, second.ann, [0.7, 0.0, 0.71414284, 0.0])  # processed again: still not suggested
    assert client.get(f"/api/speakers/{second.ann}/suggestions", headers=alice).json() == []

    occurrences = client.get(f"/api/speaker-profiles/{profile['uuid']}/occurrences", headers=alice).json()
    assert [(o["filename"], o["assigned_by"], o["verified"]) for o in occurrences] == [("monday.wav", "user", True)]


def test_all_speakers_with_file_counts_for_filters(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    bob, bob_actor = signed_in(client, fresh_url)
    first = recording(fresh_url, alice_actor, "monday.wav")
    second = recording(fresh_url, alice_actor, "tuesday.wav")
    theirs = recording(fresh_url, bob_actor)
    profile = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann"}).json()
    for speaker in (first.ann, second.ann):
        link = client.put(f"/api/speakers/{speaker}/profile", headers=alice, json={"profile_uuid": profile["uuid"]})
        assert link.status_code == 200, link.text
    client.put(f"/api/speakers/{second.bob}", headers=alice, json={"display_name": "Bob"})

    everyone = client.get("/api/speakers", headers=alice)
    assert everyone.status_code == 200, everyone.text
    assert [(s["name"], s["profile_uuid"], s["file_count"]) for s in everyone.json()] == [
        ("Ann", profile["uuid"], 2),
        ("Bob", None, 1),
        ("SPEAKER_01", None, 1),
    ]
    in_second = client.get("/api/speakers", headers=alice, params={"file": second.file_uuid}).json()
    assert [(s["name"], s["file_count"]) for s in in_second] == [("Ann", 2), ("Bob", 1)]
    theirs_query = client.get("/api/speakers", headers=alice, params={"file": theirs.file_uuid})
    assert (theirs_query.status_code, theirs_query.json()["field"]) == (409, "file")  # the query names it
    bad = client.get("/api/speakers", headers=alice, params={"file": "nope"})
    assert (bad.status_code, bad.json()["field"]) == (422, "file")
    assert [s["name"] for s in client.get("/api/speakers", headers=bob).json()] == ["SPEAKER_00", "SPEAKER_01"]


def test_the_speaker_summary_of_a_file_shared_with_me_lists_its_people(client: Any, fresh_url: str) -> None:
    owner, owner_actor = signed_in(client, fresh_url)
    viewer, viewer_actor = signed_in(client, fresh_url)
    stranger, _ = signed_in(client, fresh_url)
    shared = recording(fresh_url, owner_actor, "会議 اجتماع.wav")
    mine = recording(fresh_url, viewer_actor, "meine.wav")
    client.put(f"/api/speakers/{shared.ann}", headers=owner, json={"display_name": "Jürgen 🎤"})
    client.put(f"/api/speakers/{mine.ann}", headers=viewer, json={"display_name": "Jürgen 🎤"})
    client.put(f"/api/speakers/{mine.bob}", headers=viewer, json={"display_name": "سارة"})
    viewer_email = client.get("/api/users/me", headers=viewer).json()["email"]
    share = client.post(
        f"/api/files/{shared.file_uuid}/shares", headers=owner, json={"user_email": viewer_email, "role": "viewer"}
    )
    assert share.status_code in (200, 201), share.text

    in_shared = client.get("/api/speakers", headers=viewer, params={"file": shared.file_uuid})

    assert in_shared.status_code == 200, in_shared.text
    # the file's people, as its page shows them; Jürgen also speaks in one of the viewer's own files
    assert [(s["name"], s["file_count"]) for s in in_shared.json()] == [("Jürgen 🎤", 2), ("SPEAKER_01", 1)]
    # without ?file= the summary stays the viewer's own speakers
    assert [s["name"] for s in client.get("/api/speakers", headers=viewer).json()] == ["Jürgen 🎤", "سارة"]
    unseen = client.get("/api/speakers", headers=stranger, params={"file": shared.file_uuid})
    assert (unseen.status_code, unseen.json()["field"]) == (409, "file")


def test_a_colleague_accepts_a_shared_profile_without_changing_its_voice(client: Any, fresh_url: str) -> None:
    """A profile shared with Bea recognises her speaker (a suggestion, not an automatic link, even at 0.95); she
    accepts it, the link shows its name, and the owner's profile keeps exactly the voice her own speakers taught."""
    ann, ann_actor = signed_in(client, fresh_url)
    bea, bea_actor = signed_in(client, fresh_url)
    mine = recording(fresh_url, ann_actor, "会議.wav")
    voice(fresh_url, mine.ann, [1.0, 0.0, 0.0, 0.0])
    profile = client.post("/api/speaker-profiles", headers=ann, json={"name": "Ana 安娜"}).json()
    assert client.post(f"/api/speakers/{mine.ann}/suggestions/{profile['uuid']}/accept", headers=ann).status_code == 200
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO shares (speaker_profile_id, user_id, role, shared_by) "
            "SELECT id, %s, 'viewer', %s FROM speaker_profiles WHERE uuid = %s",
            [bea_actor.id, ann_actor.id, profile["uuid"]],
        )
        learned = conn.execute("SELECT embedding FROM speaker_profiles WHERE uuid = %s", [profile["uuid"]]).fetchone()
    theirs = recording(fresh_url, bea_actor, "اجتماع.wav")
    voice(fresh_url, theirs.ann, [0.95, 0.0, 0.31224990, 0.0])

    assert speakers_of(client, bea, theirs.file_uuid)[theirs.ann]["profile_uuid"] is None
    suggested = client.get(f"/api/speakers/{theirs.ann}/suggestions", headers=bea).json()
    assert [(s["profile_name"], s["assigned"]) for s in suggested] == [("Ana 安娜", False)]
    accepted = client.post(f"/api/speakers/{theirs.ann}/suggestions/{profile['uuid']}/accept", headers=bea)

    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["profile_name"], accepted.json()["verified"]) == ("Ana 安娜", True)
    with psycopg.connect(fresh_url) as conn:
        after = conn.execute("SELECT embedding FROM speaker_profiles WHERE uuid = %s", [profile["uuid"]]).fetchone()
    assert after == learned
