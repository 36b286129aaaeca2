from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from repo.database import Database
from repo.errors import Invalid, NotFound
from repo.notifications import CHANNEL, KINDS, NotificationRepository
from tests import factories

Conn = psycopg.Connection[Any]


def test_notify_stores_and_lists_newest_first(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, me)
    repo = NotificationRepository(conn)
    first = repo.notify(me.id, "speakers", "会議の記録 🎙️ Müller.wav: speakers recognised", media_file_id=file_id)
    second = repo.notify(me.id, "transcription", "Transcript ready", "step 2 of 5", {"step": 2}, 0.4, file_id)
    assert first is not None and second is not None
    assert first.media_file_uuid == file_uuid and first.read_at is None and first.data == {}
    assert second.data == {"step": 2} and second.progress == pytest.approx(0.4) and second.message == "step 2 of 5"
    listed = repo.list(me)
    assert [n.uuid for n in listed] == [second.uuid, first.uuid]
    assert listed[0] == second
    assert repo.get(me, first.uuid) == first
    assert repo.unread_count(me) == 2


def test_keyset_pages(conn: Conn) -> None:
    me = factories.user(conn)
    repo = NotificationRepository(conn)
    created = [repo.notify(me.id, "system", f"n{i}") for i in range(5)]
    assert all(created)
    page1 = repo.list(me, limit=2)
    page2 = repo.list(me, limit=2, cursor=page1[-1].uuid)
    page3 = repo.list(me, limit=2, cursor=page2[-1].uuid)
    titles = [n.title for n in page1 + page2 + page3]
    assert titles == ["n4", "n3", "n2", "n1", "n0"]
    assert repo.list(me, cursor=page3[-1].uuid) == []


def test_mark_read_some_or_all(conn: Conn) -> None:
    me = factories.user(conn)
    repo = NotificationRepository(conn)
    a, b, c = (repo.notify(me.id, "summary", t) for t in ("a", "b", "c"))
    assert a is not None and b is not None and c is not None
    assert repo.mark_read(me, [a.uuid]) == 1
    assert repo.mark_read(me, [a.uuid]) == 0
    assert repo.unread_count(me) == 2
    assert [n.title for n in repo.list(me, unread_only=True)] == ["c", "b"]
    assert repo.get(me, a.uuid).read_at is not None
    assert repo.mark_read(me) == 2
    assert repo.unread_count(me) == 0 and repo.list(me, unread_only=True) == []
    assert len(repo.list(me)) == 3


def test_another_user_never_sees_or_touches_them(conn: Conn) -> None:
    me, other, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True)
    repo = NotificationRepository(conn)
    mine = repo.notify(me.id, "error", "Transcription failed")
    assert mine is not None
    for reader in (other, admin):
        assert repo.list(reader) == [] and repo.unread_count(reader) == 0
        assert repo.list(reader, cursor=mine.uuid) == []
        with pytest.raises(NotFound):
            repo.get(reader, mine.uuid)
        assert repo.mark_read(reader, [mine.uuid]) == 0
        assert repo.mark_read(reader) == 0
    with pytest.raises(NotFound):
        repo.get(me, uuid4())
    assert repo.unread_count(me) == 1


