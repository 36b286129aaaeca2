"""Retention and legal hold (README: Retention and legal hold): recordings deleted on schedule with every row and
stored object, the shortest policy wins, holds stop it, owners are told once before, the dry run lists exactly what
the run deletes, each deletion on the audit trail, the audit log's own retention, bad input refused naming the field.

The job runs for real: queued as maintenance queues it and run by `opentr worker --burst`, or one pass in-process
(workers/retention_job.run_pass, what the job and `opentr retention run` both call), on the real PostgreSQL.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from redis import Redis
from rq import Queue

from config.settings import Settings
from jobs.queues import EMBEDDINGS
from jobs.retention import queue_retention
from repo import schema
from repo.audit import AuditLog
from repo.database import Database
from repo.rows import Actor
from storage.backend import open_storage
from tests import factories
from tests.test_row_security import _seed
from tests.web import actor_of, make_admin, register, sign_up
from tests.workers_support import WorkerEnv
from workers.maintenance import Maintenance
from workers.retention_job import RetentionReport, run_pass

TITLES = ["会議の録音 2026", "اجتماع الفريق 🎙️", "Größe 😀 ü"]


# --- helpers ------------------------------------------------------------------------------------------------------


def _settings(home: Path, url: str = "", redis_url: str = "", **retention: Any) -> Settings:
    base: dict[str, Any] = {"opentr_home": home, "db_pool_min": 1, "db_pool_max": 4, "db_pool_timeout": 5}
    if url:
        base |= {"database_url": schema.to_url(url), "redis_url": redis_url}
    return Settings(**base, **retention)


def _run(url: str, settings: Settings, *, dry_run: bool = False) -> RetentionReport:
    with Database(url, settings, application_name="opentr-test") as db, db.acting_as_system():
        return run_pass(db, open_storage(settings), settings, dry_run=dry_run)


def _sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _counts(url: str) -> dict[str, int]:
    """Rows in every table of the public schema."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
        return {
            t: int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0])  # type: ignore[index]
            for t in tables
        }


def _stored(settings: Settings, storage_path: str) -> list[Path]:
    """The media and its companions written to storage, as an upload and processing leave them."""
    original = settings.storage_dir / storage_path
    original.parent.mkdir(parents=True, exist_ok=True)
    paths = [
        original,
        original.with_name(original.name + ".thumbnail.jpg"),
        original.with_name(original.name + ".transcript"),
    ]
    for path in paths:
        path.write_bytes(b"RIFF media")
    return paths


def _file(url: str, owner: Actor, title: str, days_old: float) -> tuple[int, str, str]:
    """(id, uuid, storage path) of a completed file uploaded `days_old` days ago."""
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", title=title)
        conn.execute(
            "UPDATE media_files SET upload_time = now() - make_interval(secs => %s) WHERE id = %s",
            [days_old * 86400, file_id],
        )
        path = conn.execute("SELECT storage_path FROM media_files WHERE id = %s", [file_id]).fetchone()
    assert path is not None
    return file_id, str(file_uuid), str(path[0])


def _exists(url: str, file_uuid: str) -> bool:
    return bool(_sql(url, "SELECT 1 FROM media_files WHERE uuid = %s", file_uuid))


def _admin(client: Any, url: str) -> dict[str, str]:
    headers = register(client)
    make_admin(url, headers, client)
    return headers


def _set_default(client: Any, admin: dict[str, str], days: int | None) -> None:
    response = client.put("/api/admin/retention", headers=admin, json={"default_days": days})
    assert response.status_code == 200, response.text
    assert response.json()["default_days"] == days


def _audit(url: str, action: str) -> list[tuple[Any, ...]]:
    return _sql(url, "SELECT actor_id, object_id, details FROM audit_log WHERE action = %s ORDER BY id", action)


