"""Speaker names proposed from the conversation, through the HTTP API: read per speaker with their evidence,
accepted (the speaker takes the name; with `remember`, the profile of that name learns the voice) or rejected,
each once; never applied by themselves; seen by whoever sees the file, decided by its editors only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg

from repo.rows import Actor
from tests import factories
from tests.web import actor_of, register, signed_in


@dataclass(frozen=True)
class Proposed:
    file_uuid: str
    speakers: dict[str, str]  # label → speaker uuid
    proposals: dict[tuple[str, str], str]  # (label, name) → proposal uuid
    run_uuid: str


def proposed(url: str, owner: Actor, names: dict[str, list[tuple[str, float]]]) -> Proposed:
    """A completed file whose speakers SPEAKER_00 ("Alice") and SPEAKER_01 (no name) talk, and a completed
    speaker_names run that proposed `names` per label, each with one quote of the transcript as its evidence."""
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, filename="Besprechung.wav", status="completed")
        ids = {label: factories.speaker(conn, owner, file_id, label) for label in ("SPEAKER_00", "SPEAKER_01")}
        conn.execute("UPDATE speakers SET display_name = 'Alice' WHERE id = %s", [ids["SPEAKER_00"]])
        factories.segments(conn, file_id, ["Thanks, Maria. さくら, مريم and Jürgen are here 🎙️"], ids["SPEAKER_00"])
        segment, start = conn.execute(
            "SELECT uuid::text, start_time FROM transcript_segments WHERE media_file_id = %s", [file_id]
        ).fetchone() or ("", 0.0)
        run = conn.execute(
            "INSERT INTO llm_runs (kind, media_file_id, user_id, provider, model_name, status, progress, started_at, "
            "completed_at, requests, input_tokens, output_tokens) VALUES ('speaker_names', %s, %s, 'openai', "
            "'stand-in', 'completed', 1, now(), now(), 1, 500, 80) RETURNING id, uuid::text",
            [file_id, owner.id],
        ).fetchone()
        assert run is not None
        proposals = {}
        for label, entries in names.items():
            for name, confidence in entries:
                evidence = [{"segment_uuid": segment, "start_time": start, "quote": name}]
                row = conn.execute(
                    "INSERT INTO speaker_name_proposals (run_id, speaker_id, name, confidence, evidence) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING uuid::text",
                    [run[0], ids[label], name, confidence, json.dumps(evidence)],
                ).fetchone()
                assert row is not None
                proposals[(label, name)] = row[0]
        uuids: dict[str, str] = dict(
            conn.execute("SELECT label, uuid::text FROM speakers WHERE media_file_id = %s", [file_id]).fetchall()
        )
    return Proposed(str(file_uuid), uuids, proposals, run[1])


def share(url: str, file_uuid: str, user: Actor, role: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO shares (media_file_id, user_id, role, shared_by) "
            "SELECT id, %s, %s, user_id FROM media_files WHERE uuid = %s",
            [user.id, role, file_uuid],
        )


def names(client: Any, headers: dict[str, str], file_uuid: str) -> dict[str, str | None]:
    listed = client.get(f"/api/files/{file_uuid}/speakers", headers=headers)
    assert listed.status_code == 200, listed.text
    return {s["label"]: s["display_name"] for s in listed.json()}


def test_proposals_are_listed_per_speaker_and_never_applied_by_themselves(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    before = {"SPEAKER_00": "Alice", "SPEAKER_01": None}
    rec = proposed(fresh_url, owner, {"SPEAKER_01": [("Maria", 0.8), ("Mary", 0.3)], "SPEAKER_00": [("Jürgen", 0.2)]})

    shown = client.get(f"/api/files/{rec.file_uuid}/speaker-names", headers=alice)

    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["run"]["uuid"] == body["proposals_run"]["uuid"] == rec.run_uuid
    assert (body["run"]["status"], body["run"]["input_tokens"], body["run"]["output_tokens"]) == ("completed", 500, 80)
    assert [
        (s["speaker_label"], s["speaker_name"], [(p["name"], p["confidence"], p["status"]) for p in s["proposals"]])
        for s in body["speakers"]
    ] == [
        ("SPEAKER_00", "Alice", [("Jürgen", 0.2, "proposed")]),
        ("SPEAKER_01", None, [("Maria", 0.8, "proposed"), ("Mary", 0.3, "proposed")]),
    ]
    maria = body["speakers"][1]["proposals"][0]
    assert [(e["start_time"], e["quote"]) for e in maria["evidence"]] == [(0.0, "Maria")]
    # a completed run named nobody: every speaker keeps the name it had
    assert names(client, alice, rec.file_uuid) == before


def test_accept_names_the_speaker_and_is_decided_once(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    rec = proposed(fresh_url, owner, {"SPEAKER_01": [("Maria", 0.8), ("Mary", 0.3)]})
    maria, mary = rec.proposals[("SPEAKER_01", "Maria")], rec.proposals[("SPEAKER_01", "Mary")]

    accepted = client.post(f"/api/speaker-names/{maria}/accept", headers=alice, json={})

    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["status"], accepted.json()["speaker_name"]) == ("accepted", "Maria")
    assert accepted.json()["decided_at"] is not None
    assert names(client, alice, rec.file_uuid) == {"SPEAKER_00": "Alice", "SPEAKER_01": "Maria"}
    for again in ("accept", "reject"):
        refused = client.post(
            f"/api/speaker-names/{maria}/{again}", headers=alice, **({"json": {}} if again == "accept" else {})
        )
        assert refused.status_code == 409 and refused.json()["field"] == "status", refused.text
        assert "accepted" in refused.json()["detail"]
    # the speaker's other proposal stays open; the page shows the speaker as named
    listed = client.get(f"/api/files/{rec.file_uuid}/speaker-names", headers=alice).json()["speakers"]
    assert [(s["speaker_name"], [(p["name"], p["status"]) for p in s["proposals"]]) for s in listed] == [
        ("Maria", [("Maria", "accepted"), ("Mary", "proposed")])
    ]
    assert names(client, alice, rec.file_uuid)["SPEAKER_01"] == "Maria"
    rejected = client.post(f"/api/speaker-names/{mary}/reject", headers=alice)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert names(client, alice, rec.file_uuid)["SPEAKER_01"] == "Maria"


def test_reject_changes_no_name_and_is_decided_once(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    rec = proposed(fresh_url, owner, {"SPEAKER_00": [("Bob", 0.6)]})
    bob = rec.proposals[("SPEAKER_00", "Bob")]

    rejected = client.post(f"/api/speaker-names/{bob}/reject", headers=alice)

    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected", rejected.text
    assert names(client, alice, rec.file_uuid) == {"SPEAKER_00": "Alice", "SPEAKER_01": None}
    twice = client.post(f"/api/speaker-names/{bob}/accept", headers=alice, json={})
    assert twice.status_code == 409 and twice.json()["field"] == "status" and "rejected" in twice.json()["detail"]
    assert names(client, alice, rec.file_uuid)["SPEAKER_00"] == "Alice"


def test_accepting_with_remember_lets_the_profile_of_that_name_learn_the_voice(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    rec = proposed(fresh_url, owner, {"SPEAKER_01": [("Maria", 0.8)]})

    accepted = client.post(
        f"/api/speaker-names/{rec.proposals[('SPEAKER_01', 'Maria')]}/accept", headers=alice, json={"remember": True}
    )

    assert accepted.status_code == 200, accepted.text
    speaker = {s["label"]: s for s in client.get(f"/api/files/{rec.file_uuid}/speakers", headers=alice).json()}
    maria = speaker["SPEAKER_01"]
    assert (maria["display_name"], maria["profile_name"], maria["verified"], maria["assigned_by"]) == (
        "Maria",
        "Maria",
        True,
        "user",
    )
    profiles = client.get("/api/speaker-profiles", headers=alice).json()
    assert [p["name"] for p in profiles] == ["Maria"]


def test_names_in_any_script_round_trip(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    for name in ("Jürgen", "さくら", "مريم", "Sam 🎙️"):
        rec = proposed(fresh_url, owner, {"SPEAKER_01": [(name, 0.7)]})
        listed = client.get(f"/api/files/{rec.file_uuid}/speaker-names", headers=alice).json()
        assert [p["name"] for p in listed["speakers"][0]["proposals"]] == [name]
        assert listed["speakers"][0]["proposals"][0]["evidence"][0]["quote"] == name
        accepted = client.post(
            f"/api/speaker-names/{rec.proposals[('SPEAKER_01', name)]}/accept", headers=alice, json={}
        )
        assert accepted.status_code == 200 and accepted.json()["name"] == name
        assert names(client, alice, rec.file_uuid)["SPEAKER_01"] == name


def test_viewers_read_editors_decide_strangers_see_nothing(client: Any, fresh_url: str) -> None:
    _, owner = signed_in(client, fresh_url)
    rec = proposed(fresh_url, owner, {"SPEAKER_01": [("Maria", 0.8), ("Mary", 0.3)]})
    viewer, editor, stranger = register(client), register(client), register(client)
    share(fresh_url, rec.file_uuid, actor_of(client, fresh_url, viewer), "viewer")
    share(fresh_url, rec.file_uuid, actor_of(client, fresh_url, editor), "editor")
    maria, mary = rec.proposals[("SPEAKER_01", "Maria")], rec.proposals[("SPEAKER_01", "Mary")]

    assert client.get(f"/api/files/{rec.file_uuid}/speaker-names", headers=viewer).status_code == 200
    for path, body in ((f"/api/speaker-names/{maria}/accept", {}), (f"/api/speaker-names/{maria}/reject", None)):
        refused = client.post(path, headers=viewer, json=body)
        assert refused.status_code == 403, refused.text
        hidden = client.post(path, headers=stranger, json=body)
        assert hidden.status_code == 404, hidden.text
    assert client.post(f"/api/files/{rec.file_uuid}/speaker-names", headers=viewer, json={}).status_code == 403
    assert client.post(f"/api/files/{rec.file_uuid}/speaker-names", headers=stranger, json={}).status_code == 404
    assert client.get(f"/api/files/{rec.file_uuid}/speaker-names", headers=stranger).status_code == 404
    unknown = client.post("/api/speaker-names/00000000-0000-4000-8000-000000000000/reject", headers=stranger)
    assert unknown.status_code == 404

    assert client.post(f"/api/speaker-names/{mary}/reject", headers=editor).status_code == 200
    accepted = client.post(f"/api/speaker-names/{maria}/accept", headers=editor, json={})
    assert accepted.status_code == 200 and accepted.json()["speaker_name"] == "Maria"
    assert names(client, viewer, rec.file_uuid)["SPEAKER_01"] == "Maria"


def test_asking_for_names_queues_a_run_with_the_requesters_configuration(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    rec = proposed(fresh_url, owner, {})

    without = client.post(f"/api/files/{rec.file_uuid}/speaker-names", headers=alice, json={})
    assert without.status_code == 409 and without.json()["field"] == "llm_config_uuid", without.text

    config = client.post(
        "/api/llm-configs",
        headers=alice,
        json={"name": "lokal", "provider": "custom", "model_name": "m", "base_url": "http://127.0.0.1:9"},
    )
    assert config.status_code == 201, config.text
    assert client.post(f"/api/llm-configs/{config.json()['uuid']}/activate", headers=alice).status_code == 200
    queued = client.post(f"/api/files/{rec.file_uuid}/speaker-names", headers=alice, json={})

    assert queued.status_code == 202, queued.text
    assert (queued.json()["kind"], queued.json()["status"]) == ("speaker_names", "pending")
    shown = client.get(f"/api/files/{rec.file_uuid}/speaker-names", headers=alice).json()
    assert shown["run"]["uuid"] == queued.json()["uuid"] and shown["proposals_run"]["uuid"] == rec.run_uuid
    assert names(client, alice, rec.file_uuid) == {"SPEAKER_00": "Alice", "SPEAKER_01": None}
