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


def test_upsert_then_get(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, me)
    repo = AnalyticsRepository(conn)
    stored = repo.upsert(file_id, STATS, ["budget", "hiring"], None)
    assert stored.media_file_id == file_id and stored.sentiment is None
    assert repo.get(me, file_uuid) == stored
    again = repo.upsert(file_id, {}, ["budget"], {"overall": 0.2})
    assert again.id == stored.id and again.keywords == ["budget"] and again.sentiment == {"overall": 0.2}
    assert again.speaker_stats == {} and again.updated_at >= stored.updated_at
    assert repo.get(me, file_uuid) == again


def test_not_computed_or_not_visible_is_not_found(conn: Conn) -> None:
    me, other, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True)
    file_id, file_uuid = factories.media_file(conn, me)
    _, pending_uuid = factories.media_file(conn, me)
    repo = AnalyticsRepository(conn)
    stored = repo.upsert(file_id, STATS, [], None)
    for actor, uuid in ((me, pending_uuid), (other, file_uuid), (me, uuid4())):
        with pytest.raises(NotFound):
            repo.get(actor, uuid)
    assert repo.get(admin, file_uuid) == stored


def test_deleting_the_file_deletes_its_analytics(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, _ = factories.media_file(conn, me)
    AnalyticsRepository(conn).upsert(file_id, STATS, [], None)
    conn.execute("DELETE FROM media_files WHERE id = %s", [file_id])
    left = conn.execute("SELECT count(*) FROM analytics WHERE media_file_id = %s", [file_id]).fetchone()
    assert left == (0,)