@pytest.fixture
def no_notice(tmp_path: Path, fresh_url: str, redis_url: str) -> Settings:
    """Deletion when due (no notice period), as the job reads its settings."""
    return _settings(tmp_path / "home", fresh_url, redis_url, opentr_retention_notice_days=0)


@pytest.fixture
def workers(app_settings: Settings, fresh_url: str, redis_url: str) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()
    yield WorkerEnv(fresh_url, redis_url, app_settings.opentr_home)
    Redis.from_url(redis_url).flushdb()


# --- the job, for real ----------------------------------------------------------------------------------------------


def test_a_file_past_the_default_goes_with_every_row_and_object(
    client: Any, fresh_url: str, app_settings: Settings, workers: WorkerEnv, db: Database
) -> None:
    """The job as maintenance queues it, run by a real worker: the file, each of its rows in every table, and its
    stored objects go; a file not yet due stays whole; the deletion is on the audit trail, by the system."""
    admin = _admin(client, fresh_url)
    with db.acting_as_system(), db.transaction() as conn:
        world = _seed(conn)  # A's file has a row in every table keyed by a file
        conn.execute("UPDATE legal_holds SET released_at = now() WHERE media_file_id = %s", [world.file_a])
        conn.execute("UPDATE media_files SET upload_time = now() - interval '31 days' WHERE id = %s", [world.file_a])
        path_a, uuid_a, title_a = conn.execute(
            "SELECT storage_path, uuid::text, title FROM media_files WHERE id = %s", [world.file_a]
        ).fetchone()  # type: ignore[misc]
        path_b = conn.execute("SELECT storage_path FROM media_files WHERE id = %s", [world.file_b]).fetchone()[0]  # type: ignore[index]
    objects_a, objects_b = _stored(app_settings, path_a), _stored(app_settings, path_b)
    _set_default(client, admin, 30)
    with db.acting_as_system(), db.transaction() as conn:
        queued = queue_retention(conn, 3600)
    assert queued is not None and queued.enqueue(Redis.from_url(workers.redis_url))
    before = _counts(fresh_url)
    assert Queue(EMBEDDINGS, connection=Redis.from_url(workers.redis_url)).count == 1
    done = workers.run_burst(OPENTR_RETENTION_NOTICE_DAYS="0")
    assert done.returncode == 0, done.stdout + done.stderr

    status = _sql(fresh_url, "SELECT status FROM tasks WHERE id = %s", queued.task_id)
    assert status == [("completed",)]
    after = _counts(fresh_url)
    changed = {t: after[t] - before[t] for t in before if after[t] != before[t]}
    assert changed == {
        "media_files": -1,
        "transcript_segments": -2,
        "segment_words": -1,
        "transcript_versions": -1,  # the version its segments were written under
        "speakers": -2,
        "speaker_matches": -1,
        "speaker_profile_suggestions": -1,
        "file_tags": -1,
        "comments": -1,
        "collection_members": -1,
        "analytics": -1,
        "processing_choices": -1,
        "passages": -1,
        "file_summaries": -1,
        "public_links": -1,
        "tasks": -1,  # the file's transcription task (the run's own task stays, completed)
        "transcript_staging": -1,
        "questions": -1,
        "shares": -1,
        "legal_holds": -1,  # the lifted hold, history of a file that is gone
        "retention_notices": -1,
        # Step 21: what a language model made of the file (a translation run, its segments, a proposed name, topics)
        "llm_runs": -1,
        "translated_segments": -1,
        "speaker_name_proposals": -1,
        "file_topics": -1,
        "audit_log": +1,  # retention.delete
    }, changed
    assert not any(p.exists() for p in objects_a), "the media, its thumbnail and its sidecar are gone"
    assert all(p.exists() for p in objects_b), "a file not due keeps its stored objects"
    [(actor, object_id, details)] = _audit(fresh_url, "retention.delete")
    assert (actor, object_id) == (None, uuid_a)
    assert details == {
        "policy": {"source": "default", "days": 30},
        "owner_id": world.a.id,
        "title": title_a,
        "due_at": details["due_at"],
    }
    assert title_a == "اجتماع الفريق 🎙️"


