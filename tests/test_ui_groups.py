"""The groups pages (web/ui/groups.py) through the app with signed-in browser sessions, no browser: the forms work
without a script, owners see the controls and members do not, bad input is a sentence that changes nothing, and
names in any script round-trip.
"""

from __future__ import annotations

import re
from typing import Any

from tests.sharing_pages import ARABIC, EMOJI, JAPANESE, become, join, section, text


def group_uuid(location: str) -> str:
    found = re.fullmatch(r"/groups/([0-9a-f-]{36})", location)
    assert found, location
    return found.group(1)


def members(page: str) -> dict[str, str]:
    """The members table: email → role."""
    table = section(page, "members")
    rows = re.findall(r"<td>([^<]+@[^<]+)</td>\s*<td data-role=\"member-role\">(\w+)</td>", table)
    return dict(rows)


def test_create_add_change_remove_rename_and_delete_a_group(client: Any, fresh_url: str) -> None:
    bea = join(client, fresh_url, ARABIC, "bea@example.com")
    ann = join(client, fresh_url, JAPANESE, "ann@example.com")
    token = become(client, ann)
    assert "You are in no group yet." in client.get("/groups").text
    assert 'href="/groups"' in client.get("/").text  # in the navigation

    created = client.post("/groups/new", data={"csrf": token, "name": f"  {EMOJI} team  "}, follow_redirects=False)
    assert created.status_code == 303
    group = group_uuid(created.headers["location"])
    page = client.get(f"/groups/{group}")
    assert page.status_code == 200
    assert f"<h1>{EMOJI} team</h1>" in text(page)
    assert members(page.text) == {"ann@example.com": "owner"}
    assert 'id="leave-group"' not in page.text and "You are its only owner" in page.text
    refused = client.post(f"/groups/{group}/leave", data={"csrf": token})  # the form is not shown: still refused
    assert refused.status_code == 409 and "A group needs at least one owner" in text(refused)
    listed = text(client.get("/groups"))
    assert f'<a href="/groups/{group}">{EMOJI} team</a>' in listed and "1 member · you are an owner" in listed

    added = client.post(
        f"/groups/{group}/members",
        data={"csrf": token, "email": "BEA@example.com", "role": "member"},
        follow_redirects=False,
    )
    assert added.status_code == 303 and added.headers["location"] == f"/groups/{group}#members"
    page = client.get(f"/groups/{group}")
    assert members(page.text) == {"ann@example.com": "owner", "bea@example.com": "member"}
    assert f'<th scope="row">{ARABIC}</th>' in text(page)

    bea_uuid = re.search(r'data-member="([0-9a-f-]{36})">\s*<th scope="row">' + ARABIC, text(page))
    assert bea_uuid
    change = f"/groups/{group}/members/{bea_uuid.group(1)}"
    promoted = client.post(change, data={"csrf": token, "action": "role", "role": "owner"}, follow_redirects=False)
    assert promoted.status_code == 303
    assert members(client.get(f"/groups/{group}").text)["bea@example.com"] == "owner"
    client.post(change, data={"csrf": token, "action": "role", "role": "member"})
    removed = client.post(change, data={"csrf": token, "action": "remove"}, follow_redirects=False)
    assert removed.status_code == 303
    assert members(client.get(f"/groups/{group}").text) == {"ann@example.com": "owner"}

    renamed = client.post(
        f"/groups/{group}/edit", data={"csrf": token, "name": JAPANESE, "description": ARABIC}, follow_redirects=False
    )
    assert renamed.status_code == 303
    page = text(client.get(f"/groups/{group}"))
    assert f"<h1>{JAPANESE}</h1>" in page and f"<p>{ARABIC}</p>" in page

    deleted = client.post(f"/groups/{group}/delete", data={"csrf": token}, follow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/groups"
    assert client.get(f"/groups/{group}").status_code == 404
    assert "You are in no group yet." in client.get("/groups").text
    assert bea.email  # Bea was never shown the group after her removal: see the next test for a member's view


def test_bad_input_is_a_sentence_and_changes_nothing(client: Any, fresh_url: str) -> None:
    join(client, fresh_url, ARABIC, "bea@example.com")
    ann = join(client, fresh_url, JAPANESE, "ann@example.com")
    token = become(client, ann)
    empty = client.post("/groups/new", data={"csrf": token, "name": "   "})
    assert empty.status_code == 422 and "Name: please fill this in." in text(empty)
    too_long = client.post("/groups/new", data={"csrf": token, "name": "x" * 201})
    assert too_long.status_code == 422
    assert "You are in no group yet." in client.get("/groups").text

    group = group_uuid(client.post("/groups/new", data={"csrf": token, "name": "Desk"}).url.path)
    add = f"/groups/{group}/members"
    nobody = client.post(add, data={"csrf": token, "email": "nobody@example.com", "role": "member"})
    assert nobody.status_code == 422
    assert "Email: nobody has an account with this address; they can register first, then be added." in text(nobody)
    no_email = client.post(add, data={"csrf": token, "email": "", "role": "member"})
    assert no_email.status_code == 422 and "Email: please fill this in." in text(no_email)
    bad_role = client.post(add, data={"csrf": token, "email": "bea@example.com", "role": "boss"})
    assert bad_role.status_code == 422 and "Role is owner or member." in text(bad_role)
    no_csrf = client.post(add, data={"email": "bea@example.com", "role": "member"})
    assert no_csrf.status_code == 403
    assert members(client.get(f"/groups/{group}").text) == {"ann@example.com": "owner"}
    # not a group at all: the page says so
    assert client.get("/groups/not-a-uuid").status_code == 404


def test_a_member_sees_no_owner_controls_can_leave_and_a_stranger_sees_nothing(client: Any, fresh_url: str) -> None:
    bea = join(client, fresh_url, ARABIC, "bea@example.com")
    cat = join(client, fresh_url, EMOJI, "cat@example.com")
    ann = join(client, fresh_url, JAPANESE, "ann@example.com")
    token = become(client, ann)
    group = group_uuid(client.post("/groups/new", data={"csrf": token, "name": "Desk"}).url.path)
    client.post(f"/groups/{group}/members", data={"csrf": token, "email": bea.email, "role": "member"})

    token = become(client, bea)
    listed = text(client.get("/groups"))
    assert f'<a href="/groups/{group}">Desk</a>' in listed and "2 members · you are a member" in listed
    page = client.get(f"/groups/{group}")
    assert members(page.text) == {"ann@example.com": "owner", "bea@example.com": "member"}
    for control in ('id="add-member"', 'id="rename-group"', 'id="delete-group"', 'name="action" value="remove"'):
        assert control not in page.text, control
    assert 'id="leave-group"' in page.text
    # the controls are left out, and the forms refuse a member too (nothing changes)
    refused = client.post(f"/groups/{group}/edit", data={"csrf": token, "name": "Mine now"})
    assert refused.status_code == 403
    adding = client.post(f"/groups/{group}/members", data={"csrf": token, "email": cat.email, "role": "member"})
    assert adding.status_code == 403
    left = client.post(f"/groups/{group}/leave", data={"csrf": token}, follow_redirects=False)
    assert left.status_code == 303 and left.headers["location"] == "/groups"
    assert client.get(f"/groups/{group}").status_code == 404

    become(client, cat)
    assert client.get(f"/groups/{group}").status_code == 404
    assert "Desk" not in client.get("/groups").text
