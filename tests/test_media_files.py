from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest

from repo import cursor, media_files, segment_counts, statements
from repo.database import Database
from repo.errors import Conflict, Invalid, NotFound, Stale
from repo.file_processing import FileProcessingRepository
from repo.media_files import FilePage, MediaFileRepository
from repo.rows import Actor
from tests import factories

Conn = psycopg.Connection[Any]
HASH_A = "a" * 64
HASH_B = "b" * 64
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def files(conn: Conn) -> MediaFileRepository:
    return MediaFileRepository(conn)


@pytest.fixture
def work(conn: Conn) -> FileProcessingRepository:
    return FileProcessingRepository(conn)


def _tag(conn: Conn, file_id: int, name: str) -> None:
    conn.execute(
        "WITH t AS (INSERT INTO tags (name) VALUES (%(n)s) ON CONFLICT (name) DO UPDATE SET name = excluded.name "
        "RETURNING id) INSERT INTO file_tags (media_file_id, tag_id) SELECT %(f)s, id FROM t",
        {"n": name, "f": file_id},
    )


def _collection(conn: Conn, owner: Actor, name: str, file_ids: list[int]) -> UUID:
    row = conn.execute(
        "INSERT INTO collections (user_id, name) VALUES (%s, %s) RETURNING id, uuid", (owner.id, name)
    ).fetchone()
    assert row is not None
    for file_id in file_ids:
        conn.execute("INSERT INTO collection_members (collection_id, media_file_id) VALUES (%s, %s)", (row[0], file_id))
    return UUID(str(row[1]))


def _comment(conn: Conn, author: Actor, file_id: int) -> None:
    conn.execute("INSERT INTO comments (media_file_id, user_id, text) VALUES (%s, %s, 'nice')", (file_id, author.id))


def _uuids(page: FilePage) -> set[UUID]:
    return {row.uuid for row in page.items}


def _create(files: MediaFileRepository, actor: Actor, name: str = "talk.wav", **extra: Any) -> Any:
    params: dict[str, Any] = {
        "filename": name,
        "storage_path": f"{actor.id}/{uuid.uuid4().hex}",
        "file_size": 1234,
        "content_type": "audio/wav",
        "file_hash": HASH_A,
        **extra,
    }
    return files.create(actor, **params)


# -- records -----------------------------------------------------------------------------------------------------