def test_maintenance_queues_one_run_at_a_time_and_not_before_its_interval(
    fresh_url: str, redis_url: str, tmp_path: Path, db: Database
) -> None:
    Redis.from_url(redis_url).flushdb()
    settings = _settings(tmp_path / "home", fresh_url, redis_url, opentr_retention_interval_seconds=0.05)
    maintenance = Maintenance(settings, fresh_url, redis_url)
    try:
        redis = Redis.from_url(redis_url)
        assert maintenance.queue_retention(redis) is False, "no administrator: no task to file a run under"
        with db.acting_as_system(), db.transaction() as conn:
            factories.user(conn, admin=True)
        assert maintenance.queue_retention(redis) is True
        assert maintenance.queue_retention(redis) is False, "one waits already"
        [(task_id, status)] = _sql(fresh_url, "SELECT id, status FROM tasks WHERE task_type = 'retention'")
        assert status == "pending" and Queue(EMBEDDINGS, connection=redis).job_ids == [task_id]
        _sql(fresh_url, "UPDATE tasks SET status = 'completed', created_at = now() - interval '1 hour'")
        for _ in range(5):  # its first pass after the interval queues the next run (a pass that met a busy
            maintenance.run_once()  # machine's pool timeout is retried at the next one, as the worker does)
            if len(_sql(fresh_url, "SELECT 1 FROM tasks WHERE task_type = 'retention'")) == 2:
                break
        assert len(_sql(fresh_url, "SELECT 1 FROM tasks WHERE task_type = 'retention'")) == 2
        hourly = Maintenance(_settings(tmp_path / "h2", fresh_url, redis_url), fresh_url, redis_url)
        try:
            _sql(fresh_url, "UPDATE tasks SET status = 'completed', created_at = now() - interval '2 hours'")
            hourly.run_once()  # a worker just started waits one interval before its first run
            assert len(_sql(fresh_url, "SELECT 1 FROM tasks WHERE task_type = 'retention'")) == 2
        finally:
            hourly.stop()
    finally:
        maintenance.stop()
        redis.flushdb()


# --- the rule -------------------------------------------------------------------------------------------------------


def test_the_shortest_applicable_policy_wins(client: Any, fresh_url: str, no_notice: Settings) -> None:
    admin = _admin(client, fresh_url)
    owner = register(client)
    actor = actor_of(client, fresh_url, owner)
    _set_default(client, admin, 365)
    collection = client.post("/api/collections", headers=owner, json={"name": "Kurzzeit 短期"}).json()["uuid"]
    put = client.put(f"/api/collections/{collection}/retention", headers=owner, json={"days": 10})
    assert put.status_code == 200 and put.json()["days"] == 10
    _, in_collection, _ = _file(fresh_url, actor, "in the collection", 11)
    _, outside, _ = _file(fresh_url, actor, "outside", 11)
    _, young, _ = _file(fresh_url, actor, "young", 9)
    added = client.post(
        f"/api/collections/{collection}/files", headers=owner, json={"file_uuids": [in_collection, young]}
    )
    assert added.status_code == 200, added.text

    schedule = client.get(f"/api/files/{in_collection}/retention", headers=owner).json()
    assert (schedule["days"], schedule["source"], schedule["collection_name"]) == (10, "collection", "Kurzzeit 短期")
    assert client.get(f"/api/files/{outside}/retention", headers=owner).json()["days"] == 365
    report = _run(fresh_url, no_notice)
    assert [str(p.uuid) for p in report.due] == [in_collection]
    assert not _exists(fresh_url, in_collection) and _exists(fresh_url, outside) and _exists(fresh_url, young)
    [(_, _, details)] = _audit(fresh_url, "retention.delete")
    assert details["policy"] == {
        "source": "collection",
        "days": 10,
        "collection": collection,
        "collection_name": "Kurzzeit 短期",
    }
    # removing the collection's policy leaves the default
    assert (
        client.put(f"/api/collections/{collection}/retention", headers=owner, json={"days": None}).json()["days"]
        is None
    )
    assert client.get(f"/api/files/{young}/retention", headers=owner).json()["days"] == 365
    changes = [d for (_, _, d) in _audit(fresh_url, "settings.update") if d["setting"] == "retention.days"]
    assert [(d["from"], d["to"]) for d in changes] == [(None, 10), (10, None)]


