"""The speakers page (web/ui/speakers.py) and the speaker cards of the file page (web/ui/media.py), through the app
with a signed-in browser session, no browser: forms that work without a script.
"""

from __future__ import annotations

import html
from typing import Any

import psycopg
import pytest

from repo.rows import Actor
from tests.test_web_speakers import recording, voice
from tests.web import actor_of, sign_up

JAPANESE, ARABIC, EMOJI = "山田 太郎", "فاطمة", "Zoë 🎧"


@pytest.fixture
def signed_in(client: Any, fresh_url: str) -> tuple[str, Actor]:
    token = sign_up(client)
    return token, actor_of(client, fresh_url, {})


def card(page: str, speaker: str) -> str:
    """The file page's card of one speaker: from its start to the next card (or the end of the speakers)."""
    start = page.index(f'id="speaker-{speaker}"')
    ends = [i for i in (page.find(" speaker-card", start), page.find('<section id="tags"', start)) if i > 0]
    return html.unescape(page[start : min(ends)])


def profiles_api(client: Any, token: str) -> list[dict[str, Any]]:
    response = client.get("/api/speaker-profiles", headers={"X-CSRF-Token": token})
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


def test_the_card_says_the_name_and_naming_can_remember_the_voice(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    rec = recording(fresh_url, owner, "monday.wav")
    voice(fresh_url, rec.ann, [1.0, 0.0, 0.0, 0.0])
    page = client.get(f"/files/{rec.file_uuid}").text
    assert "Remember this voice" in card(page, rec.ann)
    # Bob was never diarized: no voice, and his card says so instead of offering to remember it
    bob_card = card(page, rec.bob)
    assert "Remember this voice" not in bob_card and "cannot be remembered or recognised" in bob_card
    assert 'href="/speakers"' in page  # the nav

    action = f"/files/{rec.file_uuid}/speakers/{rec.ann}"
    named = client.post(action, data={"csrf": token, "display_name": JAPANESE, "remember": "1"}, follow_redirects=False)
    assert named.status_code == 303 and named.headers["location"] == f"/files/{rec.file_uuid}#speakers"
    page = client.get(f"/files/{rec.file_uuid}").text
    ann_card = card(page, rec.ann)
    # the card is called what the transcript calls her (not SPEAKER_00 any more), and links to her profile
    assert f'<span data-role="speaker-title">{JAPANESE}</span> <span class="hint">SPEAKER_00</span>' in ann_card
    [profile] = profiles_api(client, token)
    assert (profile["name"], profile["speaker_count"]) == (JAPANESE, 1)
    assert f'Profile: <a href="/speakers#profile-{profile["uuid"]}">{JAPANESE}</a>' in ann_card
    assert "Remember this voice" not in ann_card  # already remembered
    names = [s["speaker_name"] for s in client.get(f"/api/files/{rec.file_uuid}/transcript").json()]
    assert names == [JAPANESE, "SPEAKER_01", JAPANESE]

    # remembering without a name is a sentence naming the field, and the rename it came with is not kept
    refused = client.post(
        f"/files/{rec.file_uuid}/speakers/{rec.bob}", data={"csrf": token, "display_name": "", "remember": "1"}
    )
    assert refused.status_code == 422 and "Name: give the speaker a name to remember the voice by." in refused.text
    long_name = client.post(action, data={"csrf": token, "display_name": "x" * 201, "remember": "1"})
    assert long_name.status_code == 422
    assert [p["name"] for p in profiles_api(client, token)] == [JAPANESE]


def test_link_and_unlink_a_speaker_and_answer_a_suggestion_in_place(
    client: Any, fresh_url: str, signed_in: Any
) -> None:
    token, owner = signed_in
    monday, tuesday = recording(fresh_url, owner, "monday.wav"), recording(fresh_url, owner, "tuesday.wav")
    voice(fresh_url, monday.ann, [1.0, 0.0, 0.0, 0.0])
    client.post(f"/files/{monday.file_uuid}/speakers/{monday.ann}", data={"csrf": token, "display_name": ARABIC})
    created = client.post("/speakers/new", data={"csrf": token, "name": ARABIC}, follow_redirects=False)
    assert created.status_code == 303
    [profile] = profiles_api(client, token)
    assert created.headers["location"] == f"/speakers#profile-{profile['uuid']}"

    # link Monday's Ann by hand: the profile learns her voice
    page = client.get(f"/files/{monday.file_uuid}").text
    assert f'<option value="{profile["uuid"]}">{ARABIC}</option>' in card(page, monday.ann)
    link = f"/files/{monday.file_uuid}/speakers/{monday.ann}/profile"
    chosen = {"csrf": token, "action": "link", "profile": profile["uuid"]}
    linked = client.post(link, data=chosen, follow_redirects=False)
    assert linked.status_code == 303
    # Tuesday's Ann sounds like her (70 %): offered where Tuesday's Ann is, with the similarity
    voice(fresh_url, tuesday.ann, [0.7, 0.0, 0.71414284, 0.0])
    ann_card = card(client.get(f"/files/{tuesday.file_uuid}").text, tuesday.ann)
    assert f"Sounds like <strong>{ARABIC}</strong> (70 % similar)" in ann_card
    answer = f"/files/{tuesday.file_uuid}/speakers/{tuesday.ann}/suggestions/{profile['uuid']}"
    assert f'action="{answer}"' in ann_card
    client.post(answer, data={"csrf": token, "action": "reject"})
    ann_card = card(client.get(f"/files/{tuesday.file_uuid}").text, tuesday.ann)
    assert "Sounds like" not in ann_card
    voice(fresh_url, tuesday.ann, [0.7, 0.0, 0.71414284, 0.0])  # processed again: still rejected
    assert "Sounds like" not in card(client.get(f"/files/{tuesday.file_uuid}").text, tuesday.ann)

    # unlink Monday's Ann: the profile no longer counts her
    unlinked = client.post(link, data={"csrf": token, "action": "unlink"}, follow_redirects=False)
    assert unlinked.status_code == 303
    assert profiles_api(client, token)[0]["speaker_count"] == 0
    # a speaker of another file, or a profile that is not in the list, is a sentence
    wrong = f"/files/{tuesday.file_uuid}/speakers/{monday.ann}/profile"
    refused = client.post(wrong, data={"csrf": token, "action": "link", "profile": profile["uuid"]})
    assert refused.status_code == 422 and "That speaker belongs to another file." in refused.text
    bad = client.post(link, data={"csrf": token, "action": "link", "profile": "nobody"})
    assert bad.status_code == 422 and "Profile: choose one from the list." in bad.text


def test_the_speakers_page_lists_plays_renames_merges_and_deletes(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    assert "No speaker profiles yet." in client.get("/speakers").text
    monday, tuesday = recording(fresh_url, owner, "monday.wav"), recording(fresh_url, owner, "tuesday.wav")
    voice(fresh_url, monday.ann, [1.0, 0.0, 0.0, 0.0])
    voice(fresh_url, tuesday.bob, [0.0, 1.0, 0.0, 0.0])
    for rec, speaker, name in ((monday, monday.ann, JAPANESE), (tuesday, tuesday.bob, EMOJI)):
        client.post(
            f"/files/{rec.file_uuid}/speakers/{speaker}", data={"csrf": token, "display_name": name, "remember": "1"}
        )
    client.post("/speakers/new", data={"csrf": token, "name": ARABIC})
    by_name = {p["name"]: p["uuid"] for p in profiles_api(client, token)}

    page = html.unescape(client.get("/speakers").text)
    assert 'aria-current="page">Speakers</a>' in page
    japanese = page[page.index(f'id="profile-{by_name[JAPANESE]}"') :]
    # heard in one file, 1.8 s of talk, and a sample: her longest segment (1.0-1.9 s) of Monday's recording
    assert "Heard in <a" in japanese and "1 file</a>" in japanese[:400] and "0:01 talk time" in japanese[:600]
    assert f'src="/api/files/{monday.file_uuid}/content#t=0.0,0.9"' in japanese[:1200]
    arabic = page[page.index(f'id="profile-{by_name[ARABIC]}"') :]
    assert "Not heard in any file yet" in arabic[:400] and "No voice sample yet" in arabic[:1000]

    renamed = client.post(
        f"/speakers/{by_name[EMOJI]}/edit", data={"csrf": token, "name": f"{EMOJI} ✓"}, follow_redirects=False
    )
    assert renamed.status_code == 303 and renamed.headers["location"] == f"/speakers#profile-{by_name[EMOJI]}"
    assert '<option value="" selected>choose a profile…</option>' in client.get("/speakers").text  # never preset
    unchosen = client.post(f"/speakers/{by_name[JAPANESE]}/merge", data={"csrf": token, "source": ""})
    assert unchosen.status_code == 422 and "Profile to merge: choose one from the list." in unchosen.text
    merged = client.post(f"/speakers/{by_name[JAPANESE]}/merge", data={"csrf": token, "source": by_name[EMOJI]})
    assert merged.status_code == 200
    [kept] = [p for p in profiles_api(client, token) if p["uuid"] == by_name[JAPANESE]]
    assert (kept["speaker_count"], kept["file_count"]) == (2, 2)
    assert f"{EMOJI} ✓" not in html.unescape(client.get("/speakers").text)
    itself = client.post(f"/speakers/{by_name[JAPANESE]}/merge", data={"csrf": token, "source": by_name[JAPANESE]})
    assert itself.status_code == 422 and "A speaker profile cannot be merged into itself." in itself.text
    taken = client.post(f"/speakers/{by_name[ARABIC]}/edit", data={"csrf": token, "name": JAPANESE})
    assert taken.status_code == 409 and "A speaker profile with this name already exists." in taken.text
    blank = client.post("/speakers/new", data={"csrf": token, "name": "  "})
    assert blank.status_code == 422 and "Name: please fill this in." in blank.text

    deleted = client.post(f"/speakers/{by_name[JAPANESE]}/delete", data={"csrf": token}, follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/speakers"
    assert [p["name"] for p in profiles_api(client, token)] == [ARABIC]
    with psycopg.connect(fresh_url, autocommit=True) as conn:  # its speakers stay, named, unlinked
        rows = conn.execute("SELECT display_name, profile_id FROM speakers WHERE display_name IS NOT NULL").fetchall()
    assert sorted(rows) == sorted([(JAPANESE, None), (EMOJI, None)])


def test_another_users_profile_pages_are_not_found(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, _ = signed_in
    theirs = client.post("/api/speaker-profiles", headers={"X-CSRF-Token": token}, json={"name": "Ann"}).json()
    client.post("/signout", data={"csrf": token})
    other = sign_up(client, email="other@example.com")
    mine = client.post("/api/speaker-profiles", headers={"X-CSRF-Token": other}, json={"name": "Mine"}).json()
    for action, data in (("edit", {"name": "Mine"}), ("delete", {}), ("merge", {"source": mine["uuid"]})):
        response = client.post(f"/speakers/{theirs['uuid']}/{action}", data={"csrf": other, **data})
        assert response.status_code == 404, (action, response.text)
    assert "Ann" not in client.get("/speakers").text
    # nor can their profile be merged into one of mine
    taken = client.post(f"/speakers/{mine['uuid']}/merge", data={"csrf": other, "source": theirs["uuid"]})
    assert taken.status_code == 404 and "no such speaker profile of yours." in taken.text
