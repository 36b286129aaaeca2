"""The file page and its forms (web/ui/media.py), through the app with a signed-in browser session, no browser.

What the browser journey does not click: timed words, stale words after a correction, merges, suggestions, tags,
comments at a time, collections, and the no-script segment edit.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from uuid import UUID

import psycopg
import pytest

from repo.rows import Actor
from repo.segments import SegmentRepository
from tests import factories
from tests.web import actor_of, sign_up
from transcript.segments import Segment, Word


@pytest.fixture
def signed_in(client: Any, fresh_url: str) -> tuple[str, Actor]:
    token = sign_up(client)
    return token, actor_of(client, fresh_url, {})


def transcribed_file(conninfo: str, owner: Actor) -> str:
    words = (Word("Hello", 0.1, 0.4), Word("there", 0.6, 0.9))
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", duration=4.0)
        SegmentRepository(conn).replace_transcript(
            file_id,
            [
                Segment(0.0, 1.0, "Hello there", "SPEAKER_00", words),
                Segment(1.0, 4.0, "General Kenobi", "SPEAKER_01"),
            ],
        )
    return str(file_uuid)


def ids(html: str, pattern: str) -> list[str]:
    return re.findall(pattern, html)


def test_timed_words_seek_until_the_text_is_corrected(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    file_uuid = transcribed_file(fresh_url, owner)
    page = client.get(f"/files/{file_uuid}").text
    assert '<span class="word" data-seek="0.1">Hello</span> <span class="word" data-seek="0.6">there</span>' in page
    segment = client.get(f"/api/files/{file_uuid}/transcript").json()[0]["uuid"]
    edited = client.post(
        f"/files/{file_uuid}/segments/{segment}", data={"csrf": token, "text": "Hello you"}, follow_redirects=False
    )
    assert edited.status_code == 303 and edited.headers["location"] == f"/files/{file_uuid}#seg-{segment}"
    page = client.get(f"/files/{file_uuid}").text
    assert 'class="word"' not in page and ">Hello you</p>" in page


def test_rename_merge_and_suggestions(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    file_uuid = transcribed_file(fresh_url, owner)
    speakers = {s["label"]: s["uuid"] for s in client.get(f"/api/files/{file_uuid}/speakers").json()}
    first, second = speakers["SPEAKER_00"], speakers["SPEAKER_01"]
    renamed = client.post(f"/files/{file_uuid}/speakers/{first}", data={"csrf": token, "display_name": "Obi-Wan"})
    assert renamed.status_code == 200 and 'value="Obi-Wan"' in renamed.text
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE speakers SET suggested_name = 'Grievous', confidence = 0.9 WHERE uuid = %s", [second])
    page = client.get(f"/files/{file_uuid}").text
    assert "Suggested: <strong>Grievous</strong> (90 %)" in page
    client.post(f"/files/{file_uuid}/speakers/{second}", data={"csrf": token, "action": "accept"})
    names = [s["speaker_name"] for s in client.get(f"/api/files/{file_uuid}/transcript").json()]
    assert names == ["Obi-Wan", "Grievous"]
    assert "Suggested:" not in client.get(f"/files/{file_uuid}").text
    page = client.get(f"/files/{file_uuid}").text  # merging cannot be undone: both lists start on no speaker
    assert page.count('<option value="" selected>choose a speaker…</option>') == 2
    for unchosen in ({"source": "", "target": first}, {"source": second, "target": ""}, {}):
        refused = client.post(f"/files/{file_uuid}/speakers-merge", data={"csrf": token, **unchosen})
        assert refused.status_code == 422 and "choose one from the list." in refused.text, unchosen
    assert len(client.get(f"/api/files/{file_uuid}/speakers").json()) == 2, "nothing merged"
    merged = client.post(f"/files/{file_uuid}/speakers-merge", data={"csrf": token, "source": second, "target": first})
    assert merged.status_code == 200
    names = [s["speaker_name"] for s in client.get(f"/api/files/{file_uuid}/transcript").json()]
    assert names == ["Obi-Wan", "Obi-Wan"]
    # merging a speaker into itself is a sentence, not a 500
    refused = client.post(f"/files/{file_uuid}/speakers-merge", data={"csrf": token, "source": first, "target": first})
    assert refused.status_code == 422 and "A speaker cannot be merged into itself." in refused.text


def test_tags_comments_and_collections(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    file_uuid = transcribed_file(fresh_url, owner)
    client.post(f"/files/{file_uuid}/tags", data={"csrf": token, "name": "meetings"})
    client.post(f"/files/{file_uuid}/comments", data={"csrf": token, "text": "Here", "timestamp": "2.25"})
    empty = client.post(f"/files/{file_uuid}/comments", data={"csrf": token, "text": "  "})
    assert empty.status_code == 422 and "Comment: please fill this in." in empty.text
    client.post("/collections/new", data={"csrf": token, "name": "Star wars"})
    [collection] = client.get("/api/collections").json()
    client.post(f"/files/{file_uuid}/collections", data={"csrf": token, "collection": collection["uuid"]})
    detail = client.get(f"/api/files/{file_uuid}").json()
    assert detail["tags"] == ["meetings"] and [c["name"] for c in detail["collections"]] == ["Star wars"]
    [comment] = client.get(f"/api/files/{file_uuid}/comments").json()
    assert (comment["text"], comment["timestamp"]) == ("Here", 2.25)
    page = client.get(f"/files/{file_uuid}").text
    assert 'data-seek="2.25" aria-label="Play from 0:02"' in page
    client.post(f"/files/{file_uuid}/tags/remove", data={"csrf": token, "name": "meetings"})
    assert client.get(f"/api/files/{file_uuid}").json()["tags"] == []
    library = client.get(f"/?collection={collection['uuid']}").text
    assert f'href="/files/{file_uuid}"' in library


def test_voice_matches_are_offered_and_answered_on_the_page(client: Any, fresh_url: str, signed_in: Any) -> None:
    from tests.test_web_speakers import recording, voice

    token, owner = signed_in
    first, second = recording(fresh_url, owner, "monday.wav"), recording(fresh_url, owner, "tuesday.wav")
    voice(fresh_url, first.ann, [1.0, 0.0, 0.0, 0.0])
    headers = {"X-CSRF-Token": token}
    profile = client.post("/api/speaker-profiles", headers=headers, json={"name": "Ann"}).json()
    client.post(f"/api/speakers/{first.ann}/suggestions/{profile['uuid']}/accept", headers=headers)
    voice(fresh_url, second.ann, [0.7, 0.0, 0.71414284, 0.0])  # cosine 0.7 with Ann: suggested, not assigned
    voice(fresh_url, second.bob, [0.0, 0.0, 1.0, 0.0])
    page = client.get(f"/files/{second.file_uuid}").text
    assert page.count("Sounds like <strong>Ann</strong> (70 % similar)") == 1
    action = f"/files/{second.file_uuid}/speakers/{second.ann}/suggestions/{profile['uuid']}"
    assert f'action="{action}"' in page
    accepted = client.post(action, data={"csrf": token, "action": "accept"}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == f"/files/{second.file_uuid}#speakers"
    linked = client.get(f"/api/files/{second.file_uuid}/speakers").json()
    assert [(s["label"], s["profile_name"], s["verified"]) for s in linked if s["profile_name"]] == [
        ("SPEAKER_00", "Ann", True)
    ]
    assert "Sounds like" not in client.get(f"/files/{second.file_uuid}").text
    # a third recording: Ann's voice has learnt Tuesday's, so the same voice is now linked automatically (92 %)
    # and still offered; rejecting it ends the link for good; a speaker of another file is refused with a sentence
    third = recording(fresh_url, owner, "wednesday.wav")
    voice(fresh_url, third.ann, [0.7, 0.0, 0.71414284, 0.0])
    action = f"/files/{third.file_uuid}/speakers/{third.ann}/suggestions/{profile['uuid']}"
    assert "Recognised as <strong>Ann</strong> (92 % similar)" in client.get(f"/files/{third.file_uuid}").text
    wrong_file = f"/files/{second.file_uuid}/speakers/{third.ann}/suggestions/{profile['uuid']}"
    refused = client.post(wrong_file, data={"csrf": token, "action": "reject"})
    assert refused.status_code == 422 and "That speaker belongs to another file." in refused.text
    client.post(action, data={"csrf": token, "action": "reject"})
    assert "<strong>Ann</strong>" not in client.get(f"/files/{third.file_uuid}").text
    assert client.get(f"/api/speakers/{third.ann}/suggestions").json() == []


def test_analytics_and_the_export_form(client: Any, fresh_url: str, signed_in: Any) -> None:
    _, owner = signed_in
    file_uuid = transcribed_file(fresh_url, owner)
    page = client.get(f"/files/{file_uuid}").text
    rows = re.findall(r'<tr>\s*<th scope="row">([^<]+)</th>\s*<td>.*?</span> ([^<]+)</td>', page, re.S)
    assert rows == [("SPEAKER_01", "0:03 (75 %)"), ("SPEAKER_00", "0:01 (25 %)")]
    form = re.search(r'<form method="get" action="(/api/files/[^"]+/export)"', page)
    assert form is not None and form.group(1) == f"/api/files/{file_uuid}/export"
    assert re.findall(r'<option value="(\w+)">', page.split('id="export-format"')[1].split("</select>")[0]) == [
        "txt",
        "json",
        "csv",
        "srt",
        "vtt",
    ]
    # what the browser sends for "plain text, times ticked, speaker names and comments not"
    sent = client.get(
        f"/api/files/{file_uuid}/export",
        params=[
            ("format", "txt"),
            ("speakers", "false"),
            ("timestamps", "false"),
            ("timestamps", "true"),
            ("comments", "false"),
        ],
    )
    assert sent.status_code == 200 and "attachment" in sent.headers["content-disposition"]
    assert "Hello there" in sent.text and "SPEAKER_00" not in sent.text and "00:00:01" in sent.text


def test_a_video_shows_its_thumbnail_in_the_library_and_as_the_poster(
    client: Any, fresh_url: str, signed_in: Any
) -> None:
    _, owner = signed_in
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _, with_thumb = factories.media_file(
            conn, owner, filename="clip.mp4", content_type="video/mp4", thumbnail_path="x/clip.jpg"
        )
        _, without = factories.media_file(conn, owner, filename="raw.mp4", content_type="video/mp4")
        _, audio = factories.media_file(conn, owner, filename="talk.wav", content_type="audio/wav")
    library = client.get("/").text
    assert re.findall(r'<img class="thumb" src="/api/files/([0-9a-f-]+)/thumbnail"', library) == [str(with_thumb)]
    assert f'poster="/api/files/{with_thumb}/thumbnail"' in client.get(f"/files/{with_thumb}").text
    assert "poster=" not in client.get(f"/files/{without}").text
    assert "<audio" in client.get(f"/files/{audio}").text


def test_the_language_says_whether_it_was_detected_in_the_page_and_the_api(
    client: Any, fresh_url: str, signed_in: Any
) -> None:
    """The engine's detected language (its probability stored with it) reads "German (detected)"; a language given at
    upload or in the settings is shown without the word; a code Whisper does not know is shown as it is."""
    _, owner = signed_in
    cases = [
        ("de", 0.93, "Language: German (detected)", True),
        ("ja", None, "Language: Japanese", False),
        ("tlh", None, "Language: tlh", False),
    ]
    for language, probability, shown, detected in cases:
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            _, file_uuid = factories.media_file(
                conn,
                owner,
                filename="会議の記録 🎙️ Müller.wav",
                status="completed",
                language=language,
                language_probability=probability,
            )
        page = client.get(f"/files/{file_uuid}").text
        assert f'<span data-role="language">{shown}</span>' in page, shown
        detail = client.get(f"/api/files/{file_uuid}").json()
        assert (detail["language"], detail["language_detected"]) == (language, detected)
        assert detail["language_probability"] == (pytest.approx(probability) if probability else None)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _, unknown = factories.media_file(conn, owner, status="processing")
    assert 'data-role="language"' not in client.get(f"/files/{unknown}").text
    detail = client.get(f"/api/files/{unknown}").json()
    assert (detail["language"], detail["language_detected"], detail["language_probability"]) == (None, False, None)


def test_a_stale_segment_form_shows_the_newer_text_and_keeps_the_unsaved_one(
    client: Any, fresh_url: str, signed_in: Any
) -> None:
    token, owner = signed_in
    file_uuid = transcribed_file(fresh_url, owner)
    segment = client.get(f"/api/files/{file_uuid}/transcript").json()[1]["uuid"]
    page = client.get(f"/files/{file_uuid}").text
    version = re.search(rf'segments/{segment}".*?name="version" value="(\d+)"', page, re.S)
    assert version is not None and version.group(1) == "1"
    # Meanwhile someone else (here: the same person elsewhere, over the API's repository) corrects the segment.
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        SegmentRepository(conn).update_segment(owner, UUID(file_uuid), UUID(segment), text="مرحبا بالعالم 🌍")
    stale = client.post(
        f"/files/{file_uuid}/segments/{segment}",
        data={"csrf": token, "text": "こんにちは、世界", "version": version.group(1)},
        follow_redirects=False,
    )
    assert stale.status_code == 412 and "text/html" in stale.headers["content-type"]
    assert "Someone else changed this segment; here is their version — your text was not saved" in stale.text
    assert '<q data-role="unsaved">こんにちは、世界</q>' in stale.text
    assert ">مرحبا بالعالم 🌍</textarea>" in stale.text  # the edit form now starts from their text
    newer = re.search(rf'segments/{segment}".*?name="version" value="(\d+)"', stale.text, re.S)
    assert newer is not None and newer.group(1) == "2"
    stored = client.get(f"/api/files/{file_uuid}/transcript").json()[1]
    assert (stored["text"], stored["version"]) == ("مرحبا بالعالم 🌍", 2)
    # Redone over the newer text, with the version the page now carries: saved.
    redone = client.post(
        f"/files/{file_uuid}/segments/{segment}",
        data={"csrf": token, "text": "こんにちは 🌍", "version": newer.group(1)},
        follow_redirects=False,
    )
    assert redone.status_code == 303
    assert client.get(f"/api/files/{file_uuid}/transcript").json()[1]["text"] == "こんにちは 🌍"
    assert "your text was not saved" not in client.get(f"/files/{file_uuid}").text


@pytest.mark.parametrize("version", ["", "x", "0", "-1", "99999999999"])
def test_a_segment_form_with_a_malformed_version_saves_nothing(
    client: Any, fresh_url: str, signed_in: Any, version: str
) -> None:
    token, owner = signed_in
    file_uuid = transcribed_file(fresh_url, owner)
    segment = client.get(f"/api/files/{file_uuid}/transcript").json()[0]["uuid"]
    posted = client.post(
        f"/files/{file_uuid}/segments/{segment}", data={"csrf": token, "text": "✓", "version": version}
    )
    assert posted.status_code == 412 and '<q data-role="unsaved">✓</q>' in posted.text
    assert client.get(f"/api/files/{file_uuid}/transcript").json()[0]["text"] == "Hello there"


def test_an_admin_in_the_all_files_view_posts_the_pages_forms_in_that_view(
    client: Any, fresh_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Another person's file page opened with ?view=all: its forms (and the redirect after one) keep the view, so
    an admin's tag and comment land (written on the audit log) instead of answering 404."""
    sign_up(client)
    owner = actor_of(client, fresh_url, {})
    file_uuid = transcribed_file(fresh_url, owner)
    client.cookies.clear()
    csrf = sign_up(client, "管理者-admin@example.com")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE email = %s", ["管理者-admin@example.com"])
    assert client.get(f"/files/{file_uuid}").status_code == 404  # admins see others' files only in the view

    page = client.get(f"/files/{file_uuid}?view=all")

    assert page.status_code == 200
    actions = set(re.findall(r'<form method="post" action="([^"]+)"', page.text))
    assert f"/files/{file_uuid}/tags?view=all" in actions and f"/files/{file_uuid}/comments?view=all" in actions
    of_file = [action for action in actions if action.startswith(f"/files/{file_uuid}/")]
    assert len(of_file) >= 5 and all(action.endswith("?view=all") for action in of_file), of_file
    with caplog.at_level(logging.WARNING, logger="opentr.audit"):
        tagged = client.post(
            f"/files/{file_uuid}/tags?view=all", data={"csrf": csrf, "name": "geprüft ✅"}, follow_redirects=False
        )
        commented = client.post(
            f"/files/{file_uuid}/comments?view=all",
            data={"csrf": csrf, "text": "مراجعة 🔍", "timestamp": ""},
            follow_redirects=False,
        )
    assert tagged.status_code == 303, tagged.text
    assert tagged.headers["location"].startswith(f"/files/{file_uuid}?view=all")
    assert commented.status_code == 303, commented.text
    lines = [r.getMessage() for r in caplog.records if r.name == "opentr.audit"]
    assert any(f"POST /files/{file_uuid}/tags" in line for line in lines), lines
    assert any(f"POST /files/{file_uuid}/comments" in line for line in lines), lines
    shown = client.get(tagged.headers["location"])
    assert shown.status_code == 200 and "geprüft ✅" in shown.text and "مراجعة 🔍" in shown.text
    # the owner's own page is not in the view: no form carries it
    client.cookies.clear()
    sign_up(client)
    mine = transcribed_file(fresh_url, actor_of(client, fresh_url, {}))
    assert "view=all" not in client.get(f"/files/{mine}").text
