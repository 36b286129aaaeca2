from __future__ import annotations

import threading
import uuid
from typing import Any

import psycopg
import pytest

from repo.errors import Conflict, Forbidden, Invalid, NotFound
from repo.groups import GroupRepository
from repo.rows import Actor
from tests import factories

Conn = psycopg.Connection[Any]


def person(conn: Conn, name: str, *, admin: bool = False) -> tuple[Actor, str, uuid.UUID]:
    """A user with a full name; returns the actor, their address and their uuid."""
    actor = factories.user(conn, admin=admin)
    row = conn.execute(
        "UPDATE users SET full_name = %s WHERE id = %s RETURNING email, uuid", [name, actor.id]
    ).fetchone()
    assert row is not None
    return actor, row[0], row[1]


def members(conn: Conn, group_uuid: uuid.UUID) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT u.full_name, m.role FROM group_members m JOIN users u ON u.id = m.user_id "
        "JOIN groups g ON g.id = m.group_id WHERE g.uuid = %s ORDER BY u.full_name",
        [group_uuid],
    )
    return [(name, role) for name, role in rows]


def test_the_creator_owns_the_group_and_members_see_it(conn: Conn) -> None:
    aiko, _, _ = person(conn, "Aiko 山田")
    omar, omar_email, omar_uuid = person(conn, "عمر الفاروق")
    stranger, _, _ = person(conn, "Jürgen Müller")
    groups = GroupRepository(conn)

    created = groups.create(aiko, "  研究チーム 🎙️ ", "Ärzte & مراسلون")
    assert (created.name, created.description, created.my_role, created.member_count) == (
        "研究チーム 🎙️",
        "Ärzte & مراسلون",
        "owner",
        1,
    )
    added = groups.put_member(aiko, created.uuid, omar_email.upper().replace("@EXAMPLE.COM", "@example.com"), "member")
    assert (added.user_uuid, added.full_name, added.role) == (omar_uuid, "عمر الفاروق", "member")

    detail = groups.get(omar, created.uuid)
    assert [(m.full_name, m.role) for m in detail.members] == [("Aiko 山田", "owner"), ("عمر الفاروق", "member")]
    assert detail.group.my_role == "member" and detail.group.member_count == 2
    assert [g.name for g in groups.list(omar)] == ["研究チーム 🎙️"]
    assert groups.list(stranger) == []
    with pytest.raises(NotFound):
        groups.get(stranger, created.uuid)


def test_only_owners_rename_delete_and_manage_members(conn: Conn) -> None:
    aiko, _, _ = person(conn, "Aiko")
    omar, omar_email, omar_uuid = person(conn, "Omar")
    _, lena_email, _ = person(conn, "Lena")
    groups = GroupRepository(conn)
    group = groups.create(aiko, "Newsroom")
    groups.put_member(aiko, group.uuid, omar_email, "member")

    with pytest.raises(Forbidden):
        groups.update(omar, group.uuid, name="Mine now")
    with pytest.raises(Forbidden):
        groups.delete(omar, group.uuid)
    with pytest.raises(Forbidden):
        groups.put_member(omar, group.uuid, lena_email, "member")
    with pytest.raises(Forbidden):
        groups.set_role(omar, group.uuid, omar_uuid, "owner")
    assert groups.get(aiko, group.uuid).group.name == "Newsroom"
    assert members(conn, group.uuid) == [("Aiko", "owner"), ("Omar", "member")]

    renamed = groups.update(aiko, group.uuid, name="Redaktion Köln", description="")
    assert (renamed.name, renamed.description) == ("Redaktion Köln", None)
    promoted = groups.set_role(aiko, group.uuid, omar_uuid, "owner")
    assert promoted.role == "owner"
    groups.delete(omar, group.uuid)  # any owner
    with pytest.raises(NotFound):
        groups.get(aiko, group.uuid)


def test_a_group_never_loses_its_last_owner(conn: Conn) -> None:
    aiko, _, aiko_uuid = person(conn, "Aiko")
    _, omar_email, omar_uuid = person(conn, "Omar")
    groups = GroupRepository(conn)
    group = groups.create(aiko, "Team")
    groups.put_member(aiko, group.uuid, omar_email, "member")

    with pytest.raises(Conflict) as demoted:
        groups.set_role(aiko, group.uuid, aiko_uuid, "member")
    assert demoted.value.field == "role" and "owner" in demoted.value.detail
    with pytest.raises(Conflict):
        groups.remove_member(aiko, group.uuid, aiko_uuid)
    aiko_email = conn.execute("SELECT email FROM users WHERE id = %s", [aiko.id]).fetchone()
    assert aiko_email is not None
    with pytest.raises(Conflict):  # re-adding oneself as a member is a demotion too
        groups.put_member(aiko, group.uuid, aiko_email[0], "member")
    assert members(conn, group.uuid) == [("Aiko", "owner"), ("Omar", "member")]

    groups.set_role(aiko, group.uuid, omar_uuid, "owner")
    groups.remove_member(aiko, group.uuid, aiko_uuid)  # now Aiko may leave
    assert members(conn, group.uuid) == [("Omar", "owner")]


