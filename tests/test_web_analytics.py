"""GET /api/files/{uuid}/analytics on a hand-built transcript: every number computed by hand below."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from repo.rows import Actor
from tests import factories
from tests.web import signed_in

# A 20-second recording. Ann: 0-4, then 6-10 and 10-12 (one turn); Bob cuts in at 3.5 (before Ann's 4.0: an
# interruption), and speaks again at 13-15. Speech covers 0-12 and 13-15: 14 s of 20, silence ratio 0.3.
TRANSCRIPT = [
    ("ann", 0.0, 4.0, "Hello everyone, welcome."),
    ("bob", 3.5, 6.0, "Thanks! Can I ask something?"),
    ("ann", 6.0, 10.0, "Sure. Go ahead."),
    ("ann", 10.0, 12.0, "What is it?"),
    ("bob", 13.0, 15.0, "Never mind."),
]


def transcribed(url: str, owner: Actor) -> tuple[str, dict[str, str]]:
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", duration=20.0)
        ids = {name: factories.speaker(conn, owner, file_id, label) for name, label in (("ann", "A"), ("bob", "B"))}
        conn.execute("UPDATE speakers SET display_name = 'Ann' WHERE id = %s", [ids["ann"]])
        for who, start, end, text in TRANSCRIPT:
            conn.execute(
                "INSERT INTO transcript_segments (media_file_id, speaker_id, start_time, end_time, text) "
                "VALUES (%s, %s, %s, %s, %s)",
                [file_id, ids[who], start, end, text],
            )
        uuids: dict[int, str] = dict(
            conn.execute("SELECT id, uuid::text FROM speakers WHERE media_file_id = %s", [file_id]).fetchall()
        )
    return str(file_uuid), {who: uuids[i] for who, i in ids.items()}


def test_analytics_of_a_hand_built_transcript(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    file_uuid, speakers = transcribed(fresh_url, owner)

    response = client.get(f"/api/files/{file_uuid}/analytics", headers=alice)

    assert response.status_code == 200, response.text
    found = response.json()
    assert (found["file_uuid"], found["duration"], found["speech_time"], found["segment_count"]) == (
        file_uuid,
        20.0,
        14.0,
        5,
    )
    assert found["silence_ratio"] == pytest.approx(0.3)
    assert found["keywords"] == [] and found["diarization"] is None
    ann, bob = found["speakers"]
    assert (ann["speaker_uuid"], ann["label"], ann["name"]) == (speakers["ann"], "A", "Ann")
    assert (ann["talk_time"], ann["words"], ann["turns"], ann["longest_monologue"]) == (10.0, 9, 2, 6.0)
    assert (ann["interruptions"], ann["questions"]) == (0, 1)
    assert ann["share"] == pytest.approx(10 / 14.5) and ann["words_per_minute"] == pytest.approx(54.0)
    assert (bob["name"], bob["talk_time"], bob["words"], bob["turns"], bob["longest_monologue"]) == (
        "B",
        4.5,
        7,
        2,
        2.5,
    )
    assert (bob["interruptions"], bob["questions"]) == (1, 1)
    assert bob["share"] == pytest.approx(4.5 / 14.5) and bob["words_per_minute"] == pytest.approx(7 / 4.5 * 60)


def test_editing_a_segments_speaker_changes_the_analytics_at_once(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    file_uuid, speakers = transcribed(fresh_url, owner)
    last = client.get(f"/api/files/{file_uuid}/transcript", headers=alice).json()[-1]

    edited = client.put(
        f"/api/files/{file_uuid}/transcript/segments/{last['uuid']}",
        headers=alice,
        json={"speaker_uuid": speakers["ann"]},
    )
    assert edited.status_code == 200, edited.text

    ann, bob = client.get(f"/api/files/{file_uuid}/analytics", headers=alice).json()["speakers"]
    assert (ann["talk_time"], ann["words"], ann["turns"], ann["longest_monologue"]) == (12.0, 11, 2, 9.0)
    assert (bob["talk_time"], bob["words"], bob["turns"], bob["interruptions"]) == (2.5, 5, 1, 1)
    assert ann["share"] == pytest.approx(12 / 14.5)

    merged = client.post(
        f"/api/files/{file_uuid}/speakers/merge",
        headers=alice,
        json={"source_uuid": speakers["bob"], "target_uuid": speakers["ann"]},
    )
    assert merged.status_code == 200, merged.text
    (everyone,) = client.get(f"/api/files/{file_uuid}/analytics", headers=alice).json()["speakers"]
    assert (everyone["talk_time"], everyone["turns"], everyone["interruptions"], everyone["share"]) == (
        14.5,
        1,
        0,
        1.0,
    )
    assert everyone["longest_monologue"] == 15.0


def test_a_file_without_a_transcript_and_another_users_file(client: Any, fresh_url: str) -> None:
    alice, owner = signed_in(client, fresh_url)
    bob, _ = signed_in(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _, empty = factories.media_file(conn, owner)
    found = client.get(f"/api/files/{empty}/analytics", headers=alice).json()
    assert (found["duration"], found["speech_time"], found["silence_ratio"], found["speakers"]) == (0.0, 0.0, None, [])
    assert client.get(f"/api/files/{empty}/analytics", headers=bob).status_code == 404
    assert client.get(f"/api/files/{empty}/analytics").status_code == 401
    bad = client.get("/api/files/nope/analytics", headers=alice)
    assert (bad.status_code, bad.json()["field"]) == (422, "uuid")