def test_only_the_owner_sets_a_collections_policy(client: Any, fresh_url: str) -> None:
    owner, other = register(client), register(client)
    collection = client.post("/api/collections", headers=owner, json={"name": "mine"}).json()["uuid"]
    refused = client.put(f"/api/collections/{collection}/retention", headers=other, json={"days": 1})
    assert refused.status_code == 404
    assert client.get(f"/api/collections/{collection}/retention", headers=owner).json()["days"] is None
    admin = _admin(client, fresh_url)
    path = f"/api/collections/{collection}/retention"
    assert client.put(path, headers=admin, json={"days": 5}).status_code == 404, "not outside the all-files view"
    in_view = client.put(path, headers=admin, params={"view": "all"}, json={"days": 5})
    assert in_view.status_code == 200 and in_view.json()["days"] == 5


def test_a_hold_on_the_file_or_its_collection_stops_deletion(client: Any, fresh_url: str, no_notice: Settings) -> None:
    admin, owner = _admin(client, fresh_url), register(client)
    actor = actor_of(client, fresh_url, owner)
    _set_default(client, admin, 30)
    _, held_file, _ = _file(fresh_url, actor, "held itself", 40)
    _, in_held, _ = _file(fresh_url, actor, "in a held collection", 40)
    _, free, _ = _file(fresh_url, actor, "free", 40)
    collection = client.post("/api/collections", headers=owner, json={"name": "Akte"}).json()["uuid"]
    client.post(f"/api/collections/{collection}/files", headers=owner, json={"file_uuids": [in_held]})
    on_file = client.post("/api/admin/holds", headers=admin, json={"file_uuid": held_file, "reason": "Klage 訴訟"})
    assert on_file.status_code == 201, on_file.text
    on_collection = client.post(
        "/api/admin/holds", headers=admin, json={"collection_uuid": collection, "reason": "تحقيق ⚖️"}
    )
    assert on_collection.status_code == 201, on_collection.text
    again = client.post("/api/admin/holds", headers=admin, json={"file_uuid": held_file, "reason": "twice"})
    assert again.status_code == 409

    # the owner sees the holds on the file and the collection
    shown = client.get(f"/api/files/{held_file}/retention", headers=owner).json()
    assert shown["hold_reason"] == "Klage 訴訟"
    assert client.get(f"/api/files/{in_held}/retention", headers=owner).json()["hold_reason"] == "تحقيق ⚖️"
    assert client.get(f"/api/collections/{collection}/retention", headers=owner).json()["hold_reason"] == "تحقيق ⚖️"

    report = _run(fresh_url, no_notice)
    assert [str(p.uuid) for p in report.due] == [free]
    assert sorted(str(p.uuid) for p in report.held) == sorted([held_file, in_held])
    assert _exists(fresh_url, held_file) and _exists(fresh_url, in_held) and not _exists(fresh_url, free)

    lifted = client.delete(f"/api/admin/holds/{on_file.json()['uuid']}", headers=admin)
    assert lifted.status_code == 200 and lifted.json()["released_at"] is not None
    assert client.delete(f"/api/admin/holds/{on_file.json()['uuid']}", headers=admin).status_code == 404
    history = client.get("/api/admin/holds", headers=admin, params={"active": "false"}).json()
    assert {h["reason"]: h["released_at"] is None for h in history} == {"Klage 訴訟": False, "تحقيق ⚖️": True}
    report = _run(fresh_url, no_notice)
    assert [str(p.uuid) for p in report.due] == [held_file]
    assert not _exists(fresh_url, held_file) and _exists(fresh_url, in_held)
    holds = _audit(fresh_url, "retention.hold")
    assert [(o, d["reason"]) for (_, o, d) in holds] == [(held_file, "Klage 訴訟"), (collection, "تحقيق ⚖️")]
    assert [o for (_, o, _) in _audit(fresh_url, "retention.release")] == [held_file]