def test_a_member_may_leave_but_not_remove_others(conn: Conn) -> None:
    aiko, _, aiko_uuid = person(conn, "Aiko")
    omar, omar_email, omar_uuid = person(conn, "Omar")
    lena, lena_email, lena_uuid = person(conn, "Lena")
    groups = GroupRepository(conn)
    group = groups.create(aiko, "Team")
    groups.put_member(aiko, group.uuid, omar_email, "member")
    groups.put_member(aiko, group.uuid, lena_email, "member")

    with pytest.raises(Forbidden):
        groups.remove_member(omar, group.uuid, lena_uuid)
    with pytest.raises(Forbidden):
        groups.remove_member(omar, group.uuid, aiko_uuid)
    groups.remove_member(omar, group.uuid, omar_uuid)
    with pytest.raises(NotFound):
        groups.get(omar, group.uuid)
    with pytest.raises(NotFound):  # twice
        groups.remove_member(aiko, group.uuid, omar_uuid)
    groups.remove_member(aiko, group.uuid, lena_uuid)
    assert members(conn, group.uuid) == [("Aiko", "owner")]
    with pytest.raises(NotFound):
        groups.remove_member(lena, group.uuid, lena_uuid)


def test_bad_input_changes_nothing(conn: Conn) -> None:
    aiko, _, _ = person(conn, "Aiko")
    groups = GroupRepository(conn)
    group = groups.create(aiko, "Team")
    with pytest.raises(Conflict) as unknown:
        groups.put_member(aiko, group.uuid, "nobody-here@example.com", "member")
    assert unknown.value.field == "email"
    with pytest.raises(Invalid) as blank:
        groups.create(aiko, "   ")
    assert blank.value.field == "name"
    with pytest.raises(Invalid) as long_name:
        groups.update(aiko, group.uuid, name="x" * 201)
    assert long_name.value.field == "name"
    with pytest.raises(NotFound):
        groups.set_role(aiko, group.uuid, uuid.uuid4(), "owner")
    assert [g.name for g in groups.list(aiko)] == ["Team"]
    assert members(conn, group.uuid) == [("Aiko", "owner")]


def test_an_admin_lists_and_manages_every_group(conn: Conn) -> None:
    aiko, _, _ = person(conn, "Aiko")
    admin, _, _ = person(conn, "Admin", admin=True)
    groups = GroupRepository(conn)
    theirs = groups.create(aiko, "Aiko's")
    own = groups.create(admin, "Admins'")
    assert [g.uuid for g in groups.list(admin)] == [own.uuid]
    everything = {g.uuid: g.my_role for g in groups.list_all(admin)}
    assert everything[theirs.uuid] is None and everything[own.uuid] == "owner"
    with pytest.raises(Forbidden):
        groups.list_all(aiko)
    assert groups.get(admin, theirs.uuid).group.my_role is None
    groups.update(admin, theirs.uuid, name="Renamed by the admin")
    groups.delete(admin, theirs.uuid)
    assert groups.list(aiko) == []


def test_two_owners_demoting_each_other_at_once_leave_one_owner(fresh_url: str) -> None:
    """The second demotion waits for the first one's lock on the group, then sees that its actor is no longer an
    owner: exactly one wins and the group keeps an owner."""
    with psycopg.connect(fresh_url, autocommit=True) as setup:
        aiko, _, aiko_uuid = person(setup, "Aiko")
        omar, omar_email, omar_uuid = person(setup, "Omar")
        group = GroupRepository(setup).create(aiko, "Team")
        GroupRepository(setup).put_member(aiko, group.uuid, omar_email, "owner")
    outcome: list[object] = []
    with psycopg.connect(fresh_url) as first, psycopg.connect(fresh_url) as second:
        GroupRepository(first).set_role(aiko, group.uuid, omar_uuid, "member")  # holds the group's lock

        def demote_aiko() -> None:
            try:
                outcome.append(GroupRepository(second).set_role(omar, group.uuid, aiko_uuid, "member"))
                second.commit()
            except (Forbidden, Conflict) as refused:
                second.rollback()
                outcome.append(refused)

        racer = threading.Thread(target=demote_aiko)
        racer.start()
        racer.join(0.5)
        assert racer.is_alive(), "the second demotion waits for the first one's lock"
        first.commit()
        racer.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], Forbidden), outcome
    with psycopg.connect(fresh_url) as conn:
        assert members(conn, group.uuid) == [("Aiko", "owner"), ("Omar", "member")]
