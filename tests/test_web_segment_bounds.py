"""Segment edits and subtitles through HTTP: every time is bounded where it comes in, and no stored time can make
a subtitle file fail."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests import factories
from tests.web import signed_in


def recording(client: Any, url: str, duration: float | None = 10.0) -> tuple[dict[str, str], str, str]:
    """A signed-in user, their transcribed file of `duration` seconds, and its first segment's uuid."""
    headers, owner = signed_in(client, url)
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", duration=duration)
        factories.segments(conn, file_id, ["hello there", "how are you"])
        row = conn.execute(
            "SELECT uuid::text FROM transcript_segments WHERE media_file_id = %s ORDER BY start_time", [file_id]
        ).fetchone()
    assert row is not None
    return headers, str(file_uuid), row[0]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"start_time": 1e308}, 422, "start_time"),
        ({"end_time": 1e308}, 422, "end_time"),
        ({"start_time": -1}, 422, "start_time"),
        ({"start_time": False}, 422, "start_time"),
        ({"end_time": 11.5}, 409, "end_time"),
        ({"start_time": 5, "end_time": 4}, 409, "end_time"),
        ({"start_time": 3}, 409, "start_time"),
        ({"text": "a\x00b"}, 422, "text"),
    ],
)
def test_segment_times_are_bounded_where_they_come_in(
    client: Any, fresh_url: str, body: dict[str, Any], status: int, field: str
) -> None:
    headers, file_uuid, segment = recording(client, fresh_url)
    path = f"/api/files/{file_uuid}/transcript/segments/{segment}"
    response = client.put(path, headers=headers, json=body)
    assert response.status_code == status and response.json()["field"] == field, response.text
    transcript = client.get(f"/api/files/{file_uuid}/transcript", headers=headers).json()
    assert (transcript[0]["start_time"], transcript[0]["end_time"]) == (0.0, 0.9)


def test_times_up_to_the_duration_and_a_little_past_it_are_taken(client: Any, fresh_url: str) -> None:
    headers, file_uuid, segment = recording(client, fresh_url)
    path = f"/api/files/{file_uuid}/transcript/segments/{segment}"
    moved = client.put(path, headers=headers, json={"start_time": 9, "end_time": 10.5})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["start_time"], moved.json()["end_time"]) == (9.0, 10.5)


def test_without_a_known_duration_times_stay_below_a_sane_maximum(client: Any, fresh_url: str) -> None:
    headers, file_uuid, segment = recording(client, fresh_url, duration=None)
    path = f"/api/files/{file_uuid}/transcript/segments/{segment}"
    assert client.put(path, headers=headers, json={"end_time": 7200}).status_code == 200
    too_far = client.put(path, headers=headers, json={"end_time": 1e9})
    assert too_far.status_code == 422 and too_far.json()["field"] == "end_time"


@pytest.mark.parametrize("stored", [1e308, float("inf"), 400_000.0])
def test_subtitles_render_any_stored_time(client: Any, fresh_url: str, stored: float) -> None:
    headers, file_uuid, segment = recording(client, fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE transcript_segments SET end_time = %s WHERE uuid = %s", [stored, segment])
    for form, separator in (("srt", ","), ("vtt", ".")):
        response = client.get(f"/api/files/{file_uuid}/subtitles", headers=headers, params={"format": form})
        assert response.status_code == 200, response.text
        assert f"00:00:00{separator}000 --> 99:59:59{separator}999" in response.text
