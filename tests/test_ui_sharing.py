"""Sharing on the pages (web/ui/sharing.py, the file page's controls, the library's "shared with me", the collection
page, notifications) through the app with signed-in browser sessions, no browser: the owner shares, changes a role
and revokes with forms that work without a script; each role sees the controls it may use and no others; bad input
is a sentence that changes nothing; names in any script round-trip.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg

from tests.sharing_pages import ARABIC, EMOJI, JAPANESE, Person, become, join, section, text, transcribed

EDIT_CONTROLS = (
    'class="edit"',  # a segment's edit form
    '/tags" class="inline"',  # add a tag
    'class="inline rename"',  # rename a speaker
    'id="rerun-form"',
    'data-action="summarise"',
)
VOICE = "鈴木 مريم 🎙"  # a speaker profile's name
OWNER_CONTROLS = ('data-action="delete"', 'id="share-form"')


def share_uuid(page: str, name: str) -> str:
    """The share of `name` in the file page's access list."""
    found = re.search(r'data-share="([0-9a-f-]{36})" data-grantee="\w+">\s*<strong>' + re.escape(name), page)
    assert found, f"{name} has no share on this page"
    return found.group(1)


def access_list(page: str) -> str:
    return section(page, "access")


def sees(page: str) -> dict[str, bool]:
    """Which kinds of control a file page offers."""
    return {
        "edit": any(control in page for control in EDIT_CONTROLS),
        "comment": 'id="comment-form"' in page,
        "own": any(control in page for control in OWNER_CONTROLS),
    }


def people(client: Any, fresh_url: str) -> tuple[Person, Person, Person]:
    ann = join(client, fresh_url, JAPANESE, "ann@example.com")
    bea = join(client, fresh_url, ARABIC, "bea@example.com")
    cat = join(client, fresh_url, EMOJI, "cat@example.com")
    return ann, bea, cat