def test_preferences_default_on_and_a_muted_kind_stores_nothing(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    repo = NotificationRepository(conn)
    assert repo.preferences(me) == dict.fromkeys(KINDS, True)
    muted = repo.set_preference(me, "transcription", False)
    assert (muted.kind, muted.in_app) == ("transcription", False)
    assert repo.preferences(me)["transcription"] is False and repo.preferences(other)["transcription"] is True
    assert repo.notify(me.id, "transcription", "Transcript ready") is None
    assert repo.list(me) == []
    assert repo.notify(other.id, "transcription", "Transcript ready") is not None
    assert repo.notify(me.id, "summary", "Summary ready") is not None
    repo.set_preference(me, "transcription", True)
    assert repo.notify(me.id, "transcription", "Transcript ready") is not None
    assert repo.unread_count(me) == 2


def test_unknown_kinds_are_invalid(conn: Conn) -> None:
    me = factories.user(conn)
    repo = NotificationRepository(conn)
    for gone in ("marketing", "upload", "processing"):  # the steps of processing are no notification any more
        with pytest.raises(Invalid) as caught:
            repo.notify(me.id, gone, "Buy")
        assert caught.value.field == "kind"
    with pytest.raises(Invalid) as caught:
        repo.notify(me.id, "marketing", "Buy")
    assert caught.value.field == "kind"
    with pytest.raises(Invalid) as caught:
        repo.set_preference(me, "marketing", False)
    assert caught.value.field == "kind"


def test_listeners_hear_it_only_after_commit(db: Database, fresh_url: str) -> None:
    with db.transaction() as conn:
        me = factories.user(conn, email="secret-person@example.com")
        muted = factories.user(conn)
        NotificationRepository(conn).set_preference(muted, "transcription", False)
    with psycopg.connect(fresh_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with db.transaction() as conn:
            repo = NotificationRepository(conn)
            assert repo.notify(muted.id, "transcription", "Uploaded") is None
            created = repo.notify(me.id, "transcription", "Uploaded", "private message text")
            assert created is not None
            assert list(listener.notifies(timeout=0.5, stop_after=1)) == []
        heard = list(listener.notifies(timeout=5, stop_after=1))
        assert len(heard) == 1 and heard[0].channel == CHANNEL
        payload = json.loads(heard[0].payload)
        assert payload == {"user_id": me.id, "uuid": str(created.uuid), "kind": "transcription"}
        assert "secret-person" not in heard[0].payload and "private message" not in heard[0].payload
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []  # the muted one was never announced

        with pytest.raises(RuntimeError), db.transaction() as conn:
            NotificationRepository(conn).notify(me.id, "error", "Rolled back")
            raise RuntimeError
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []
    with db.transaction() as conn:
        assert [n.title for n in NotificationRepository(conn).list(me)] == ["Uploaded"]


def test_progress_is_announced_on_commit_and_never_stored(db: Database, fresh_url: str) -> None:
    """A job's step reaches the owner's pages (the payload: ids, the step, the fraction; never the file's name), and
    neither the list nor the count of new notifications grows; a muted kind does not silence it."""
    with db.transaction() as conn:
        me = factories.user(conn)
        file_id, file_uuid = factories.media_file(conn, me)
        for kind in KINDS:
            NotificationRepository(conn).set_preference(me, kind, False)
    with psycopg.connect(fresh_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        with db.transaction() as conn:
            NotificationRepository(conn).progress(me.id, "computed the waveform", 0.3, file_id, None)
            assert list(listener.notifies(timeout=0.5, stop_after=1)) == []
        [heard] = list(listener.notifies(timeout=5, stop_after=1))
    assert json.loads(heard.payload) == {
        "event": "progress",
        "user_id": me.id,
        "file_uuid": str(file_uuid),
        "task_id": None,
        "step": "computed the waveform",
        "progress": pytest.approx(0.3),
    }
    with db.transaction() as conn:
        assert NotificationRepository(conn).list(me) == [] and NotificationRepository(conn).unread_count(me) == 0


def test_deleting_the_user_deletes_notifications_and_preferences(conn: Conn) -> None:
    me = factories.user(conn)
    repo = NotificationRepository(conn)
    repo.notify(me.id, "system", "Welcome")
    repo.set_preference(me, "speakers", False)
    conn.execute("DELETE FROM users WHERE id = %s", [me.id])
    left = conn.execute(
        "SELECT (SELECT count(*) FROM notifications WHERE user_id = %(u)s) "
        "+ (SELECT count(*) FROM notification_preferences WHERE user_id = %(u)s)",
        {"u": me.id},
    ).fetchone()
    assert left == (0,)