def test_the_owner_is_told_once_before_deletion(client: Any, fresh_url: str, tmp_path: Path, db: Database) -> None:
    """Default notice period (7 days): told when due within it, once per file and due date; deleted no earlier than
    the notice period after being told."""
    admin, owner = _admin(client, fresh_url), register(client)
    actor = actor_of(client, fresh_url, owner)
    settings = _settings(tmp_path / "h")
    assert settings.opentr_retention_notice_days == 7
    _set_default(client, admin, 30)
    soon_id, soon, _ = _file(fresh_url, actor, "会議 soon", 25)  # due in 5 days
    _, overdue, _ = _file(fresh_url, actor, "overdue", 45)  # due, never told
    _, later, _ = _file(fresh_url, actor, "later", 10)  # due in 20 days: not yet told

    first = _run(fresh_url, settings)
    assert first.notified == 2 and first.due == []
    notices = client.get("/api/notifications", headers=owner).json()["items"]
    told = [n for n in notices if n["title"] == "recording due for deletion"]
    assert len(told) == 2 and any("“会議 soon”" in n["message"] for n in told)
    second = _run(fresh_url, settings)
    assert second.notified == 0 and second.due == []
    assert _exists(fresh_url, overdue), "told just now: it goes a notice period later"
    # a notice period later the overdue file goes; the one told 5 days before its due date goes when due
    _sql(fresh_url, "UPDATE retention_notices SET notified_at = now() - interval '8 days'")
    third = _run(fresh_url, settings)
    assert [str(p.uuid) for p in third.due] == [overdue]
    assert _exists(fresh_url, soon) and _exists(fresh_url, later)
    _sql(fresh_url, "UPDATE media_files SET upload_time = upload_time - interval '6 days' WHERE id = %s", soon_id)
    fourth = _run(fresh_url, settings)
    assert [str(p.uuid) for p in fourth.due] == [soon] and fourth.notified == 0
    with db.acting(actor), db.transaction() as conn:  # the owner's notices, read under row-level security
        mine = conn.execute("SELECT count(*) FROM retention_notices").fetchone()
    assert mine == (0,), "the deleted files' notices went with them"
    kept = client.get("/api/notifications", headers=owner).json()["items"]
    assert len([n for n in kept if n["title"] == "recording due for deletion"]) == 2, "told once per file"


# --- the dry run ----------------------------------------------------------------------------------------------------


def test_the_dry_run_deletes_nothing_and_lists_what_the_run_deletes(
    fresh_url: str, no_notice: Settings, workers: WorkerEnv
) -> None:
    from starlette.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app(no_notice)) as client:
        _dry_run_then_run(client, fresh_url, no_notice, workers)


