from __future__ import annotations

from typing import Any
from uuid import uuid4

import psycopg
import pytest

from repo.analytics import AnalyticsRepository
from repo.errors import NotFound
from tests import factories

Conn = psycopg.Connection[Any]
STATS = {"SPEAKER_00": {"talk_time": 61.5, "words": 120, "turns": 4}}


def test_the_workers_keywords_are_served_and_a_second_run_replaces_them(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, me)
    repo = AnalyticsRepository(conn)
    stored = repo.upsert(file_id, STATS, ["budget", "hiring", "Müller 会議 🎙️"], None)
    assert stored.media_file_id == file_id and stored.sentiment is None
    assert repo.for_file(me, file_uuid).totals.keywords == ["budget", "hiring", "Müller 会議 🎙️"]
    again = repo.upsert(file_id, {}, ["budget"], {"overall": 0.2})
    assert again.id == stored.id and again.keywords == ["budget"] and again.sentiment == {"overall": 0.2}
    assert again.speaker_stats == {} and again.updated_at >= stored.updated_at
    assert repo.for_file(me, file_uuid).totals.keywords == ["budget"]


def test_no_keywords_until_computed_and_another_users_file_is_not_found(conn: Conn) -> None:
    me, other, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True)
    file_id, file_uuid = factories.media_file(conn, me)
    _, pending_uuid = factories.media_file(conn, me)
    repo = AnalyticsRepository(conn)
    repo.upsert(file_id, STATS, ["budget"], None)
    assert repo.for_file(me, pending_uuid).totals.keywords == []
    for actor, uuid in ((other, file_uuid), (me, uuid4())):
        with pytest.raises(NotFound):
            repo.for_file(actor, uuid)
    with pytest.raises(NotFound):
        repo.for_file(admin, file_uuid)
    assert repo.for_file(admin.seeing_all(), file_uuid).totals.keywords == ["budget"]


def test_deleting_the_file_deletes_its_analytics(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, _ = factories.media_file(conn, me)
    AnalyticsRepository(conn).upsert(file_id, STATS, [], None)
    conn.execute("DELETE FROM media_files WHERE id = %s", [file_id])
    left = conn.execute("SELECT count(*) FROM analytics WHERE media_file_id = %s", [file_id]).fetchone()
    assert left == (0,)
