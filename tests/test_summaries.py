from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import psycopg
import pytest

from repo.database import Database
from repo.errors import Conflict, Invalid, NotFound
from repo.media_files import MediaFileRepository
from repo.rows import Actor
from repo.summaries import Summary, SummaryRepository
from tests import factories

Conn = psycopg.Connection[Any]


def _summary_status(conn: Conn, file_id: int) -> str | None:
    row = conn.execute("SELECT summary_status FROM media_files WHERE id = %s", [file_id]).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _general_prompt_id(conn: Conn) -> int:
    row = conn.execute("SELECT id FROM summary_prompts WHERE is_system_default AND content_type = 'general'")
    found = row.fetchone()
    assert found is not None
    return int(found[0])


def _pending(repo: SummaryRepository, actor: Actor | int, file_id: int) -> Summary:
    return repo.create_pending(actor, file_id, None, None, "openai", "gpt-4o")


def _complete(repo: SummaryRepository, summary_id: int, bluf: str = "The bottom line.") -> Summary:
    return repo.complete(
        summary_id,
        bluf,
        "A brief summary.",
        ["budget", "hiring"],
        [{"item": "send the report", "owner": "Ann"}],
        ["hire two people"],
        ["check the numbers"],
        '{"bluf": "..."}',
        1200,
        300,
        4500,
    )