def _dry_run_then_run(client: Any, fresh_url: str, no_notice: Settings, workers: WorkerEnv) -> None:
    admin, owner = _admin(client, fresh_url), register(client)
    actor = actor_of(client, fresh_url, owner)
    _set_default(client, admin, 30)
    due = {_file(fresh_url, actor, title, 31 + i)[1]: title for i, title in enumerate(TITLES)}
    _, held, _ = _file(fresh_url, actor, "held", 40)
    _, young, _ = _file(fresh_url, actor, "young", 2)
    assert client.post("/api/admin/holds", headers=admin, json={"file_uuid": held, "reason": "r"}).status_code == 201
    before = _counts(fresh_url)

    preview = client.get("/api/admin/retention/preview", headers=admin)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    listed = {item["file_uuid"]: item["title"] for item in body["due"]}
    assert [item["file_uuid"] for item in body["held"]] == [held]
    assert all(item["policy"] == {"source": "default", "days": 30} for item in body["due"])
    cli = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "retention", "run", "--dry-run"],
        env=workers.env(OPENTR_RETENTION_NOTICE_DAYS="0"),
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    dry = _run(fresh_url, no_notice, dry_run=True)
    assert _counts(fresh_url) == before, "a dry run changes nothing (the preview neither)"
    assert listed == due, "the preview shows each title as it was written"
    assert {str(p.uuid): p.title for p in dry.due} == due
    for uuid, title in due.items():
        assert f"would delete: {uuid} “{title}”" in cli.stdout
    assert f"held: {held}" in cli.stdout and young not in cli.stdout

    done = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "retention", "run"],
        env=workers.env(OPENTR_RETENTION_NOTICE_DAYS="0"),
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    gone = {uuid for uuid in [*due, held, young] if not _exists(fresh_url, uuid)}
    assert gone == set(due), "the run deleted exactly what the dry run listed"
    audited = {object_id: details["title"] for (_, object_id, details) in _audit(fresh_url, "retention.delete")}
    assert audited == due, "each deletion on the trail, its title as written"
    raw = _sql(fresh_url, "SELECT details::text FROM audit_log WHERE action = 'retention.delete'")
    assert any(json.loads(r[0])["title"] == "اجتماع الفريق 🎙️" for r in raw)


# --- the audit log's own retention ----------------------------------------------------------------------------------


def test_the_audit_purge_respects_its_period_and_the_trail_stays_append_only(
    fresh_url: str, tmp_path: Path, db: Database
) -> None:
    _sql(
        fresh_url,
        "INSERT INTO audit_log (at, action, details) VALUES "
        "(now() - interval '400 days', 'signin.password', '{\"n\": \"old 古い\"}'), "
        "(now() - interval '366 days', 'share.create', '{}'), "
        "(now() - interval '300 days', 'signin.password', '{\"n\": \"kept\"}')",
    )
    forever = _run(fresh_url, _settings(tmp_path / "a", opentr_audit_retention_days=0))
    assert forever.audit_purged == 0
    assert len(_sql(fresh_url, "SELECT 1 FROM audit_log")) == 3

    dry = _run(fresh_url, _settings(tmp_path / "b"), dry_run=True)
    assert dry.audit_purged == 2 and len(_sql(fresh_url, "SELECT 1 FROM audit_log")) == 3
    real = _run(fresh_url, _settings(tmp_path / "c"))
    assert real.audit_purged == 2
    rows = _sql(fresh_url, "SELECT action, details FROM audit_log ORDER BY id")
    assert rows == [("signin.password", {"n": "kept"}), ("retention.audit_purge", {"count": 2, "older_than_days": 365})]

    # The purge's permission ends with it: the rest of its transaction cannot delete or change the trail, as the
    # system or as the application's role.
    with db.acting_as_system(), db.transaction() as conn:
        assert AuditLog(conn).purge_older_than(365) == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), conn.transaction():
            conn.execute("DELETE FROM audit_log")
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"), conn.transaction():
            conn.execute("UPDATE audit_log SET action = 'x.y'")
    with (
        db.acting(Actor(1, is_admin=True)),
        db.transaction() as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
        conn.transaction(),
    ):
        conn.execute("DELETE FROM audit_log")
    assert len(_sql(fresh_url, "SELECT 1 FROM audit_log")) == 2


