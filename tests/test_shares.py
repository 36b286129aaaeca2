from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest

from repo.collections import CollectionRepository
from repo.errors import Conflict, DataError, Forbidden, Invalid, NotFound
from repo.groups import GroupRepository
from repo.notifications import NotificationRepository
from repo.rows import Actor
from repo.shares import Granted, ShareRepository
from repo.speaker_profiles import SpeakerProfileRepository
from tests import factories

Conn = psycopg.Connection[Any]


def person(conn: Conn, name: str) -> tuple[Actor, str]:
    actor = factories.user(conn)
    row = conn.execute("UPDATE users SET full_name = %s WHERE id = %s RETURNING email", [name, actor.id]).fetchone()
    assert row is not None
    return actor, row[0]


def reach(conn: Conn, actor: Actor) -> dict[uuid.UUID, int]:
    """The files shared with `actor` and the rank each gives: the one access rule, shared_files()."""
    rows = conn.execute(
        "SELECT f.uuid, a.rank FROM shared_files(%s) a JOIN media_files f ON f.id = a.media_file_id", [actor.id]
    )
    return {file_uuid: rank for file_uuid, rank in rows}


def shares_table(conn: Conn) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT uuid, role, user_id, group_id FROM shares ORDER BY id").fetchall()


def shared_notes(conn: Conn, actor: Actor) -> list[tuple[str, dict[str, Any]]]:
    return [(n.title, n.data) for n in NotificationRepository(conn).list(actor) if n.kind == "shared"]


def test_share_a_file_with_a_person_then_change_the_role_and_revoke(conn: Conn) -> None:
    aiko, _ = person(conn, "Aiko")
    omar, omar_email = person(conn, "عمر")
    file_id, file_uuid = factories.media_file(conn, aiko, filename="会議.wav")
    shares = ShareRepository(conn)

    granted = shares.grant(aiko, "file", file_uuid, "viewer", user_email=omar_email)
    assert granted.created and granted.share.role == "viewer" and granted.share.user_name == "عمر"
    assert granted.share.shared_by_name == "Aiko" and granted.share.grantee_kind == "user"
    assert reach(conn, omar) == {file_uuid: 1}
    [(title, data)] = shared_notes(conn, omar)
    assert title == "Aiko shared 会議.wav with you"
    assert data == {
        "object_kind": "file",
        "object_uuid": str(file_uuid),
        "role": "viewer",
        "url": f"/files/{file_uuid}",
    }

    again = shares.grant(aiko, "file", file_uuid, "editor", user_email=omar_email)
    assert not again.created and again.share.uuid == granted.share.uuid and again.share.role == "editor"
    assert reach(conn, omar) == {file_uuid: 3}
    assert len(shared_notes(conn, omar)) == 1, "a role change notifies nobody"
    assert [s.role for s in shares.list(aiko, "file", file_uuid)] == ["editor"]

    shares.revoke(aiko, "file", file_uuid, granted.share.uuid)
    assert reach(conn, omar) == {}
    with pytest.raises(NotFound):
        shares.revoke(aiko, "file", file_uuid, granted.share.uuid)
    assert shares.list(aiko, "file", file_uuid) == []
    assert file_id