def test_a_new_file_is_pending_and_reads_back_by_uuid_and_by_id(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    created = _create(files, owner, title="Weekly sync")
    assert created.status == "pending" and created.progress == 0.0 and created.user_id == owner.id
    assert created.title == "Weekly sync" and created.file_hash == HASH_A and not created.has_waveform
    assert files.get(owner, created.uuid) == created
    assert files.get_by_id(created.id) == created


def test_create_refuses_a_bad_hash_and_a_reused_storage_path(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    with pytest.raises(Invalid) as bad, conn.transaction():
        _create(files, owner, file_hash="not-a-sha256")
    assert bad.value.field == "file_hash"
    first = _create(files, owner)
    with pytest.raises(Conflict) as taken, conn.transaction():
        _create(files, owner, storage_path=first.storage_path)
    assert taken.value.field == "storage_path"


def test_duplicates_are_found_by_hash_among_the_owners_files_only(conn: Conn, files: MediaFileRepository) -> None:
    owner, other = factories.user(conn), factories.user(conn)
    mine = _create(files, owner, file_hash=HASH_A)
    _create(files, other, file_hash=HASH_B)
    found = files.find_duplicate(owner, HASH_A.upper())
    assert found is not None and found.uuid == mine.uuid
    assert files.find_duplicate(owner, HASH_B) is None
    assert files.find_duplicate(other, HASH_A) is None


def test_detail_brings_speakers_tags_collections_and_counts(conn: Conn, files: MediaFileRepository) -> None:
    owner, other = factories.user(conn), factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner, title="Board meeting")
    s0 = factories.speaker(conn, owner, file_id, "SPEAKER_00")
    factories.speaker(conn, owner, file_id, "SPEAKER_01")
    conn.execute("UPDATE speakers SET display_name = 'Ann', verified = true WHERE id = %s", (s0,))
    factories.segments(conn, file_id, ["hello", "world", "again"], s0)
    _tag(conn, file_id, "work")
    _tag(conn, file_id, "audio")
    board = _collection(conn, owner, "Board", [file_id])
    _comment(conn, owner, file_id)
    _comment(conn, other, file_id)

    detail = files.detail(owner, file_uuid)
    assert detail.title == "Board meeting" and detail.uuid == file_uuid
    assert [(s.label, s.display_name, s.verified) for s in detail.speakers] == [
        ("SPEAKER_00", "Ann", True),
        ("SPEAKER_01", None, False),
    ]
    assert all(isinstance(s.uuid, UUID) for s in detail.speakers)
    assert detail.tags == ["audio", "work"]
    assert [(c.uuid, c.name) for c in detail.collections] == [(board, "Board")]
    assert (detail.comments_count, detail.segment_count) == (2, 3)

    _, bare = factories.media_file(conn, owner)
    empty = files.detail(owner, bare)
    assert (empty.speakers, empty.tags, empty.collections, empty.segment_count) == ([], [], [], 0)


def test_update_changes_only_the_fields_given(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    created = _create(files, owner, title="Old", author="Ann", description="About things")
    updated = files.update(owner, created.uuid, title="New", is_public=True)
    assert (updated.title, updated.author, updated.description, updated.is_public) == (
        "New",
        "Ann",
        "About things",
        True,
    )
    cleared = files.update(owner, created.uuid, author="", language="de")
    assert (cleared.title, cleared.author, cleared.language, cleared.is_public) == ("New", None, "de", True)


def test_an_edit_from_a_stale_version_changes_nothing_and_says_what_is_stored(
    conn: Conn, files: MediaFileRepository
) -> None:
    owner = factories.user(conn)
    created = _create(files, owner, title="会議")
    assert created.version == 1
    won = files.update(owner, created.uuid, title="مرحبا 🎉", if_versions=[1])
    assert (won.title, won.version) == ("مرحبا 🎉", 2)
    with pytest.raises(Stale) as stale:
        files.update(owner, created.uuid, title="lost", description="lost too", if_versions=[1])
    assert stale.value.current == files.get(owner, created.uuid) and stale.value.version == 2
    assert (files.get(owner, created.uuid).title, files.get(owner, created.uuid).description) == ("مرحبا 🎉", None)
    assert files.update(owner, created.uuid, author="Ann").version == 3  # no If-Match: any version
    with pytest.raises(NotFound):
        files.update(factories.user(conn), created.uuid, title="x", if_versions=[3])


def test_processing_updates_leave_the_edit_version_alone(conn: Conn, files: MediaFileRepository) -> None:
    """A title read while the file is processed stays editable: progress is not an edit."""
    owner = factories.user(conn)
    created = _create(files, owner)
    conn.execute("UPDATE media_files SET progress = 0.5, status = 'processing' WHERE uuid = %s", [created.uuid])
    assert files.get(owner, created.uuid).version == 1
    assert files.update(owner, created.uuid, title="日本語", if_versions=[1]).title == "日本語"


def test_content_route_gets_path_type_size_and_name(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    created = _create(files, owner, name="clip.mp4", content_type="video/mp4")
    content = files.storage_path_for(owner, created.uuid)
    assert (content.storage_path, content.content_type, content.file_size, content.filename) == (
        created.storage_path,
        "video/mp4",
        1234,
        "clip.mp4",
    )


def test_deleting_a_transcribed_file_removes_it_and_its_children_in_one_statement(
    conn: Conn, files: MediaFileRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner, status="completed")
    speaker = factories.speaker(conn, owner, file_id)
    factories.segments(conn, file_id, ["one", "two"], speaker)
    _tag(conn, file_id, "keep-the-tag")
    _collection(conn, owner, "Mine", [file_id])
    _comment(conn, owner, file_id)
    conn.execute(
        "INSERT INTO tasks (id, user_id, media_file_id, task_type) VALUES ('job-del', %s, %s, 'transcription')",
        (owner.id, file_id),
    )
    conn.execute("INSERT INTO analytics (media_file_id) VALUES (%s)", (file_id,))
    path = files.storage_path_for(owner, file_uuid).storage_path

    seen: list[str] = []
    monkeypatch.setattr(statements, "observers", [lambda name, ms: seen.append(name)])
    assert files.delete(owner, file_uuid) == path
    assert seen == ["media_files.delete"]

    for table in ("transcript_segments", "speakers", "file_tags", "comments", "collection_members", "tasks"):
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE media_file_id = %s", (file_id,)).fetchone()
        assert row == (0,), table
    assert conn.execute("SELECT count(*) FROM tags WHERE name = 'keep-the-tag'").fetchone() == (1,)
    with pytest.raises(NotFound):
        files.get(owner, file_uuid)


def test_worker_writes_of_a_missing_file_are_not_found(
    conn: Conn, files: MediaFileRepository, work: FileProcessingRepository
) -> None:
    with pytest.raises(NotFound):
        files.get_by_id(-1)
    with pytest.raises(NotFound):
        work.set_metadata(-1, duration=1.0)


# -- ownership ---------------------------------------------------------------------------------------------------


def test_another_users_file_is_not_found_by_every_method_while_an_admin_sees_it_only_in_the_all_files_view(
    conn: Conn, files: MediaFileRepository
) -> None:
    owner, stranger, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True)
    plain_admin, admin = admin, admin.seeing_all()
    _, stuck = factories.media_file(conn, owner, status="processing", task_last_update=T0)
    _, errored = factories.media_file(conn, owner, status="error", file_hash=HASH_A)
    _, fresh = factories.media_file(conn, owner)

    attempts: dict[str, Callable[[Actor], object]] = {
        "get": lambda a: files.get(a, errored),
        "detail": lambda a: files.detail(a, errored),
        "state": lambda a: files.state(a, errored),
        "waveform": lambda a: files.waveform(a, errored),
        "storage_path_for": lambda a: files.storage_path_for(a, errored),
        "update": lambda a: files.update(a, errored, title="mine now"),
        "request_cancel": lambda a: files.request_cancel(a, fresh),
        "retry": lambda a: files.retry(a, errored),
        "reprocess": lambda a: files.reprocess(a, errored),
        "delete": lambda a: files.delete(a, errored),
    }
    for who in (stranger, plain_admin):
        for name, attempt in attempts.items():
            with pytest.raises(NotFound), conn.transaction():
                attempt(who)
                pytest.fail(f"{name} let another user reach the file")
    assert files.list_page(stranger).items == []
    assert files.list_page(plain_admin).items == []
    assert files.stuck_for(stranger, older_than_seconds=60) == []
    assert files.find_duplicate(stranger, HASH_A) is None
    assert files.get(owner, errored).title is None

    assert _uuids(files.list_page(admin)) >= {stuck, errored, fresh}
    assert stuck in [f.uuid for f in files.stuck_for(admin, older_than_seconds=60)]
    for name in ("get", "detail", "state", "waveform", "storage_path_for", "update", "request_cancel", "retry"):
        attempts[name](admin)
    assert files.get(owner, errored).status == "pending"
    assert files.get(owner, fresh).status == "cancelled"
    files.reprocess(admin, fresh)
    attempts["delete"](admin)
    with pytest.raises(NotFound):
        files.get(owner, errored)


# -- the file list -----------------------------------------------------------------------------------------------


def test_list_filters_by_status(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    _, done = factories.media_file(conn, owner, status="completed")
    _, waiting = factories.media_file(conn, owner, status="pending")
    assert _uuids(files.list_page(owner, status="completed")) == {done}
    assert _uuids(files.list_page(owner)) == {done, waiting}
    with pytest.raises(Invalid) as info:
        files.list_page(owner, status="finished")
    assert info.value.field == "status"


def test_list_filters_by_tag_name(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    tagged_id, tagged = factories.media_file(conn, owner)
    other_id, _ = factories.media_file(conn, owner)
    _tag(conn, tagged_id, "interview")
    _tag(conn, other_id, "podcast")
    page = files.list_page(owner, tag="interview")
    assert _uuids(page) == {tagged} and page.items[0].tags == ["interview"]
    assert files.list_page(owner, tag="nothing-tagged").items == []


def test_list_filters_by_collection_uuid_of_the_actors_own_collections(conn: Conn, files: MediaFileRepository) -> None:
    owner, other = factories.user(conn), factories.user(conn)
    inside_id, inside = factories.media_file(conn, owner)
    factories.media_file(conn, owner)
    mine = _collection(conn, owner, "Mine", [inside_id])
    theirs = _collection(conn, other, "Theirs", [inside_id])
    assert _uuids(files.list_page(owner, collection=mine)) == {inside}
    assert files.list_page(owner, collection=theirs).items == []
    assert files.list_page(owner, collection=uuid.uuid4()).items == []


def test_free_text_matches_filename_title_description_with_wildcards_taken_literally(
    conn: Conn, files: MediaFileRepository
) -> None:
    owner = factories.user(conn)
    _, percent = factories.media_file(conn, owner, title="100% Done")
    factories.media_file(conn, owner, title="100 percent")
    factories.media_file(conn, owner, title="1005 things")
    _, by_name = factories.media_file(conn, owner, filename="Quarterly_Review.mp3")
    factories.media_file(conn, owner, filename="QuarterlyXReview.mp3")
    _, by_description = factories.media_file(conn, owner, description="notes about the BUDGET")

    assert _uuids(files.list_page(owner, q="100%")) == {percent}
    assert _uuids(files.list_page(owner, q="y_r")) == {by_name}
    assert _uuids(files.list_page(owner, q="budget")) == {by_description}
    assert _uuids(files.list_page(owner, q="  ")) == _uuids(files.list_page(owner))
    assert files.list_page(owner, q="\\").items == []


def test_list_filters_by_upload_date_range_from_inclusive_to_exclusive(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    by_day = {day: factories.media_file(conn, owner, upload_time=T0 + timedelta(days=day))[1] for day in range(5)}
    page = files.list_page(owner, uploaded_from=T0 + timedelta(days=1), uploaded_to=T0 + timedelta(days=3))
    assert [row.uuid for row in page.items] == [by_day[2], by_day[1]]
    assert _uuids(files.list_page(owner, uploaded_from=T0 + timedelta(days=4))) == {by_day[4]}
    assert _uuids(files.list_page(owner, uploaded_to=T0 + timedelta(days=1))) == {by_day[0]}


def test_keyset_pages_walk_120_files_without_duplicates_or_gaps(conn: Conn, files: MediaFileRepository) -> None:
    owner, other = factories.user(conn), factories.user(conn)
    # groups of four share an upload time, so the id tie-break is exercised at page boundaries too
    expected = [factories.media_file(conn, owner, upload_time=T0 + timedelta(minutes=n // 4))[1] for n in range(120)]
    factories.media_file(conn, other)

    walked: list[UUID] = []
    sizes: list[int] = []
    next_cursor: str | None = None
    while True:
        page = files.list_page(owner, limit=50, cursor=next_cursor)
        sizes.append(len(page.items))
        walked += [row.uuid for row in page.items]
        keys = [(row.upload_time, row.id) for row in page.items]
        assert keys == sorted(keys, reverse=True)
        if page.next_cursor is None:
            break
        next_cursor = page.next_cursor
    assert sizes == [50, 50, 20]
    assert len(walked) == len(set(walked)) == 120
    assert set(walked) == set(expected)
    assert walked[0] in expected[-4:] and walked[-1] in expected[:4]

    assert next_cursor is not None
    tampered = [next_cursor[:-3] + "!!!", next_cursor[:-5], cursor.encode("tasks", T0, "job-1")]
    for token in tampered:
        with pytest.raises(NotFound) as info:
            files.list_page(owner, limit=50, cursor=token)
        assert info.value.field == "cursor"


def test_list_limits_are_clamped(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    for _ in range(3):
        factories.media_file(conn, owner)
    assert len(files.list_page(owner, limit=0).items) == 1
    assert len(files.list_page(owner, limit=10_000).items) == 3


def test_list_rows_carry_tags_and_counts_and_list_and_detail_are_one_statement_each(
    conn: Conn, files: MediaFileRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One statement once each transcript's segments were counted (repo/segment_counts.py); the first page of a
    process also counts, in a second one."""
    owner = factories.user(conn)
    for n in range(5):
        file_id, _ = factories.media_file(conn, owner, duration=60.0 + n, upload_time=T0 + timedelta(hours=n))
        speakers = [factories.speaker(conn, owner, file_id, f"SPEAKER_0{i}") for i in range(n % 3 + 1)]
        factories.segments(conn, file_id, [f"line {i}" for i in range(n + 1)], speakers[0])
        _tag(conn, file_id, "t-all")
        _tag(conn, file_id, f"t-{n}")
    _, last = factories.media_file(conn, owner, upload_time=T0 - timedelta(days=1))

    seen: list[str] = []
    monkeypatch.setattr(statements, "observers", [lambda name, ms: seen.append(name)])
    monkeypatch.setattr(media_files, "COUNTS", segment_counts.SegmentCounts())  # as in a process just started
    expected = [([f"t-{n}", "t-all"], n % 3 + 1, n + 1, 60.0 + n) for n in reversed(range(5))]
    for statements_sent in (["media_files.list_page", "media_files.segment_counts"], ["media_files.list_page"]):
        seen.clear()
        page = files.list_page(owner, limit=50)
        assert seen == statements_sent
        assert [(r.tags, r.speaker_count, r.segment_count, r.duration) for r in page.items[:5]] == expected
        assert (page.items[-1].uuid, page.items[-1].tags, page.items[-1].segment_count) == (last, [], 0)

    # A changed transcript is counted again, and only it.
    newest = page.items[0]
    conn.execute("DELETE FROM transcript_segments WHERE id IN (SELECT id FROM transcript_segments"
                 " WHERE media_file_id = %s LIMIT 2)", [newest.id])  # fmt: skip
    seen.clear()
    again = files.list_page(owner, limit=50)
    assert seen == ["media_files.list_page", "media_files.segment_counts"]
    counts = [r.segment_count for r in again.items]
    assert counts == [newest.segment_count - 2, *(r.segment_count for r in page.items[1:])]

    seen.clear()
    detail = files.detail(owner, page.items[0].uuid)
    assert seen == ["media_files.detail"]
    assert len(detail.speakers) == 2 and detail.segment_count == 5 - 2  # two deleted above


# -- processing state machine ------------------------------------------------------------------------------------


def test_a_file_goes_from_pending_through_processing_to_completed(
    conn: Conn, files: MediaFileRepository, work: FileProcessingRepository
) -> None:
    owner = factories.user(conn)
    created = _create(files, owner)
    queued = work.mark_queued(created.id, "job-1")
    assert (queued.status, queued.active_task_id) == ("queued", "job-1")
    started = work.start_processing(created.id, "job-1")
    assert started.status == "processing" and started.task_started_at is not None and started.progress == 0

    report = work.update_progress(created.id, "job-1", 0.4)
    assert report.accepted and not report.cancellation_requested and not report.should_stop
    work.set_metadata(
        created.id,
        duration=61.5,
        codec="pcm_s16le",
        audio_channels=2,
        metadata_raw={"Format": "WAVE"},
        waveform_data=[0.1, 0.5, 0.2],
    )
    done = work.complete(created.id, "job-1")
    assert (done.status, done.progress, done.active_task_id) == ("completed", 1.0, None)

    final = files.get(owner, created.uuid)
    assert final.completed_at is not None and final.duration == 61.5 and final.codec == "pcm_s16le"
    assert final.metadata_raw == {"Format": "WAVE"} and final.has_waveform and final.audio_channels == 2
    assert files.waveform(owner, created.uuid).waveform_data == [0.1, 0.5, 0.2]
    with pytest.raises(Conflict), conn.transaction():
        work.mark_queued(created.id, "job-2")


def test_only_the_job_that_owns_a_file_may_start_report_or_complete_it(
    conn: Conn, files: MediaFileRepository, work: FileProcessingRepository
) -> None:
    owner = factories.user(conn)
    file_id, _ = factories.media_file(conn, owner)
    work.mark_queued(file_id, "job-1")
    with pytest.raises(Conflict) as refused, conn.transaction():
        work.start_processing(file_id, "job-2")
    assert refused.value.field == "status"
    work.start_processing(file_id, "job-1")
    assert work.update_progress(file_id, "job-2", 0.5).should_stop
    with pytest.raises(Conflict), conn.transaction():
        work.complete(file_id, "job-2")
    with pytest.raises(Conflict), conn.transaction():
        work.fail(file_id, "job-2", "boom", "processing_error")
    with pytest.raises(Conflict), conn.transaction():
        work.start_processing(file_id, "job-1")
    assert files.get_by_id(file_id).progress == 0


def test_cancelling_a_running_file_flags_the_job_which_then_finishes_the_cancel(
    conn: Conn, files: MediaFileRepository, work: FileProcessingRepository
) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    work.start_processing(file_id, "job-1")
    cancelling = files.request_cancel(owner, file_uuid)
    assert (cancelling.status, cancelling.cancellation_requested) == ("cancelling", True)

    report = work.update_progress(file_id, "job-1", 0.3)
    assert report.accepted and report.cancellation_requested and report.should_stop
    with pytest.raises(Conflict), conn.transaction():
        work.complete(file_id, "job-1")
    cancelled = work.finish_cancel(file_id)
    assert (cancelled.status, cancelled.active_task_id) == ("cancelled", None)
    assert not work.update_progress(file_id, "job-1", 0.4).accepted
    with pytest.raises(Conflict) as again, conn.transaction():
        files.request_cancel(owner, file_uuid)
    assert again.value.field == "status"


def test_a_file_nobody_works_on_is_cancelled_at_once(
    conn: Conn, files: MediaFileRepository, work: FileProcessingRepository
) -> None:
    owner = factories.user(conn)
    pending_id, pending = factories.media_file(conn, owner)
    queued_id, queued = factories.media_file(conn, owner)
    work.mark_queued(queued_id, "job-q")
    assert files.request_cancel(owner, pending).status == "cancelled"
    after = files.request_cancel(owner, queued)
    assert (after.status, after.cancellation_requested, after.active_task_id) == ("cancelled", False, None)
    with pytest.raises(Conflict), conn.transaction():
        work.start_processing(queued_id, "job-q")
    with pytest.raises(Conflict), conn.transaction():
        work.finish_cancel(pending_id)


def test_a_failed_file_can_be_retried_until_its_budget_is_spent(
    conn: Conn, files: MediaFileRepository, work: FileProcessingRepository
) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner, max_retries=2)
    for attempt in (1, 2):
        work.start_processing(file_id, f"job-{attempt}")
        failed = work.fail(file_id, f"job-{attempt}", "decoder crashed", "processing_error")
        assert (failed.status, failed.last_error_message, failed.error_category) == (
            "error",
            "decoder crashed",
            "processing_error",
        )
        retried = files.retry(owner, file_uuid)
        assert (retried.status, retried.retry_count, retried.last_error_message) == ("pending", attempt, None)
    work.fail(file_id, "job-3", "again", "processing_error")
    with pytest.raises(Conflict) as spent, conn.transaction():
        files.retry(owner, file_uuid)
    assert spent.value.field == "retry_count"


def test_retry_and_reprocess_refuse_files_in_the_wrong_state(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    _, done = factories.media_file(conn, owner, status="completed", progress=1.0)
    _, running = factories.media_file(conn, owner, status="processing")
    with pytest.raises(Conflict) as info, conn.transaction():
        files.retry(owner, done)
    assert info.value.field == "status" and "completed" in info.value.detail
    with pytest.raises(Conflict), conn.transaction():
        files.reprocess(owner, running)


def test_reprocess_starts_a_finished_file_afresh(conn: Conn, files: MediaFileRepository) -> None:
    owner = factories.user(conn)
    _, file_uuid = factories.media_file(
        conn, owner, status="completed", progress=1.0, completed_at=T0, retry_count=2, last_error_message="old"
    )
    again = files.reprocess(owner, file_uuid)
    assert (again.status, again.progress, again.completed_at, again.retry_count, again.last_error_message) == (
        "pending",
        0.0,
        None,
        0,
        None,
    )


def test_stuck_files_are_found_and_sent_back_to_pending_by_recovery(
    conn: Conn, files: MediaFileRepository, work: FileProcessingRepository
) -> None:
    owner, other = factories.user(conn), factories.user(conn)
    stuck_id, stuck = factories.media_file(conn, owner, status="processing", active_task_id="job-lost")
    lively_id, _ = factories.media_file(conn, owner, status="processing", active_task_id="job-alive")
    conn.execute("UPDATE media_files SET task_last_update = now() - interval '2 hours' WHERE id = %s", (stuck_id,))
    conn.execute("UPDATE media_files SET task_last_update = now() WHERE id = %s", (lively_id,))

    assert [f.uuid for f in files.stuck_for(owner, older_than_seconds=3600)] == [stuck]
    assert files.stuck_for(other, older_than_seconds=3600) == []

    recovered = work.record_recovery(stuck_id)
    assert (recovered.status, recovered.recovery_attempts, recovered.active_task_id) == ("pending", 1, None)
    assert recovered.last_recovery_attempt is not None
    assert files.stuck_for(owner, older_than_seconds=3600) == []
    with pytest.raises(Conflict), conn.transaction():
        work.record_recovery(stuck_id)


# -- races (real commits, one connection per thread) -------------------------------------------------------------


def _race(db: Database, attempt: Callable[[Conn, int], object]) -> list[str]:
    """Runs attempt in two threads released together; each holds its transaction a moment after winning."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def contender(n: int) -> None:
        try:
            with db.transaction() as tx:
                barrier.wait(timeout=10)
                attempt(tx, n)
                time.sleep(0.2)
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")
        except Exception as exc:
            outcomes.append(repr(exc))

    threads = [threading.Thread(target=contender, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def test_two_workers_racing_to_start_the_same_file_exactly_one_wins(db: Database) -> None:
    with db.transaction() as tx:
        owner = factories.user(tx)
        file_id, _ = factories.media_file(tx, owner)

    outcomes = _race(db, lambda tx, n: FileProcessingRepository(tx).start_processing(file_id, f"job-{n}"))

    assert outcomes == ["conflict", "won"]
    with db.transaction() as tx:
        state = MediaFileRepository(tx).get_by_id(file_id)
    assert state.status == "processing" and state.active_task_id in {"job-1", "job-2"}


def test_two_racing_retries_count_once(db: Database) -> None:
    with db.transaction() as tx:
        owner = factories.user(tx)
        file_id, file_uuid = factories.media_file(tx, owner, status="error")

    outcomes = _race(db, lambda tx, n: MediaFileRepository(tx).retry(owner, file_uuid))

    assert outcomes == ["conflict", "won"]
    with db.transaction() as tx:
        assert MediaFileRepository(tx).get_by_id(file_id).retry_count == 1