# --- bad input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 0, 36501, 1e308, "30", True, 2.5, [30]])
def test_bad_periods_are_refused_naming_the_field(client: Any, fresh_url: str, value: Any) -> None:
    admin, owner = _admin(client, fresh_url), register(client)
    _set_default(client, admin, 90)
    collection = client.post("/api/collections", headers=owner, json={"name": "c"}).json()["uuid"]
    assert client.put(f"/api/collections/{collection}/retention", headers=owner, json={"days": 20}).status_code == 200

    refused = client.put("/api/admin/retention", headers=admin, json={"default_days": value})
    assert refused.status_code == 422 and refused.json()["field"] == "default_days", refused.text
    refused = client.put(f"/api/collections/{collection}/retention", headers=owner, json={"days": value})
    assert refused.status_code == 422 and refused.json()["field"] == "days", refused.text
    assert client.get("/api/admin/retention", headers=admin).json()["default_days"] == 90, "nothing stored is lost"
    assert client.get(f"/api/collections/{collection}/retention", headers=owner).json()["days"] == 20


def test_bad_holds_are_refused_naming_the_field(client: Any, fresh_url: str) -> None:
    admin, owner = _admin(client, fresh_url), register(client)
    file_uuid = _file(fresh_url, actor_of(client, fresh_url, owner), "f", 1)[1]
    collection = client.post("/api/collections", headers=owner, json={"name": "c"}).json()["uuid"]
    cases = [
        ({"file_uuid": file_uuid, "reason": ""}, "reason"),
        ({"file_uuid": file_uuid, "reason": "x" * 1001}, "reason"),
        ({"file_uuid": file_uuid, "reason": "   "}, "reason"),
        ({"file_uuid": file_uuid, "reason": 5}, "reason"),
        ({"file_uuid": "not-a-uuid", "reason": "r"}, "file_uuid"),
        ({"file_uuid": file_uuid, "collection_uuid": collection, "reason": "r"}, "file_uuid"),
        ({"reason": "r"}, "file_uuid"),
    ]
    for body, field in cases:
        refused = client.post("/api/admin/holds", headers=admin, json=body)
        assert refused.status_code == 422 and refused.json()["field"] == field, (body, refused.text)
    unknown = client.post(
        "/api/admin/holds", headers=admin, json={"file_uuid": "00000000-0000-4000-8000-000000000000", "reason": "r"}
    )
    assert unknown.status_code == 404 and unknown.json()["field"] == "file_uuid"
    assert client.get("/api/admin/holds", headers=admin).json() == []
    assert (
        client.post("/api/admin/holds", headers=owner, json={"file_uuid": file_uuid, "reason": "r"}).status_code == 403
    )


# --- the pages ------------------------------------------------------------------------------------------------------


