from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from repo import cursor
from repo.errors import Conflict, Invalid, NotFound
from repo.tasks import TaskRepository
from tests import factories

Conn = psycopg.Connection[Any]


@pytest.fixture
def tasks(conn: Conn) -> TaskRepository:
    return TaskRepository(conn)


def test_a_task_runs_from_pending_through_heartbeats_to_completed(conn: Conn, tasks: TaskRepository) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    created = tasks.create("job-1", owner.id, file_id, "transcription")
    assert (created.status, created.progress, created.file_uuid, created.heartbeat_at) == (
        "pending",
        0.0,
        file_uuid,
        None,
    )
    started = tasks.start("job-1")
    assert started.status == "in_progress" and started.heartbeat_at is not None
    assert tasks.heartbeat("job-1", 0.5)
    assert tasks.get(owner, "job-1").progress == 0.5
    done = tasks.complete("job-1")
    assert (done.status, done.progress, done.error_message) == ("completed", 1.0, None)
    assert done.completed_at is not None

    assert not tasks.heartbeat("job-1", 0.7)
    for again in (tasks.start, tasks.complete, tasks.cancel):
        with pytest.raises(Conflict), conn.transaction():
            again("job-1")


def test_tasks_fail_or_are_cancelled_with_their_reason_kept(conn: Conn, tasks: TaskRepository) -> None:
    owner = factories.user(conn)
    tasks.create("job-fail", owner.id, None, "summarization")
    tasks.start("job-fail")
    failed = tasks.fail("job-fail", "the LLM answered 500")
    assert (failed.status, failed.error_message, failed.file_uuid) == ("failed", "the LLM answered 500", None)
    assert failed.completed_at is not None and not tasks.heartbeat("job-fail", 0.9)

    tasks.create("job-cancel", owner.id, None, "analytics")
    cancelled = tasks.cancel("job-cancel")
    assert cancelled.status == "cancelled" and not tasks.heartbeat("job-cancel", 0.1)
    with pytest.raises(Conflict), conn.transaction():
        tasks.start("job-cancel")
    with pytest.raises(Conflict), conn.transaction():
        tasks.fail("no-such-job", "x")


def test_create_refuses_a_taken_job_id_an_unknown_file_and_a_type_that_is_no_name(
    conn: Conn, tasks: TaskRepository
) -> None:
    owner = factories.user(conn)
    tasks.create("job-dup", owner.id, None, "maintenance")
    with pytest.raises(Conflict), conn.transaction():
        tasks.create("job-dup", owner.id, None, "maintenance")
    with pytest.raises(Invalid) as missing, conn.transaction():
        tasks.create("job-nofile", owner.id, -1, "transcription")
    assert missing.value.field == "media_file_id"
    with pytest.raises(Invalid) as kind, conn.transaction():
        tasks.create("job-kind", owner.id, None, "Mining; DROP TABLE tasks")
    assert kind.value.field == "task_type"
    # which names exist is the job registry's (tests/test_job_registry.py), not a list in the schema
    assert tasks.create("job-new-kind", owner.id, None, "mining").task_type == "mining"


def test_users_see_only_their_own_tasks_while_an_admin_sees_all_in_the_all_files_view(
    conn: Conn, tasks: TaskRepository
) -> None:
    owner, stranger, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True)
    tasks.create("job-owned", owner.id, None, "transcription")
    tasks.create("job-theirs", stranger.id, None, "transcription")
    with pytest.raises(NotFound):
        tasks.get(stranger, "job-owned")
    assert [t.id for t in tasks.list(stranger).items] == ["job-theirs"]
    assert [t.id for t in tasks.list(owner).items] == ["job-owned"]
    with pytest.raises(NotFound):
        tasks.get(admin, "job-owned")
    admin = admin.seeing_all()
    assert tasks.get(admin, "job-owned").user_id == owner.id
    assert {t.id for t in tasks.list(admin, limit=200).items} >= {"job-owned", "job-theirs"}


def test_the_task_list_pages_newest_first_and_filters_by_status(conn: Conn, tasks: TaskRepository) -> None:
    owner = factories.user(conn)
    for n in range(7):
        tasks.create(f"job-{n}", owner.id, None, "transcription")
        conn.execute(
            "UPDATE tasks SET created_at = %s WHERE id = %s", (datetime(2024, 1, 1 + n // 2, tzinfo=UTC), f"job-{n}")
        )
    tasks.start("job-3")

    walked: list[str] = []
    next_cursor: str | None = None
    while True:
        page = tasks.list(owner, limit=3, cursor=next_cursor)
        walked += [t.id for t in page.items]
        if page.next_cursor is None:
            break
        next_cursor = page.next_cursor
    assert walked == ["job-6", "job-5", "job-4", "job-3", "job-2", "job-1", "job-0"]
    assert [t.id for t in tasks.list(owner, status="in_progress").items] == ["job-3"]

    with pytest.raises(Invalid) as bad_status:
        tasks.list(owner, status="running")
    assert bad_status.value.field == "status"
    for tampered in ("garbage", cursor.encode("files", datetime.now(UTC), 7)):
        with pytest.raises(NotFound) as bad_cursor:
            tasks.list(owner, cursor=tampered)
        assert bad_cursor.value.field == "cursor"


def test_a_tasks_file_uuid_is_joined_and_the_task_goes_with_its_file(conn: Conn, tasks: TaskRepository) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    tasks.create("job-f", owner.id, file_id, "transcription")
    assert tasks.get(owner, "job-f").file_uuid == file_uuid
    assert tasks.list(owner).items[0].file_uuid == file_uuid
    conn.execute("DELETE FROM media_files WHERE id = %s", (file_id,))
    with pytest.raises(NotFound):
        tasks.get(owner, "job-f")
