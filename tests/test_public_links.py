from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from repo.database import Database
from repo.errors import Conflict, Forbidden, Gone, Invalid, NotFound
from repo.public_links import MAX_DAYS, PublicLinkRepository, expiry
from repo.rows import Actor
from tests import factories


def _share(conn: psycopg.Connection[Any], file_id: int, with_user: Actor, role: str, by: Actor) -> None:
    conn.execute(
        "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, %s, %s)",
        [file_id, with_user.id, role, by.id],
    )


def test_a_link_opens_its_file_and_counts_each_use(conn: psycopg.Connection[Any]) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner, title="会議の記録 🎙️")
    links = PublicLinkRepository(conn)

    created = links.create(owner, file_uuid, expiry(days=7))
    assert len(created.token) == 43 and created.link.use_count == 0 and created.link.revoked_at is None
    stored = conn.execute("SELECT token_hash FROM public_links WHERE uuid = %s", [created.link.uuid]).fetchone()
    assert stored is not None and bytes(stored[0]) == hashlib.sha256(created.token.encode()).digest()
    assert created.token.encode() not in bytes(stored[0])  # only the hash is kept

    target = links.resolve(created.token)
    assert (target.file_uuid, target.owner, target.live) == (file_uuid, owner, True)
    links.resolve(created.token)
    links.resolve(created.token, count=False)  # the media's range requests: not a use
    [listed] = links.list_for_file(owner, file_uuid)
    assert listed.use_count == 2 and listed.last_used_at is not None and listed.expires_at == created.link.expires_at


def test_revoked_and_expired_links_are_gone_unknown_ones_not_found(conn: psycopg.Connection[Any]) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(conn, owner)
    links = PublicLinkRepository(conn)
    revoked, expired = links.create(owner, file_uuid), links.create(owner, file_uuid)

    assert links.revoke(owner, file_uuid, revoked.link.uuid).revoked_at is not None
    with pytest.raises(Conflict, match="revoked already"):
        links.revoke(owner, file_uuid, revoked.link.uuid)
    with pytest.raises(NotFound):
        links.revoke(owner, file_uuid, uuid4())
    conn.execute(
        "UPDATE public_links SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day' "
        "WHERE uuid = %s",
        [expired.link.uuid],
    )
    for dead in (revoked, expired):
        with pytest.raises(Gone):
            links.resolve(dead.token)
        with pytest.raises(Gone):
            links.resolve(dead.token, count=False)
    uses = conn.execute("SELECT sum(use_count) FROM public_links").fetchone()
    assert uses is not None and uses[0] == 0  # a dead link's requests count nothing
    for garbage in ["x" * 43, "", "会議", "../", "a" * 5000, "A" * 42 + "\n", "%00" * 14 + "a"]:
        with pytest.raises(NotFound):
            links.resolve(garbage)


def test_only_the_owner_manages_links(conn: psycopg.Connection[Any]) -> None:
    owner, viewer, editor, stranger = (factories.user(conn) for _ in range(4))
    admin = factories.user(conn, admin=True)
    file_id, file_uuid = factories.media_file(conn, owner)
    _share(conn, file_id, viewer, "viewer", owner)
    _share(conn, file_id, editor, "editor", owner)
    links = PublicLinkRepository(conn)
    link = links.create(owner, file_uuid).link

    for shared_with in (viewer, editor):
        with pytest.raises(Forbidden):
            links.create(shared_with, file_uuid)
        with pytest.raises(Forbidden):
            links.list_for_file(shared_with, file_uuid)
        with pytest.raises(Forbidden):
            links.revoke(shared_with, file_uuid, link.uuid)
    for outsider in (stranger, admin):  # an admin acting as themselves is a stranger to others' files
        with pytest.raises(NotFound):
            links.create(outsider, file_uuid)
        with pytest.raises(NotFound):
            links.revoke(outsider, file_uuid, link.uuid)
    assert [link.uuid for link in links.list_for_file(admin.seeing_all(), file_uuid)] == [link.uuid]
    # another file of the owner's does not reach this link
    _, other_uuid = factories.media_file(conn, owner)
    with pytest.raises(NotFound):
        links.revoke(owner, other_uuid, link.uuid)
    assert links.list_for_file(owner, other_uuid) == []
    count = conn.execute("SELECT count(*) FROM public_links WHERE revoked_at IS NULL").fetchone()
    assert count == (1,)


def test_expiry_is_in_the_future_and_bounded() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert expiry(now=now) is None
    assert expiry(days=1, now=now) == now + timedelta(days=1)
    assert expiry(at=now + timedelta(hours=1), now=now) == now + timedelta(hours=1)
    refused: list[tuple[dict[str, Any], str, type[Exception]]] = [
        ({"days": 0}, "expires_in_days", Invalid),
        ({"days": MAX_DAYS + 1}, "expires_in_days", Invalid),
        ({"at": datetime(2030, 2, 1)}, "expires_at", Invalid),  # no time zone
        # what no schema can state: the clock, a combination
        ({"at": now - timedelta(seconds=1)}, "expires_at", Conflict),
        ({"at": now}, "expires_at", Conflict),
        ({"at": now + timedelta(days=MAX_DAYS + 1)}, "expires_at", Conflict),
        ({"days": 1, "at": now + timedelta(days=1)}, "expires_at", Conflict),
    ]
    for given, field, kind in refused:
        with pytest.raises(kind) as caught:
            expiry(now=now, **given)
        assert getattr(caught.value, "field", None) == field, given


def test_concurrent_uses_each_count(db: Database) -> None:
    with db.transaction() as conn:
        owner = factories.user(conn)
        _, file_uuid = factories.media_file(conn, owner)
        created = PublicLinkRepository(conn).create(owner, file_uuid)

    def use(_: int) -> None:
        with db.transaction() as conn:
            PublicLinkRepository(conn).resolve(created.token)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(use, range(40)))
    with db.transaction() as conn:
        [link] = PublicLinkRepository(conn).list_for_file(owner, file_uuid)
    assert link.use_count == 40


def test_deleting_the_file_ends_its_links(conn: psycopg.Connection[Any]) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    links = PublicLinkRepository(conn)
    token = links.create(owner, file_uuid).token
    conn.execute("DELETE FROM media_files WHERE id = %s", [file_id])
    with pytest.raises(NotFound):
        links.resolve(token)