def test_the_pages_show_and_set_retention_and_holds(client: Any, fresh_url: str) -> None:
    email = f"admin-{secrets.token_hex(4)}@example.com"
    token = sign_up(client, email)
    [(admin_id,)] = _sql(fresh_url, "UPDATE users SET role = 'admin' WHERE email = %s RETURNING id", email)
    file_id, file_uuid, _ = _file(fresh_url, Actor(admin_id, True), TITLES[0], 40)
    [(collection_id, collection)] = _sql(
        fresh_url, "INSERT INTO collections (user_id, name) VALUES (%s, 'Archiv 📁') RETURNING id, uuid::text", admin_id
    )

    def post(path: str, **fields: str) -> Any:
        return client.post(path, data={"csrf": token, **fields}, follow_redirects=False)

    assert post("/admin/retention", default_days="30").status_code == 303
    for bad in ("-5", "0", "1e308", "abc", "36501"):
        refused = post("/admin/retention", default_days=bad)
        assert refused.status_code == 422 and "Retention period: a whole number of days" in refused.text, bad
    admin_page = client.get("/admin").text
    assert 'value="30"' in admin_page and f"{TITLES[0]}</a>" in admin_page, "the dry run lists the file by its title"
    assert admin_page.count('id="retention"') == 1 and re.search(r"<title>Admin\b[^<]*</title>", admin_page)
    assert "Due for deletion on" in client.get(f"/files/{file_uuid}").text

    assert post("/admin/holds", object_type="file", object_uuid=file_uuid, reason="Prüfung 審査").status_code == 303
    assert post("/admin/holds", object_type="file", object_uuid="nonsense", reason="r").status_code == 422
    assert "Under legal hold: Prüfung 審査" in client.get(f"/files/{file_uuid}").text
    [(hold,)] = _sql(fresh_url, "SELECT uuid::text FROM legal_holds WHERE media_file_id = %s", file_id)
    assert "Prüfung 審査" in client.get("/admin").text
    assert post(f"/admin/holds/{hold}/lift").status_code == 303
    assert "Under legal hold" not in client.get(f"/files/{file_uuid}").text

    assert "No retention policy of its own" in client.get(f"/collections/{collection}").text
    assert post(f"/collections/{collection}/retention", days="10").status_code == 303
    assert "deleted 10 days after upload" in client.get(f"/collections/{collection}").text
    assert post(f"/collections/{collection}/retention", days="zehn").status_code == 422
    _sql(fresh_url, "INSERT INTO legal_holds (collection_id, reason) VALUES (%s, 'تحقيق')", collection_id)
    assert "Under legal hold since" in client.get(f"/collections/{collection}").text
    actions = [a for (a,) in _sql(fresh_url, "SELECT action FROM audit_log WHERE actor_id = %s ORDER BY id", admin_id)]
    assert [a for a in actions if a.startswith(("settings.", "retention."))] == [
        "settings.update",
        "retention.hold",
        "retention.release",
        "settings.update",
    ]


def test_only_administrators_write_holds_even_in_sql(db: Database) -> None:
    """Row-level security: the owner reads the hold on their file but can neither place nor lift one."""
    with db.acting_as_system(), db.transaction() as conn:
        owner, admin = factories.user(conn), factories.user(conn, admin=True)
        file_id, _ = factories.media_file(conn, owner, title="会議")
        conn.execute("INSERT INTO legal_holds (media_file_id, reason) VALUES (%s, 'Klage')", [file_id])
    with db.acting(owner), db.transaction() as conn:
        assert conn.execute("SELECT reason FROM legal_holds").fetchall() == [("Klage",)]
        lifted = conn.execute("UPDATE legal_holds SET released_at = now() RETURNING id").fetchall()
        assert lifted == []
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"), conn.transaction():
            conn.execute("INSERT INTO legal_holds (media_file_id, reason) VALUES (%s, 'mine')", [file_id])
    with db.acting(admin), db.transaction() as conn:
        assert conn.execute("UPDATE legal_holds SET released_at = now() RETURNING reason").fetchall() == [("Klage",)]


def test_deletions_commit_in_batches(fresh_url: str, tmp_path: Path, db: Database) -> None:
    """OPENTR_RETENTION_BATCH files per transaction: a run over many files never holds one huge transaction (each
    batch's audit rows share the transaction id that wrote them)."""
    with db.acting_as_system(), db.transaction() as conn:
        owner = factories.user(conn)
        conn.execute("UPDATE retention_settings SET default_days = 1")
    for n in range(5):
        _file(fresh_url, owner, f"Nr. {n} 😀", 3)
    report = _run(fresh_url, _settings(tmp_path / "h", opentr_retention_notice_days=0, opentr_retention_batch=2))
    assert len(report.due) == 5 and _sql(fresh_url, "SELECT count(*) FROM media_files") == [(0,)]
    per_transaction = _sql(
        fresh_url,
        "SELECT count(*) FROM audit_log WHERE action = 'retention.delete' GROUP BY xmin::text::bigint ORDER BY 1",
    )
    assert per_transaction == [(1,), (2,), (2,)]
