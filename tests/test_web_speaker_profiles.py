"""Speaker profiles through the HTTP API: "remember this voice" (POST /api/speakers/{uuid}/remember), merging two
profiles (POST /api/speaker-profiles/{uuid}/merge), and what a profile says of itself (files heard in, talk time).

Voices are set as the worker sets them (tests/test_web_speakers.py's `voice`: store the embedding, match the file).
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import psycopg
import pytest

from tests.test_web_speakers import recording, speakers_of, voice
from tests.web import signed_in

JAPANESE, ARABIC, EMOJI = "佐藤 花子", "مريم الحسن", "José 🎙️ Ümit"


def profile_voice(url: str, profile_uuid: str) -> list[float] | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT embedding FROM speaker_profiles WHERE uuid = %s", [profile_uuid]).fetchone()
    assert row is not None
    return None if row[0] is None else [round(float(x), 3) for x in row[0]]


def test_remember_this_voice_creates_the_profile_then_links_the_next_speaker_to_it(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    monday = recording(fresh_url, alice_actor, "monday.wav")
    tuesday = recording(fresh_url, alice_actor, "tuesday.wav")
    voice(fresh_url, monday.ann, [1.0, 0.0, 0.0, 0.0])
    named = client.put(f"/api/speakers/{monday.ann}", headers=alice, json={"display_name": JAPANESE})
    assert named.json()["has_voice"] is True and named.json()["profile_uuid"] is None

    remembered = client.post(f"/api/speakers/{monday.ann}/remember", headers=alice, json={})
    assert remembered.status_code == 200, remembered.text
    body = remembered.json()
    assert (body["profile_name"], body["verified"], body["assigned_by"], body["display_name"]) == (
        JAPANESE,
        True,
        "user",
        JAPANESE,
    )
    profile = body["profile_uuid"]
    assert profile_voice(fresh_url, profile) == [1.0, 0.0, 0.0, 0.0]  # it learnt the voice

    # the same voice in the next recording is linked to it automatically, with its similarity
    voice(fresh_url, tuesday.ann, [0.9, 0.0, 0.43588989, 0.0])
    linked = speakers_of(client, alice, tuesday.file_uuid)[tuesday.ann]
    assert (linked["profile_uuid"], linked["assigned_by"], round(linked["confidence"], 2)) == (profile, "auto", 0.9)

    # remembering another speaker by the same name links that profile, and the speaker takes the name
    again = client.post(f"/api/speakers/{tuesday.bob}/remember", headers=alice, json={"name": f"  {JAPANESE} "})
    assert again.status_code == 200, again.text
    assert (again.json()["profile_uuid"], again.json()["display_name"]) == (profile, JAPANESE)
    assert again.json()["has_voice"] is False  # linked by hand, but there is no voice to learn from
    [listed] = client.get("/api/speaker-profiles", headers=alice).json()
    assert (listed["name"], listed["speaker_count"], listed["file_count"]) == (JAPANESE, 3, 2)
    assert listed["talk_time"] == pytest.approx(1.8 + 1.8 + 0.9)


def test_remember_needs_a_name_within_bounds(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    rec = recording(fresh_url, alice_actor)
    path = f"/api/speakers/{rec.ann}/remember"
    # neither the body nor the speaker names anyone: a well-formed request at odds with the speaker's state
    nameless = client.post(path, headers=alice, json={})
    assert (nameless.status_code, nameless.json()["field"]) == (409, "name"), nameless.text
    for body, field in [
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 7}, "name"),
        ({"name": "Ann", "verified": True}, "verified"),
    ]:
        refused = client.post(path, headers=alice, json=body)
        assert (refused.status_code, refused.json()["field"]) == (422, field), (body, refused.text)
    assert client.get("/api/speaker-profiles", headers=alice).json() == []
    assert client.post(f"/api/speakers/{uuid4()}/remember", headers=alice, json={"name": "Ann"}).status_code == 404


def test_merge_moves_speakers_voices_collections_and_keeps_rejections(client: Any, fresh_url: str) -> None:
    alice, alice_actor = signed_in(client, fresh_url)
    monday = recording(fresh_url, alice_actor, "monday.wav")
    tuesday = recording(fresh_url, alice_actor, "tuesday.wav")
    wednesday = recording(fresh_url, alice_actor, "wednesday.wav")
    voice(fresh_url, monday.ann, [1.0, 0.0, 0.0, 0.0])
    voice(fresh_url, tuesday.bob, [0.0, 1.0, 0.0, 0.0])
    kept = client.post(f"/api/speakers/{monday.ann}/remember", headers=alice, json={"name": ARABIC}).json()
    gone = client.post(f"/api/speakers/{tuesday.bob}/remember", headers=alice, json={"name": EMOJI}).json()
    kept_uuid, gone_uuid = kept["profile_uuid"], gone["profile_uuid"]
    team = client.post("/api/speaker-collections", headers=alice, json={"name": "チーム"}).json()
    client.post(f"/api/speaker-collections/{team['uuid']}/profiles", headers=alice, json={"profile_uuids": [gone_uuid]})
    # Wednesday's Ann sounds like both; she was told she is not the merged one
    voice(fresh_url, wednesday.ann, [0.7, 0.7, 0.14142136, 0.0])
    suggested = client.get(f"/api/speakers/{wednesday.ann}/suggestions", headers=alice).json()
    assert sorted(s["profile_name"] for s in suggested) == sorted([ARABIC, EMOJI])
    client.post(f"/api/speakers/{wednesday.ann}/suggestions/{gone_uuid}/reject", headers=alice)

    merged = client.post(
        f"/api/speaker-profiles/{kept_uuid}/merge", headers=alice, json={"source_profile_uuid": gone_uuid}
    )
    assert merged.status_code == 200, merged.text
    assert (merged.json()["uuid"], merged.json()["name"]) == (kept_uuid, ARABIC)
    assert (merged.json()["speaker_count"], merged.json()["file_count"]) == (2, 2)
    assert client.get(f"/api/speaker-profiles/{gone_uuid}", headers=alice).status_code == 404
    moved = speakers_of(client, alice, tuesday.file_uuid)[tuesday.bob]
    assert (moved["profile_uuid"], moved["verified"], moved["display_name"]) == (kept_uuid, True, EMOJI)
    # the kept profile learnt both voices (equal seconds: the mean, at unit length)
    assert profile_voice(fresh_url, kept_uuid) == [0.707, 0.707, 0.0, 0.0]
    # the rejection of the merged profile is a rejection of the kept one: never suggested again, even afresh
    assert client.get(f"/api/speakers/{wednesday.ann}/suggestions", headers=alice).json() == []
    voice(fresh_url, wednesday.ann, [0.7, 0.7, 0.14142136, 0.0])
    assert client.get(f"/api/speakers/{wednesday.ann}/suggestions", headers=alice).json() == []
    assert speakers_of(client, alice, wednesday.file_uuid)[wednesday.ann]["profile_uuid"] is None
    collection = client.get(f"/api/speaker-collections/{team['uuid']}", headers=alice).json()
    assert collection["profile_uuids"] == [kept_uuid]
    occurrences = client.get(f"/api/speaker-profiles/{kept_uuid}/occurrences", headers=alice).json()
    assert sorted(o["filename"] for o in occurrences) == ["monday.wav", "tuesday.wav"]


def test_a_profile_known_by_its_voice_alone_keeps_it_through_a_merge(client: Any, fresh_url: str) -> None:
    """A profile brought in with a voice but no verified speaker here (an import) does not lose it by a merge."""
    alice, _ = signed_in(client, fresh_url)
    first = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann"}).json()
    second = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann B."}).json()
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE speaker_profiles SET embedding = '{0,0,1,0}', embedding_signature = repeat('1', 256)::bit(256),"
            " embedding_weight = 3 WHERE uuid = %s",
            [second["uuid"]],
        )
    merged = client.post(
        f"/api/speaker-profiles/{first['uuid']}/merge", headers=alice, json={"source_profile_uuid": second["uuid"]}
    )
    assert merged.status_code == 200, merged.text
    assert profile_voice(fresh_url, first["uuid"]) == [0.0, 0.0, 1.0, 0.0]


def test_bad_merges_name_the_field_and_change_nothing(client: Any, fresh_url: str) -> None:
    alice, _ = signed_in(client, fresh_url)
    bob, _ = signed_in(client, fresh_url)
    ann = client.post("/api/speaker-profiles", headers=alice, json={"name": "Ann"}).json()["uuid"]
    cy = client.post("/api/speaker-profiles", headers=alice, json={"name": "Cy"}).json()["uuid"]
    bobs = client.post("/api/speaker-profiles", headers=bob, json={"name": "Bob"}).json()["uuid"]
    path = f"/api/speaker-profiles/{ann}/merge"
    cases: list[tuple[str, dict[str, Any], dict[str, str], int, str | None]] = [
        # a profile merged into itself: the path and the body disagree, not a malformed value (as for speakers)
        (path, {"source_profile_uuid": ann}, alice, 409, "source_profile_uuid"),
        (path, {"source_profile_uuid": bobs}, alice, 404, "source_profile_uuid"),  # another user's profile is not found
        (path, {"source_profile_uuid": str(uuid4())}, alice, 404, "source_profile_uuid"),
        (f"/api/speaker-profiles/{bobs}/merge", {"source_profile_uuid": cy}, alice, 404, None),
        (path, {"source_profile_uuid": cy}, bob, 404, None),  # Bob cannot merge Alice's profiles
        (path, {"source_profile_uuid": "not-a-uuid"}, alice, 422, "source_profile_uuid"),
        (path, {}, alice, 422, "source_profile_uuid"),
        (path, {"source_profile_uuid": cy, "name": "x"}, alice, 422, "name"),
    ]
    for url, body, headers, status, field in cases:
        refused = client.post(url, headers=headers, json=body)
        assert refused.status_code == status, (url, body, refused.text)
        assert refused.json().get("field") == field, (url, body, refused.text)
    names = sorted(p["name"] for p in client.get("/api/speaker-profiles", headers=alice).json())
    assert names == ["Ann", "Cy"]
    assert [p["name"] for p in client.get("/api/speaker-profiles", headers=bob).json()] == ["Bob"]