def test_only_the_owner_shares_lists_and_revokes(conn: Conn) -> None:
    aiko, _ = person(conn, "Aiko")
    omar, omar_email = person(conn, "Omar")
    _, lena_email = person(conn, "Lena")
    stranger, _ = person(conn, "Stranger")
    _, file_uuid = factories.media_file(conn, aiko)
    shares = ShareRepository(conn)
    share = shares.grant(aiko, "file", file_uuid, "editor", user_email=omar_email).share
    before = shares_table(conn)

    with pytest.raises(Forbidden):
        shares.grant(omar, "file", file_uuid, "viewer", user_email=lena_email)
    with pytest.raises(Forbidden):
        shares.list(omar, "file", file_uuid)
    with pytest.raises(Forbidden):
        shares.revoke(omar, "file", file_uuid, share.uuid)
    for attempt in (
        lambda: shares.grant(stranger, "file", file_uuid, "viewer", user_email=lena_email),
        lambda: shares.list(stranger, "file", file_uuid),
        lambda: shares.revoke(stranger, "file", file_uuid, share.uuid),
        lambda: shares.list(aiko, "file", uuid.uuid4()),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert shares_table(conn) == before


def test_bad_grantees_and_roles_change_nothing(conn: Conn) -> None:
    aiko, aiko_email = person(conn, "Aiko")
    omar, omar_email = person(conn, "Omar")
    _, file_uuid = factories.media_file(conn, aiko)
    theirs = GroupRepository(conn).create(omar, "Omar's team")
    shares = ShareRepository(conn)
    cases: list[tuple[type[DataError], str, dict[str, Any]]] = [
        (Conflict, "user_email", {"user_email": "nobody@example.com"}),
        (Invalid, "user_email", {"user_email": aiko_email}),
        (Invalid, "user_email", {"user_email": omar_email, "group_uuid": theirs.uuid}),
        (Invalid, "user_email", {}),
        (Conflict, "group_uuid", {"group_uuid": theirs.uuid}),  # a group Aiko is not in
        (Conflict, "group_uuid", {"group_uuid": uuid.uuid4()}),
    ]
    for error, field, grantee in cases:
        with pytest.raises(error) as refused:
            shares.grant(aiko, "file", file_uuid, "viewer", **grantee)
        assert refused.value.field == field, grantee
    with pytest.raises(Invalid) as role:
        shares.grant(aiko, "file", file_uuid, "owner", user_email=omar_email)
    assert role.value.field == "role"
    profile = SpeakerProfileRepository(conn).create(aiko, "Ansager")
    with pytest.raises(Invalid) as profile_role:
        shares.grant(aiko, "speaker_profile", profile.uuid, "commenter", user_email=omar_email)
    assert profile_role.value.field == "role"
    assert shares_table(conn) == []
    assert shared_notes(conn, omar) == []


def test_a_group_share_reaches_its_members_until_they_leave(conn: Conn) -> None:
    aiko, _ = person(conn, "Aiko 🎧")
    omar, omar_email = person(conn, "Omar")
    lena, lena_email = person(conn, "Lena Größe")
    groups = GroupRepository(conn)
    team = groups.create(aiko, "Équipe")
    groups.put_member(aiko, team.uuid, omar_email, "member")
    groups.put_member(aiko, team.uuid, lena_email, "member")
    _, file_uuid = factories.media_file(conn, aiko, filename="interview.wav", title="Интервью")
    shares = ShareRepository(conn)

    share = shares.grant(aiko, "file", file_uuid, "commenter", group_uuid=team.uuid).share
    assert (share.grantee_kind, share.group_name, share.group_uuid) == ("group", "Équipe", team.uuid)
    for member in (omar, lena):
        assert reach(conn, member) == {file_uuid: 2}
        assert [title for title, _ in shared_notes(conn, member)] == ["Aiko 🎧 shared Интервью with you"]
    assert shared_notes(conn, aiko) == [], "the sharer is not told"
    [mine] = shares.shared_with_me(lena)
    assert (mine.object_kind, mine.object_uuid, mine.role, mine.owner_name) == (
        "file",
        file_uuid,
        "commenter",
        "Aiko 🎧",
    )
    assert (mine.via_group_name, mine.shared_by_name) == ("Équipe", "Aiko 🎧")

    lena_uuid = conn.execute("SELECT uuid FROM users WHERE id = %s", [lena.id]).fetchone()
    assert lena_uuid is not None
    groups.remove_member(aiko, team.uuid, lena_uuid[0])
    assert reach(conn, lena) == {} and shares.shared_with_me(lena) == []
    assert reach(conn, omar) == {file_uuid: 2}
    groups.delete(aiko, team.uuid)
    assert reach(conn, omar) == {}


def test_a_muted_kind_is_not_sent(conn: Conn) -> None:
    aiko, _ = person(conn, "Aiko")
    omar, omar_email = person(conn, "Omar")
    NotificationRepository(conn).set_preference(omar, "shared", False)
    _, file_uuid = factories.media_file(conn, aiko)
    assert ShareRepository(conn).grant(aiko, "file", file_uuid, "viewer", user_email=omar_email).created
    assert shared_notes(conn, omar) == []
    assert reach(conn, omar) == {file_uuid: 1}


def test_a_file_lists_the_shares_it_inherits_from_its_collections(conn: Conn) -> None:
    aiko, _ = person(conn, "Aiko")
    omar, omar_email = person(conn, "Omar")
    _, file_uuid = factories.media_file(conn, aiko, filename="a.wav")
    collections = CollectionRepository(conn)
    talks = collections.create(aiko, "Vorträge")
    collections.add_files(aiko, talks.uuid, [file_uuid])
    shares = ShareRepository(conn)

    via = shares.grant(aiko, "collection", talks.uuid, "viewer", user_email=omar_email)
    [(title, data)] = shared_notes(conn, omar)
    assert title == "Aiko shared Vorträge with you" and data["url"] == f"/?collection={talks.uuid}"
    assert reach(conn, omar) == {file_uuid: 1}
    direct = shares.grant(aiko, "file", file_uuid, "editor", user_email=omar_email)
    listed = shares.list(aiko, "file", file_uuid)
    assert [(s.uuid, s.via_collection_name) for s in listed] == [
        (direct.share.uuid, None),
        (via.share.uuid, "Vorträge"),
    ]
    assert [s.uuid for s in shares.list(aiko, "collection", talks.uuid)] == [via.share.uuid]
    with pytest.raises(NotFound):  # an inherited share is revoked on its collection
        shares.revoke(aiko, "file", file_uuid, via.share.uuid)
    kinds = {(m.object_kind, m.role) for m in shares.shared_with_me(omar)}
    assert kinds == {("file", "editor"), ("collection", "viewer")}
    later_id, later_uuid = factories.media_file(conn, aiko, filename="later.wav")
    collections.add_files(aiko, talks.uuid, [later_uuid])
    assert reach(conn, omar) == {file_uuid: 3, later_uuid: 1}, "present and future files"
    assert later_id


def test_a_speaker_profile_is_shared_as_viewer_only(conn: Conn) -> None:
    aiko, _ = person(conn, "Aiko")
    omar, omar_email = person(conn, "Omar")
    profile = SpeakerProfileRepository(conn).create(aiko, "Sprecherin Ö")
    shares = ShareRepository(conn)
    with pytest.raises(Invalid) as editor:
        shares.grant(aiko, "speaker_profile", profile.uuid, "editor", user_email=omar_email)
    assert editor.value.field == "role" and "viewer" in editor.value.detail
    granted = shares.grant(aiko, "speaker_profile", profile.uuid, "viewer", user_email=omar_email)
    assert granted.share.role == "viewer"
    [mine] = shares.shared_with_me(omar)
    assert (mine.object_kind, mine.object_name, mine.role) == ("speaker_profile", "Sprecherin Ö", "viewer")
    with pytest.raises(Forbidden):  # seen through the share, but not Omar's to share
        shares.grant(omar, "speaker_profile", profile.uuid, "viewer", user_email=omar_email)


def test_two_grants_of_the_same_share_at_once_make_one_share(fresh_url: str) -> None:
    """The second insert waits on the unique index for the first, finds the share then and changes its role."""
    with psycopg.connect(fresh_url, autocommit=True) as setup:
        aiko, _ = person(setup, "Aiko")
        _, omar_email = person(setup, "Omar")
        _, file_uuid = factories.media_file(setup, aiko)
    outcome: list[object] = []
    with psycopg.connect(fresh_url) as first, psycopg.connect(fresh_url) as second:
        created = ShareRepository(first).grant(aiko, "file", file_uuid, "viewer", user_email=omar_email)

        def grant_again() -> None:
            outcome.append(ShareRepository(second).grant(aiko, "file", file_uuid, "editor", user_email=omar_email))
            second.commit()

        racer = threading.Thread(target=grant_again)
        racer.start()
        racer.join(0.5)
        assert racer.is_alive(), "the second insert waits for the first one's transaction"
        first.commit()
        racer.join(10)
    assert len(outcome) == 1
    again = outcome[0]
    assert isinstance(again, Granted) and not again.created and again.share.uuid == created.share.uuid
    with psycopg.connect(fresh_url) as conn:
        assert [(role,) for _, role, *_ in shares_table(conn)] == [("editor",)]