def test_versions_count_up_per_file(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, _ = factories.media_file(conn, me)
    other_file, _ = factories.media_file(conn, me)
    repo = SummaryRepository(conn)
    prompt_id = _general_prompt_id(conn)
    first = repo.create_pending(me, file_id, prompt_id, None, "openai", "gpt-4o")
    assert (first.version, first.status, first.prompt_id, first.user_id) == (1, "pending", prompt_id, me.id)
    assert first.major_topics == [] and first.bluf is None
    assert [_pending(repo, me, file_id).version for _ in range(2)] == [2, 3]
    assert _pending(repo, me.id, other_file).version == 1
    assert _summary_status(conn, file_id) == "pending"


def test_the_lifecycle_and_the_files_summary_status(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, me)
    repo = SummaryRepository(conn)
    created = _pending(repo, me, file_id)
    started = repo.start(created.id)
    assert started.status == "processing" and started.started_at is not None
    assert _summary_status(conn, file_id) == "processing"
    done = _complete(repo, created.id)
    assert done.status == "completed" and done.completed_at is not None
    assert done.bluf == "The bottom line." and done.major_topics == ["budget", "hiring"]
    assert done.action_items == [{"item": "send the report", "owner": "Ann"}]
    assert (done.input_tokens, done.output_tokens, done.processing_ms) == (1200, 300, 4500)
    assert _summary_status(conn, file_id) == "completed"
    assert repo.get(me, created.uuid) == done == repo.get_by_id(created.id)
    assert repo.list_for_file(me, file_uuid) == [done]
    assert MediaFileRepository(conn).get(me, file_uuid).summary_status == "completed"


def test_failure_is_recorded(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, _ = factories.media_file(conn, me)
    repo = SummaryRepository(conn)
    created = _pending(repo, me, file_id)
    repo.start(created.id)
    failed = repo.fail(created.id, "the model answered with no JSON", "Sorry, I cannot")
    assert failed.status == "failed" and failed.error_message == "the model answered with no JSON"
    assert failed.raw_response == "Sorry, I cannot"
    assert _summary_status(conn, file_id) == "failed"
    never_started = _pending(repo, me, file_id)
    assert repo.fail(never_started.id, "no LLM configured").status == "failed"


def test_transitions_from_the_wrong_state_are_conflicts(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, _ = factories.media_file(conn, me)
    repo = SummaryRepository(conn)
    created = _pending(repo, me, file_id)
    with pytest.raises(Conflict):
        _complete(repo, created.id)
    repo.start(created.id)
    with pytest.raises(Conflict):
        repo.start(created.id)
    _complete(repo, created.id)
    after_completion: list[Callable[[], object]] = [
        lambda: repo.start(created.id),
        lambda: _complete(repo, created.id),
        lambda: repo.fail(created.id, "x"),
    ]
    for call in after_completion:
        with pytest.raises(Conflict) as caught:
            call()
        assert caught.value.field == "status"
    assert repo.get_by_id(created.id).status == "completed"
    for call in (lambda: repo.start(-1), lambda: repo.fail(-1, "x"), lambda: repo.get_by_id(-1)):
        with pytest.raises(NotFound):
            call()


def test_an_older_version_does_not_overwrite_the_files_status(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, _ = factories.media_file(conn, me)
    repo = SummaryRepository(conn)
    old = _pending(repo, me, file_id)
    repo.start(old.id)
    _pending(repo, me, file_id)
    repo.fail(old.id, "timed out")
    assert _summary_status(conn, file_id) == "pending"


def test_list_newest_first(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, me)
    _, empty_uuid = factories.media_file(conn, me)
    repo = SummaryRepository(conn)
    first = _pending(repo, me, file_id)
    repo.start(first.id)
    _complete(repo, first.id)
    second = _pending(repo, me, file_id)
    assert [s.version for s in repo.list_for_file(me, file_uuid)] == [2, 1]
    assert [s.uuid for s in repo.list_for_file(me, file_uuid, limit=1)] == [second.uuid]
    assert repo.list_for_file(me, empty_uuid) == []


def test_another_users_summaries_behave_like_missing_ones(conn: Conn) -> None:
    me, other, admin = factories.user(conn), factories.user(conn), factories.user(conn, admin=True)
    file_id, file_uuid = factories.media_file(conn, me)
    repo = SummaryRepository(conn)
    mine = _pending(repo, me, file_id)
    cross_user: list[Callable[[], object]] = [
        lambda: _pending(repo, other, file_id),
        lambda: _pending(repo, other.id, file_id),
        lambda: repo.list_for_file(other, file_uuid),
        lambda: repo.get(other, mine.uuid),
        lambda: repo.get(me, uuid4()),
        lambda: repo.list_for_file(me, uuid4()),
    ]
    for call in cross_user:
        with pytest.raises(NotFound):
            call()
    with pytest.raises(NotFound):
        repo.list_for_file(admin, file_uuid)
    admin = admin.seeing_all()  # an admin reaches another's file only in the all-files view
    assert [s.uuid for s in repo.list_for_file(admin, file_uuid)] == [mine.uuid]
    assert repo.get(admin, mine.uuid) == mine
    assert _pending(repo, admin, file_id).version == 2


def test_another_users_prompt_or_configuration_cannot_be_used(conn: Conn) -> None:
    me, other = factories.user(conn), factories.user(conn)
    file_id, _ = factories.media_file(conn, me)
    row = conn.execute(
        "INSERT INTO summary_prompts (user_id, name, prompt_text) VALUES (%s, 'theirs', 'x') RETURNING id", [other.id]
    ).fetchone()
    config = conn.execute(
        "INSERT INTO user_llm_configurations (user_id, name, provider, model_name) "
        "VALUES (%s, 'theirs', 'openai', 'gpt-4o') RETURNING id",
        [other.id],
    ).fetchone()
    assert row is not None and config is not None
    repo = SummaryRepository(conn)
    with pytest.raises(Invalid):
        repo.create_pending(me, file_id, row[0], None, "openai", "gpt-4o")
    with pytest.raises(Invalid):
        repo.create_pending(me, file_id, None, config[0], "openai", "gpt-4o")
    assert repo.create_pending(me, file_id, _general_prompt_id(conn), None, None, None).version == 1


def test_deleting_the_file_deletes_its_summaries(conn: Conn) -> None:
    me = factories.user(conn)
    file_id, _ = factories.media_file(conn, me)
    repo = SummaryRepository(conn)
    created = _pending(repo, me, file_id)
    conn.execute("DELETE FROM media_files WHERE id = %s", [file_id])
    with pytest.raises(NotFound):
        repo.get_by_id(created.id)


def test_concurrent_creates_get_consecutive_versions(db: Database) -> None:
    with db.transaction() as conn:
        me = factories.user(conn)
        file_id, file_uuid = factories.media_file(conn, me)
    first_created = threading.Event()
    release_first = threading.Event()
    versions: list[int] = []
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with db.transaction() as conn:
                versions.append(_pending(SummaryRepository(conn), me, file_id).version)
                first_created.set()
                release_first.wait(10)
        except BaseException as exc:
            errors.append(exc)
            first_created.set()

    def second() -> None:
        try:
            with db.transaction() as conn:
                versions.append(_pending(SummaryRepository(conn), me, file_id).version)
        except BaseException as exc:
            errors.append(exc)

    one = threading.Thread(target=first)
    one.start()
    assert first_created.wait(10)
    two = threading.Thread(target=second)
    two.start()
    time.sleep(0.3)  # the second transaction is now waiting for the file's lock
    assert versions == [1]
    release_first.set()
    one.join(10)
    two.join(10)
    assert errors == [] and versions == [1, 2]
    with db.transaction() as conn:
        assert [s.version for s in SummaryRepository(conn).list_for_file(me, file_uuid)] == [2, 1]
