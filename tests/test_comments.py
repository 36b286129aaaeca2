from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from repo.comments import CommentRepository
from repo.errors import Forbidden, Invalid, NotFound
from tests import factories

Conn = psycopg.Connection[Any]


def set_name(conn: Conn, user_id: int, full_name: str) -> None:
    conn.execute("UPDATE users SET full_name = %s WHERE id = %s", (full_name, user_id))


def author_uuid(conn: Conn, user_id: int) -> uuid.UUID:
    row = conn.execute("SELECT uuid FROM users WHERE id = %s", (user_id,)).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def test_create_and_list_oldest_first_with_the_author(conn: Conn) -> None:
    owner = factories.user(conn)
    set_name(conn, owner.id, "Ada Lovelace")
    _, file_uuid = factories.media_file(conn, owner)
    comments = CommentRepository(conn)
    first = comments.create(owner, file_uuid, "  first  ", timestamp=12.5)
    second = comments.create(owner, file_uuid, "second")
    assert first.text == "first" and first.timestamp == 12.5 and second.timestamp is None
    assert first.file_uuid == file_uuid
    assert first.author_uuid == author_uuid(conn, owner.id) and first.author_name == "Ada Lovelace"
    assert [c.uuid for c in comments.list_for_file(owner, file_uuid)] == [first.uuid, second.uuid]


def test_the_author_name_falls_back_to_the_email(conn: Conn) -> None:
    owner = factories.user(conn, email="nameless@example.com")
    _, file_uuid = factories.media_file(conn, owner)
    assert CommentRepository(conn).create(owner, file_uuid, "hi").author_name == "nameless@example.com"


def test_a_file_without_comments_has_an_empty_list(conn: Conn) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    assert CommentRepository(conn).list_for_file(owner, file_uuid) == []


@pytest.mark.parametrize("bad", ["", "   \n", "x" * 10_001])
def test_text_must_have_1_to_10000_characters(conn: Conn, bad: str) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    comments = CommentRepository(conn)
    with pytest.raises(Invalid) as info:
        comments.create(owner, file_uuid, bad)
    assert info.value.field == "text"
    comment = comments.create(owner, file_uuid, "x" * 10_000)
    with pytest.raises(Invalid) as info:
        comments.update(owner, comment.uuid, bad)
    assert info.value.field == "text"


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_a_negative_or_non_finite_timestamp_is_invalid(conn: Conn, bad: float) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    with pytest.raises(Invalid) as info, conn.transaction():
        CommentRepository(conn).create(owner, file_uuid, "when?", timestamp=bad)
    assert info.value.field == "timestamp"


def test_the_author_updates_and_deletes(conn: Conn) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    comments = CommentRepository(conn)
    comment = comments.create(owner, file_uuid, "draft", timestamp=3)
    updated = comments.update(owner, comment.uuid, "final")
    assert (updated.uuid, updated.text, updated.timestamp) == (comment.uuid, "final", 3)
    assert comments.list_for_file(owner, file_uuid) == [updated]
    comments.delete(owner, comment.uuid)
    assert comments.list_for_file(owner, file_uuid) == []
    with pytest.raises(NotFound):
        comments.delete(owner, comment.uuid)


def test_another_user_gets_not_found_from_every_method(conn: Conn) -> None:
    owner, stranger = factories.user(conn), factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    comments = CommentRepository(conn)
    comment = comments.create(owner, file_uuid, "mine")
    with pytest.raises(NotFound):
        comments.create(stranger, file_uuid, "let me in")
    with pytest.raises(NotFound):
        comments.list_for_file(stranger, file_uuid)
    with pytest.raises(NotFound):
        comments.update(stranger, comment.uuid, "defaced")
    with pytest.raises(NotFound):
        comments.delete(stranger, comment.uuid)
    assert [c.text for c in comments.list_for_file(owner, file_uuid)] == ["mine"]


def test_missing_file_or_comment_is_not_found(conn: Conn) -> None:
    owner = factories.user(conn)
    comments = CommentRepository(conn)
    with pytest.raises(NotFound):
        comments.create(owner, uuid.uuid4(), "x")
    with pytest.raises(NotFound):
        comments.list_for_file(owner, uuid.uuid4())
    with pytest.raises(NotFound):
        comments.update(owner, uuid.uuid4(), "x")
    with pytest.raises(NotFound):
        comments.delete(owner, uuid.uuid4())


def test_an_admin_comments_only_in_the_all_files_view_and_only_the_author_edits(conn: Conn) -> None:
    owner, plain_admin = factories.user(conn), factories.user(conn, admin=True)
    admin = plain_admin.seeing_all()
    _, file_uuid = factories.media_file(conn, owner)
    comments = CommentRepository(conn)
    with pytest.raises(NotFound):
        comments.create(plain_admin, file_uuid, "not without the all-files view")
    by_admin = comments.create(admin, file_uuid, "reviewed")
    by_owner = comments.create(owner, file_uuid, "thanks")
    assert by_admin.author_uuid == author_uuid(conn, admin.id)
    assert {c.uuid for c in comments.list_for_file(owner, file_uuid)} == {by_admin.uuid, by_owner.uuid}
    with pytest.raises(Forbidden):  # the owner sees the comment but only its author edits it
        comments.update(owner, by_admin.uuid, "not yours")
    with pytest.raises(Forbidden):
        comments.update(admin, by_owner.uuid, "moderated")
    with pytest.raises(NotFound):
        comments.delete(plain_admin, by_owner.uuid)
    comments.delete(admin, by_owner.uuid)  # the all-files view has the owner's power: delete any comment
    comments.delete(owner, by_admin.uuid)  # the owner deletes any comment on their file
    assert comments.list_for_file(admin, file_uuid) == []


def test_deleting_the_file_deletes_its_comments(conn: Conn) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    comment = CommentRepository(conn).create(owner, file_uuid, "bye")
    conn.execute("DELETE FROM media_files WHERE id = %s", (file_id,))
    row = conn.execute("SELECT count(*) FROM comments WHERE uuid = %s", (comment.uuid,)).fetchone()
    assert row == (0,)