def test_the_owner_shares_changes_the_role_and_revokes_and_each_role_sees_its_controls(
    client: Any, fresh_url: str
) -> None:
    ann, bea, _ = people(client, fresh_url)
    file_uuid, _ = transcribed(fresh_url, ann.actor, f"{EMOJI} interview")
    token = become(client, ann)
    page = client.get(f"/files/{file_uuid}").text
    assert sees(page) == {"edit": True, "comment": True, "own": True}
    assert "Only you have access." in page

    shared = client.post(
        f"/files/{file_uuid}/shares",
        data={"csrf": token, "email": bea.email, "role": "viewer"},
        follow_redirects=False,
    )
    assert shared.status_code == 303 and shared.headers["location"] == f"/files/{file_uuid}#share"
    page = text(client.get(f"/files/{file_uuid}"))
    listed = access_list(page)
    assert f'<strong>{JAPANESE}</strong> <span class="badge">owner</span>' in listed
    assert ARABIC in listed and bea.email in listed and '<option value="viewer" selected>' in listed
    share = share_uuid(page, ARABIC)

    # Bea, a viewer: reads, plays and exports; no edit controls, no comment form, nothing of the owner's
    become(client, bea)
    page = text(client.get(f"/files/{file_uuid}"))
    assert sees(page) == {"edit": False, "comment": False, "own": False}
    assert f"Shared with you by <strong>{JAPANESE}</strong> as <strong>viewer</strong>" in page
    assert "Hello there" in page and f"/api/files/{file_uuid}/export" in page
    assert ann.email not in page  # the owner's email is not shown to the people the file is shared with

    for role, expected in (
        ("commenter", {"edit": False, "comment": True, "own": False}),
        ("editor", {"edit": True, "comment": True, "own": False}),
    ):
        token = become(client, ann)
        changed = client.post(
            f"/files/{file_uuid}/shares/{share}",
            data={"csrf": token, "action": "role", "role": role},
            follow_redirects=False,
        )
        assert changed.status_code == 303
        become(client, bea)
        page = text(client.get(f"/files/{file_uuid}"))
        assert sees(page) == expected, role
        assert f"as <strong>{role}</strong>" in page

    # the editor edits a segment (the no-script form) and cannot share further
    token = csrf_of(client, file_uuid)
    segment = re.search(r'action="/files/[0-9a-f-]{36}/segments/([0-9a-f-]{36})"', page)
    assert segment
    edited = client.post(
        f"/files/{file_uuid}/segments/{segment.group(1)}",
        data={"csrf": token, "text": f"{ARABIC} was here"},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    assert f"{ARABIC} was here" in text(client.get(f"/files/{file_uuid}"))
    reshared = client.post(
        f"/files/{file_uuid}/shares", data={"csrf": token, "email": "cat@example.com", "role": "viewer"}
    )
    assert reshared.status_code == 403

    token = become(client, ann)
    revoked = client.post(
        f"/files/{file_uuid}/shares/{share}", data={"csrf": token, "action": "revoke"}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert "Only you have access." in client.get(f"/files/{file_uuid}").text
    again = client.post(f"/files/{file_uuid}/shares/{share}", data={"csrf": token, "action": "revoke"})
    assert again.status_code == 404 and "<h1>Not found</h1>" in again.text
    become(client, bea)
    assert client.get(f"/files/{file_uuid}").status_code == 404


def csrf_of(client: Any, file_uuid: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(f"/files/{file_uuid}").text)
    assert found
    return found.group(1)


def shares_of(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM shares").fetchone()
    assert row is not None
    return int(row[0])


def test_bad_input_is_a_sentence_and_nothing_is_shared(client: Any, fresh_url: str) -> None:
    ann, bea, cat = people(client, fresh_url)
    file_uuid, _ = transcribed(fresh_url, ann.actor, "Talk")
    token = become(client, ann)
    group = client.post("/groups/new", data={"csrf": token, "name": "Desk"}).url.path.rsplit("/", 1)[1]
    url = f"/files/{file_uuid}/shares"
    for fields, status, words in (
        ({"email": "", "role": "viewer"}, 422, "Email: give the email of a person, or choose one of your groups."),
        ({"email": bea.email, "group": group, "role": "viewer"}, 422, "share with a person or with a group"),
        ({"email": "", "group": "not-a-group", "role": "viewer"}, 422, "Group: choose one from the list."),
        ({"email": bea.email, "role": "owner"}, 422, "role"),
        ({"email": bea.email, "role": ""}, 422, "Role: please fill this in."),
    ):
        refused = client.post(url, data={"csrf": token, **fields})
        assert refused.status_code == status and words in text(refused), (fields, refused.status_code)
    for fields in ({"email": "nobody@example.com", "role": "viewer"}, {"email": ann.email, "role": "viewer"}):
        refused = client.post(url, data={"csrf": token, **fields})
        assert 400 <= refused.status_code < 500 and "<h1>" in refused.text, (fields, refused.status_code)
    assert client.post(url, data={"email": bea.email, "role": "viewer"}).status_code == 403  # no csrf field
    assert shares_of(fresh_url) == 0
    assert "Only you have access." in client.get(f"/files/{file_uuid}").text

    # someone else's file: not found, whatever the form says
    token = become(client, cat)
    stranger = client.post(url, data={"csrf": token, "email": cat.email, "role": "editor"})
    assert stranger.status_code == 404
    assert shares_of(fresh_url) == 0


def test_a_group_share_shows_under_shared_with_me_with_the_owners_name_and_notifies(
    client: Any, fresh_url: str
) -> None:
    ann, bea, cat = people(client, fresh_url)
    file_uuid, _ = transcribed(fresh_url, ann.actor, f"{JAPANESE} 会議")
    own_uuid, _ = transcribed(fresh_url, bea.actor, "Bea's own")
    token = become(client, ann)
    group = client.post("/groups/new", data={"csrf": token, "name": f"{ARABIC} desk"}).url.path.rsplit("/", 1)[1]
    client.post(f"/groups/{group}/members", data={"csrf": token, "email": bea.email, "role": "member"})
    page = text(client.get(f"/files/{file_uuid}"))
    assert f'<option value="{group}">{ARABIC} desk</option>' in section(page, "share-form")
    shared = client.post(
        f"/files/{file_uuid}/shares", data={"csrf": token, "group": group, "role": "editor"}, follow_redirects=False
    )
    assert shared.status_code == 303
    listed = access_list(text(client.get(f"/files/{file_uuid}")))
    assert f'<strong>{ARABIC} desk</strong> <span class="hint">(group)</span>' in listed

    become(client, bea)
    notes = text(client.get("/notifications"))
    assert 'data-kind="shared"' in notes and f'href="/files/{file_uuid}"' in notes
    assert JAPANESE in notes

    everything = text(client.get("/"))
    assert f"{JAPANESE} 会議" in everything and "Bea's own" in everything
    mine = text(client.get("/?shared=mine"))
    assert "Bea's own" in mine and f"{JAPANESE} 会議" not in mine
    with_me = text(client.get("/?shared=me"))
    assert f"{JAPANESE} 会議" in with_me and "Bea's own" not in with_me
    assert f"Shared by {JAPANESE} · editor" in with_me
    assert '<a href="/?shared=me" aria-current="page">Shared with me</a>' in with_me
    assert own_uuid

    # Cat is in no group and has no share: neither the file nor the library row reaches her
    become(client, cat)
    assert client.get(f"/files/{file_uuid}").status_code == 404
    assert "Nothing is shared with you yet." in text(client.get("/?shared=me"))


def test_a_collection_share_reaches_its_files_and_shows_as_inherited(client: Any, fresh_url: str) -> None:
    ann, bea, _ = people(client, fresh_url)
    file_uuid, _ = transcribed(fresh_url, ann.actor, "Episode 1")
    token = become(client, ann)
    client.post("/collections/new", data={"csrf": token, "name": f"{EMOJI} season"})
    collection = re.search(r'href="/collections/([0-9a-f-]{36})#share"', client.get("/collections").text)
    assert collection
    collection_uuid = collection.group(1)
    client.post(f"/files/{file_uuid}/collections", data={"csrf": token, "collection": collection_uuid})
    page = text(client.get(f"/collections/{collection_uuid}"))
    assert f"<h1>{EMOJI} season</h1>" in page and "Only you have access." in page
    shared = client.post(
        f"/collections/{collection_uuid}/shares",
        data={"csrf": token, "email": bea.email, "role": "commenter"},
        follow_redirects=False,
    )
    assert shared.status_code == 303 and shared.headers["location"] == f"/collections/{collection_uuid}#share"
    assert ARABIC in access_list(text(client.get(f"/collections/{collection_uuid}")))
    # the file's page lists the grant as inherited: changed on the collection's page, not here
    listed = access_list(text(client.get(f"/files/{file_uuid}")))
    assert f'through the collection <a href="/collections/{collection_uuid}">{EMOJI} season</a>' in listed
    assert "Revoke" not in listed

    become(client, bea)
    page = text(client.get(f"/files/{file_uuid}"))
    assert sees(page) == {"edit": False, "comment": True, "own": False}
    assert f"Shared with you by <strong>{JAPANESE}</strong> as <strong>commenter</strong>" in page
    collection_page = text(client.get(f"/collections/{collection_uuid}"))
    assert "as <strong>commenter</strong>" in collection_page and 'id="share-form"' not in collection_page
    # her collections list shows it, as shared with her: nothing to rename or delete there, nor to add files to
    listed = text(client.get("/collections"))
    assert f"{EMOJI} season" in listed and "Shared with you" in listed
    assert f'action="/collections/{collection_uuid}/edit"' not in listed
    own = client.post("/collections/new", data={"csrf": csrf_of(client, file_uuid), "name": "Bea's"})
    assert own.status_code == 200
    library = text(client.get("/"))
    bulk = library[library.index('id="bulk-collection"') :]
    assert "Bea's" in bulk[: bulk.index("</select>")] and f"{EMOJI} season" not in bulk[: bulk.index("</select>")]


def test_a_speaker_profile_shared_with_a_group_is_listed_to_use_not_to_change(client: Any, fresh_url: str) -> None:
    ann, bea, _ = people(client, fresh_url)
    token = become(client, ann)
    group = client.post("/groups/new", data={"csrf": token, "name": "Desk"}).url.path.rsplit("/", 1)[1]
    client.post(f"/groups/{group}/members", data={"csrf": token, "email": bea.email, "role": "member"})
    created = client.post("/speakers/new", data={"csrf": token, "name": VOICE}, follow_redirects=False)
    profile = created.headers["location"].rsplit("#profile-", 1)[1]
    shared = client.post(f"/speakers/{profile}/shares", data={"csrf": token, "group": group, "role": "viewer"})
    assert shared.status_code == 200 and shared.url.fragment == f"profile-{profile}"
    card = profile_card(client, profile)
    assert "Shared with <strong>Desk</strong>" in card and f'action="/speakers/{profile}/edit"' in card
    share = re.search(r'data-share="([0-9a-f-]{36})"', card)
    assert share

    become(client, bea)
    card = profile_card(client, profile)
    assert f'<h2 data-role="profile-name">{VOICE}</h2>' in card and "Shared with you" in card
    assert "/edit" not in card and "/delete" not in card and "/shares" not in card
    refused = client.post(f"/speakers/{profile}/edit", data={"csrf": csrf_of_page(client), "name": "Mine now"})
    assert refused.status_code in (403, 404)

    token = become(client, ann)
    revoked = client.post(f"/speakers/{profile}/shares/{share.group(1)}", data={"csrf": token, "action": "revoke"})
    assert revoked.status_code == 200 and "Shared with <strong>Desk</strong>" not in text(revoked)
    become(client, bea)
    assert VOICE not in text(client.get("/speakers"))


def profile_card(client: Any, profile: str) -> str:
    """One profile's card on the speakers page: from its start to the next card (or the new-profile form)."""
    page = text(client.get("/speakers"))
    start = page.index(f'id="profile-{profile}"')
    ends = [i for i in (page.find('class="panel profile"', start), page.find('action="/speakers/new"', start)) if i > 0]
    return page[start : min(ends)]


def csrf_of_page(client: Any, path: str = "/speakers") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)
