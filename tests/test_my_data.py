"""A person's own data (issue 24): "download everything of mine" built by the `data_export` job through the registry
and a real `opentr worker --burst`, downloaded by its owner only and for a day; "delete my account" verified by
counting (and comparing) the rows of every table of the public schema before and after, and the storage left."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import tracemalloc
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from config.settings import Settings
from credentials.passwords import hash_password
from repo.database import Database
from repo.my_data import OwnedFile
from repo.rows import Actor
from storage.backend import LocalStorage, open_storage
from tests import factories
from tests.fuzz_support import private_redis
from tests.test_row_security import World, _seed
from tests.test_storage_s3 import _objects, s3_endpoint, s3_settings  # noqa: F401 (fixtures)
from tests.web import register
from workers.cleanup import cleanup
from workers.data_export import BuildExport, ExportJob

PASSWORD = "correct horse 1"
JAPANESE, ARABIC, EMOJI = "会議.wav", "اجتماع الفريق 🎙️.wav", "Größe 😀 notes.m4a"


@pytest.fixture
def worker_settings(app_settings: Settings) -> Iterator[Settings]:
    """The app's settings with a Redis of the test's own: the job it enqueues is the only one a burst finds."""
    with private_redis() as url:
        yield app_settings.model_copy(update={"redis_url": url})


@pytest.fixture
def api(worker_settings: Settings) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app(worker_settings)) as test_client:
        yield test_client


def run_worker(settings: Settings) -> None:
    """`opentr worker --burst` on the test's database, Redis and storage: runs what the registry enqueued."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DATABASE_URL=str(settings.database_url),
        REDIS_URL=str(settings.redis_url),
        OPENTR_HOME=str(settings.opentr_home),
    )
    if settings.opentr_storage_url:  # object storage, as the web process has it
        secret = settings.opentr_s3_secret_key.get_secret_value() if settings.opentr_s3_secret_key else ""
        env.update(
            OPENTR_STORAGE_URL=settings.opentr_storage_url,
            OPENTR_S3_ENDPOINT_URL=str(settings.opentr_s3_endpoint_url),
            OPENTR_S3_ACCESS_KEY=str(settings.opentr_s3_access_key),
            OPENTR_S3_SECRET_KEY=secret,
        )
    done = subprocess.run(
        [sys.executable, "-m", "opentr_cli", "worker", "--burst"], env=env, text=True, capture_output=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]


def owner_of(conninfo: str, headers: dict[str, str], client: Any) -> tuple[Actor, str]:
    email = client.get("/api/users/me", headers=headers).json()["email"]
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchone()
    assert row is not None
    return Actor(row[0]), email


def stored_file(conn: psycopg.Connection[Any], storage: Path, owner: Actor, name: str, data: bytes) -> tuple[int, str]:
    """A processed file of `owner` whose original is in storage; (id, uuid)."""
    file_id, file_uuid = factories.media_file(conn, owner, filename=name, status="completed", file_size=len(data))
    row = conn.execute("SELECT storage_path FROM media_files WHERE id = %s", [file_id]).fetchone()
    assert row is not None
    (storage / row[0]).parent.mkdir(parents=True, exist_ok=True)
    (storage / row[0]).write_bytes(data)
    return file_id, str(file_uuid)


# --- download everything of mine ---------------------------------------------------------------------------------


def test_the_export_job_zips_everything_of_mine_under_original_names(
    api: Any, worker_settings: Settings, fresh_url: str, db: Database
) -> None:
    storage = worker_settings.storage_dir
    a_headers, b_headers = register(api), register(api)
    (a, a_email), (b, b_email) = owner_of(fresh_url, a_headers, api), owner_of(fresh_url, b_headers, api)
    secret_key = f"sk-never-exported-{secrets.token_hex(6)}"
    config = {"name": "Mein LLM 🤖", "provider": "custom", "model_name": "m", "base_url": "http://127.0.0.1:9"}
    assert api.post("/api/llm-configs", headers=a_headers, json={**config, "api_key": secret_key}).status_code == 201
    assert api.put("/api/settings/ui.theme", headers=a_headers, json={"value": "dark"}).status_code == 200
    first, second, third = b"RIFF first " + bytes(range(256)), b"RIFF second " * 50, "مرحبا 😀".encode() * 99
    with psycopg.connect(fresh_url, autocommit=True) as conn, conn.transaction():
        one, one_uuid = stored_file(conn, storage, a, JAPANESE, first)
        _, two_uuid = stored_file(conn, storage, a, JAPANESE, second)  # the same name: both kept
        three, three_uuid = stored_file(conn, storage, a, ARABIC, third)
        stored_file(conn, storage, b, "B-only secret.wav", b"B's recording")
        speaker = factories.speaker(conn, a, one, "SPEAKER_00")
        conn.execute("UPDATE speakers SET display_name = 'Jürgen 🎤' WHERE id = %s", [speaker])
        factories.segments(conn, one, ["こんにちは、世界 🌏", "مرحبا بالعالم"], speaker)
        factories.segments(conn, three, ["Größe 😀"])
        conn.execute(
            "INSERT INTO segment_words (segment_id, words) SELECT id, %s FROM transcript_segments "
            "WHERE media_file_id = %s AND text LIKE 'こんにちは%%'",
            [json.dumps([{"word": "こんにちは", "start": 0.0, "end": 0.4}]), one],
        )
        conn.execute("INSERT INTO tags (name) VALUES ('معلومات')")
        conn.execute(
            "INSERT INTO file_tags (media_file_id, tag_id) SELECT %s, id FROM tags WHERE name = 'معلومات'", [one]
        )
        conn.execute("INSERT INTO comments (media_file_id, user_id, text) VALUES (%s, %s, 'Schön 👍')", [one, a.id])
        conn.execute("INSERT INTO comments (media_file_id, user_id, text) VALUES (%s, %s, 'من ب')", [one, b.id])
        conn.execute(
            "INSERT INTO file_summaries (media_file_id, user_id, version, status, bluf) "
            "VALUES (%s, %s, 1, 'completed', '要点 ✅')",
            [one, a.id],
        )
        conn.execute("INSERT INTO analytics (media_file_id, keywords) VALUES (%s, %s)", [one, Jsonb(["会議"])])
        collection = conn.execute(
            "INSERT INTO collections (user_id, name) VALUES (%s, 'Projekt ä') RETURNING id", [a.id]
        ).fetchone()
        assert collection is not None
        conn.execute("INSERT INTO collection_members VALUES (%s, %s)", [collection[0], three])
        conn.execute(
            "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, 'viewer', %s)",
            [one, b.id, a.id],
        )
        conn.execute("INSERT INTO speaker_profiles (user_id, name) VALUES (%s, 'مريم')", [a.id])
        conn.execute(
            "INSERT INTO questions (user_id, scope, question, answer, provider, model_name) "
            "VALUES (%s, 'all', 'ما الذي تقرر؟ 🤔', '決まりました', 'custom', 'm')",
            [a.id],
        )

    requested = api.post("/api/users/me/export", headers=a_headers)
    assert requested.status_code == 202, requested.text
    export = requested.json()
    assert export["status"] == "pending" and export["download_url"] is None
    again = api.post("/api/users/me/export", headers=a_headers)
    assert again.status_code == 409 and again.json()["field"] == "export"  # one at a time

    run_worker(worker_settings)

    [listed] = api.get("/api/users/me/exports", headers=a_headers).json()
    assert listed["uuid"] == export["uuid"] and listed["status"] == "ready", listed
    assert listed["files"] == 3 and listed["download_url"] == f"/api/users/me/exports/{export['uuid']}/download"
    titles = [n["title"] for n in api.get("/api/notifications", headers=a_headers).json()["items"]]
    assert "Your data export is ready" in titles
    assert api.get("/api/users/me/exports", headers=b_headers).json() == []
    assert api.get(listed["download_url"], headers=b_headers).status_code == 404  # another user: not found

    response = api.get(listed["download_url"], headers=a_headers)
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    assert len(response.content) == listed["size"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = set(archive.namelist())
    texts = "".join(archive.read(n).decode() for n in sorted(names) if n.endswith((".json", ".txt")))
    assert secret_key not in texts, "an LLM configuration's key is never exported"
    assert {f"media/{JAPANESE}", "media/会議 (2).wav", f"media/{ARABIC}"} <= names
    assert not [n for n in names if "B-only" in n]
    files = {u: json.loads(archive.read(f"files/{u}.json")) for u in (one_uuid, two_uuid, three_uuid)}
    for file_uuid, original in ((one_uuid, first), (two_uuid, second), (three_uuid, third)):
        assert archive.read(files[file_uuid]["media"]) == original  # each JSON names its own original
    assert files[one_uuid]["media"] != files[two_uuid]["media"]
    japanese = files[one_uuid]
    assert japanese["filename"] == JAPANESE and "storage_path" not in japanese
    assert [s["text"] for s in japanese["segments"]] == ["こんにちは、世界 🌏", "مرحبا بالعالم"]
    assert japanese["segments"][0]["words"] == [{"word": "こんにちは", "start": 0.0, "end": 0.4}]
    assert japanese["segments"][0]["speaker"] == "SPEAKER_00"
    assert japanese["speakers"][0]["display_name"] == "Jürgen 🎤"
    assert japanese["tags"] == ["معلومات"]
    assert {(c["text"], c["by_me"]) for c in japanese["comments"]} == {("Schön 👍", True), ("من ب", False)}
    assert japanese["summaries"][0]["bluf"] == "要点 ✅" and japanese["analytics"]["keywords"] == ["会議"]
    assert files[three_uuid]["segments"][0]["text"] == "Größe 😀"
    account = json.loads(archive.read("account.json"))
    assert account["profile"]["email"] == a_email and account["settings"]["ui.theme"] == "dark"
    [llm] = account["llm_configurations"]
    assert llm["name"] == "Mein LLM 🤖" and llm["has_api_key"] is True
    assert not [k for k in llm if "key_encrypted" in k or "key_version" in k]
    assert account["collections"][0]["name"] == "Projekt ä" and account["collections"][0]["files"] == [three_uuid]
    assert account["shares_made"][0]["with_user"] == b_email and account["shares_made"][0]["file"] == one_uuid
    assert account["speaker_profiles"][0]["name"] == "مريم"
    assert account["questions"][0]["question"] == "ما الذي تقرر؟ 🤔"
    assert "B-only" not in texts and "من ب" in texts, "B's comment on A's file is A's file's; B's own file is not"
    assert b"B's recording" not in response.content

    with db.transaction() as conn:
        steps = conn.execute(
            "SELECT details->>'step' FROM audit_log WHERE action = 'account.export' AND actor_id = %s ORDER BY id",
            [a.id],
        ).fetchall()
    assert [s for (s,) in steps] == ["requested", "downloaded"]

    # A day later (expires_at in the past): 410 naming the expiry; cleanup removes the archive, the row says so.
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        row = conn.execute(
            "UPDATE data_exports SET expires_at = now() - interval '1 minute' WHERE uuid = %s "
            "RETURNING storage_key, expires_at",
            [export["uuid"]],
        ).fetchone()
    assert row is not None
    key, expired_at = row
    gone = api.get(listed["download_url"], headers=a_headers)
    assert gone.status_code == 410 and gone.json()["field"] == "uuid"
    named = gone.json()["detail"].partition("expired at ")[2].partition(";")[0]
    assert datetime.fromisoformat(named) == expired_at, gone.text
    assert api.get(listed["download_url"], headers=b_headers).status_code == 404
    assert (storage / key).is_file()
    report = cleanup(db, LocalStorage(storage), apply=True)
    assert report.expired_exports == [key] and not report.stray_files
    assert not (storage / key).exists()
    [after] = api.get("/api/users/me/exports", headers=a_headers).json()
    assert after["status"] == "expired" and after["download_url"] is None
    assert api.get(listed["download_url"], headers=a_headers).status_code == 410


def test_a_ready_archive_is_no_stray_file_for_cleanup(db: Database, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    with db.transaction() as conn:
        owner = factories.user(conn)
        key = f"{owner.id}/exports/{secrets.token_hex(16)}.zip"
        conn.execute(
            "INSERT INTO data_exports (user_id, status, storage_key, size, ready_at, expires_at) "
            "VALUES (%s, 'ready', %s, 3, now() - interval '2 hours', now() + interval '22 hours')",
            [owner.id, key],
        )
    (storage / key).parent.mkdir(parents=True)
    (storage / key).write_bytes(b"zip")
    os.utime(storage / key, (0, 0))  # old enough to be stray, were it not an export's
    report = cleanup(db, LocalStorage(storage), apply=True)
    assert report.stray_files == [] and report.expired_exports == []
    assert (storage / key).read_bytes() == b"zip"


def test_an_original_is_copied_into_the_zip_in_chunks_not_read_into_memory(tmp_path: Path) -> None:
    """A 256 MB recording (sparse) goes into the archive with a few chunks in memory at a time."""
    storage = LocalStorage(tmp_path / "storage")
    big = storage.path("7/big")
    big.parent.mkdir(parents=True)
    with big.open("wb") as out:
        out.truncate(256 * 1024 * 1024)
    owned = OwnedFile(1, uuid.uuid4(), "長い録音.wav", "7/big", 256 * 1024 * 1024)
    job = ExportJob(7, owned.uuid)
    tracemalloc.start()
    try:
        with zipfile.ZipFile(tmp_path / "out.zip", "w", allowZip64=True) as archive:
            name = BuildExport()._media(archive, storage, job, owned)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert name == "media/長い録音.wav"
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert archive.getinfo(name).file_size == 256 * 1024 * 1024


def test_through_object_storage_the_archive_is_built_served_and_removed_with_the_account(
    s3_settings: Settings,  # noqa: F811 (the fixture imported above)
    fresh_url: str,
) -> None:
    from starlette.testclient import TestClient

    from web.app import create_app

    with private_redis() as url:
        settings = s3_settings.model_copy(update={"redis_url": url})
        storage = open_storage(settings)
        with TestClient(create_app(settings)) as api:
            headers = register(api)
            me, _ = owner_of(fresh_url, headers, api)
            original = "تسجيل 🎧 ".encode() * 1000
            with psycopg.connect(fresh_url, autocommit=True) as conn:
                file_id, _ = factories.media_file(
                    conn, me, filename=ARABIC, status="completed", file_size=len(original)
                )
                row = conn.execute("SELECT storage_path FROM media_files WHERE id = %s", [file_id]).fetchone()
            assert row is not None
            storage.put_bytes(row[0], original)
            assert api.post("/api/users/me/export", headers=headers).status_code == 202
            run_worker(settings)
            [ready] = api.get("/api/users/me/exports", headers=headers).json()
            assert ready["status"] == "ready", ready
            mine = [key for key in _objects(settings) if key.startswith(f"{me.id}/")]
            assert len(mine) == 2 and any(key.startswith(f"{me.id}/exports/") for key in mine)
            response = api.get(ready["download_url"], headers=headers)
            assert response.status_code == 200 and int(response.headers["content-length"]) == ready["size"]
            assert zipfile.ZipFile(io.BytesIO(response.content)).read(f"media/{ARABIC}") == original

            gone = api.request("DELETE", "/api/users/me", headers=headers, json={"password": PASSWORD})
            assert gone.status_code == 204, gone.text
            assert not [key for key in _objects(settings) if key.startswith(f"{me.id}/")]


# --- delete my account -------------------------------------------------------------------------------------------

FILES = "SELECT id FROM media_files WHERE user_id = %(u)s"
OF_FILES = f"media_file_id IN ({FILES})"
SPEAKERS = f"SELECT id FROM speakers WHERE {OF_FILES}"
PROFILES = "SELECT id FROM speaker_profiles WHERE user_id = %(u)s"
TASKS = f"SELECT id FROM tasks WHERE user_id = %(u)s OR {OF_FILES}"
RUNS = f"SELECT id FROM llm_runs WHERE user_id = %(u)s OR {OF_FILES}"
# What deleting account u removes from each table of the public schema: a table missing here fails the test, so a new
# table is classified when it is added. Everything else (other people's rows) must be unchanged, but for the columns
# the schema nulls (NULLED).
GONE: dict[str, str] = {
    "users": "id = %(u)s",
    "auth_tokens": "user_id = %(u)s",
    "media_files": "user_id = %(u)s",
    "speaker_profiles": "user_id = %(u)s",
    "speakers": f"user_id = %(u)s OR {OF_FILES}",
    "speaker_collections": "user_id = %(u)s",
    "speaker_collection_members": "collection_id IN (SELECT id FROM speaker_collections WHERE user_id = %(u)s) "
    f"OR profile_id IN ({PROFILES})",
    "speaker_matches": f"speaker1_id IN ({SPEAKERS}) OR speaker2_id IN ({SPEAKERS})",
    "speaker_profile_suggestions": f"speaker_id IN ({SPEAKERS}) OR profile_id IN ({PROFILES})",
    "transcript_segments": OF_FILES,
    "segment_words": f"segment_id IN (SELECT id FROM transcript_segments WHERE {OF_FILES})",
    "transcript_versions": OF_FILES,
    "passages": OF_FILES,
    "tags": "FALSE",  # global names, not anyone's
    "file_tags": OF_FILES,
    "comments": f"user_id = %(u)s OR {OF_FILES}",
    "collections": "user_id = %(u)s",
    "collection_members": f"collection_id IN (SELECT id FROM collections WHERE user_id = %(u)s) OR {OF_FILES}",
    "tasks": f"user_id = %(u)s OR {OF_FILES}",
    "transcript_staging": f"task_id IN ({TASKS})",
    "analytics": OF_FILES,
    "processing_choices": OF_FILES,
    "user_settings": "user_id = %(u)s",
    "user_llm_configurations": "user_id = %(u)s",
    "llm_connection_tests": "configuration_id IN (SELECT id FROM user_llm_configurations WHERE user_id = %(u)s)",
    "summary_prompts": "user_id = %(u)s",
    "file_summaries": f"user_id = %(u)s OR {OF_FILES}",
    "notifications": "user_id = %(u)s",
    "notification_preferences": "user_id = %(u)s",
    "url_imports": "user_id = %(u)s",
    "import_origins": "FALSE",  # an import's bookkeeping (old ids → new): no personal data, and it keeps a re-import
    # from bringing the deleted account back
    "groups": "FALSE",  # stays for its other members; created_by nulled
    "group_members": "user_id = %(u)s",
    "shares": f"user_id = %(u)s OR shared_by = %(u)s OR {OF_FILES} "
    "OR collection_id IN (SELECT id FROM collections WHERE user_id = %(u)s) "
    f"OR speaker_profile_id IN ({PROFILES})",
    "public_links": OF_FILES,
    "questions": f"user_id = %(u)s OR {OF_FILES}",
    "user_identities": "user_id = %(u)s",
    "audit_log": "FALSE",  # append-only: kept (and one `account.delete` row added), README says why
    "data_exports": "user_id = %(u)s",
    "legal_holds": f"{OF_FILES} OR collection_id IN (SELECT id FROM collections WHERE user_id = %(u)s)",
    "retention_notices": OF_FILES,
    "retention_settings": "FALSE",  # the instance's one row; its author nulled
    # the account's second factor, recovery codes and reset links; the instance's settings stay (author nulled)
    "user_two_factor": "user_id = %(u)s",
    "recovery_codes": "user_id = %(u)s",
    "password_resets": "user_id = %(u)s",
    "instance_settings": "FALSE",
    # Step 21: runs an LLM made over one's files or at one's request, what one's requests cost, the limit set for one
    "llm_runs": f"user_id = %(u)s OR {OF_FILES}",
    "llm_usage": "user_id = %(u)s",
    "llm_token_limits": "user_id = %(u)s",
    "speaker_name_proposals": f"speaker_id IN ({SPEAKERS}) OR run_id IN ({RUNS})",
    "translated_segments": f"run_id IN ({RUNS}) OR segment_id IN (SELECT id FROM transcript_segments WHERE {OF_FILES})",
    "file_topics": f"{OF_FILES} OR run_id IN ({RUNS})",
}
NULLED = {
    "llm_token_limits": ["set_by"],
    "speaker_name_proposals": ["decided_by"],
    "file_topics": ["decided_by"],
    "instance_settings": ["updated_by"],
    "groups": ["created_by", "updated_at"],
    "public_links": ["created_by"],
    "notifications": ["media_file_id", "task_id"],
    "url_imports": ["media_file_id"],
    "questions": ["collection_id"],
    "speakers": ["profile_id"],
    "retention_settings": ["updated_by"],
    "legal_holds": ["placed_by", "released_by"],
}


def tables(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '%%yoyo%%' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


@dataclass
class Census:
    counts: dict[str, int]  # every row of each table
    gone: dict[str, int]  # the deleted person's (GONE)
    others: dict[str, list[str]]  # everyone else's rows, as text, less the columns the deletion nulls


def census(conninfo: str, user_id: int) -> Census:
    counts, gone, others = {}, {}, {}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        names = tables(conn)
        assert set(names) == set(GONE), f"classify table(s) {set(names) ^ set(GONE)} in GONE"
        for table in names:
            t = sql.Identifier(table)
            gone_sql = sql.SQL(f"coalesce(({GONE[table]}), false)")  # a NULL reference is no match, not unknown
            row = conn.execute(
                sql.SQL("SELECT count(*), count(*) FILTER (WHERE {}) FROM {}").format(gone_sql, t),
                {"u": user_id},
            ).fetchone()
            assert row is not None
            counts[table], gone[table] = row
            dropped = sql.SQL(", ").join(sql.Literal(c) for c in NULLED.get(table, []))
            rows = conn.execute(
                sql.SQL("SELECT (to_jsonb(x) - ARRAY[{}]::text[])::text FROM {} x WHERE NOT ({}) ORDER BY 1").format(
                    dropped, t, gone_sql
                ),
                {"u": user_id},
            ).fetchall()
            others[table] = [r[0] for r in rows]
    return Census(counts, gone, others)


def two_worlds(db: Database, storage: Path) -> tuple[World, World, dict[str, Path]]:
    """Two people (and their collaborators) with rows in every table, crossing over: each comments on, shares with
    and asks about the other's; their stored media, thumbnails and exports on disk. Returns the files on disk."""
    with db.acting_as_system(), db.transaction() as conn:
        first = _seed(conn)
        conn.execute("UPDATE tags SET name = name || ' 1'")  # tag names are global and unique, and so are
        conn.execute("UPDATE user_identities SET subject = subject || '-1'")  # a provider's subjects
        conn.execute("UPDATE password_resets SET token_hash = sha256(token_hash)")  # and reset links' hashes
        second = _seed(conn)
        a, b = first.a, second.a
        conn.execute(
            "UPDATE users SET hashed_password = %s WHERE id IN (%s, %s)", [hash_password(PASSWORD), a.id, b.id]
        )
        conn.execute(
            "INSERT INTO comments (media_file_id, user_id, text) VALUES (%s, %s, 'A über B')", [second.file_a, a.id]
        )
        conn.execute(
            "INSERT INTO comments (media_file_id, user_id, text) VALUES (%s, %s, 'B über A')", [first.file_a, b.id]
        )
        conn.execute(
            "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, 'viewer', %s), "
            "(%s, %s, 'viewer', %s)",
            [second.file_a, a.id, b.id, first.file_a, b.id, a.id],
        )
        conn.execute(
            "INSERT INTO group_members (group_id, user_id) SELECT id, %s FROM groups WHERE created_by = %s",
            [b.id, a.id],
        )
        conn.execute(  # what `opentr import` records of the rows it brought over
            "INSERT INTO import_origins (source, source_table, source_key, target_id) VALUES "
            "('opentranscribe', 'media_file', 'ü-1', %s), ('opentranscribe', 'media_file', 'ü-2', %s)",
            [first.file_a, second.file_a],
        )
        for owner in (a, b):
            conn.execute(
                "INSERT INTO data_exports (user_id, status, progress, storage_key, size, files, ready_at, expires_at) "
                "VALUES (%s, 'ready', 1, %s, 3, 1, now(), now() + interval '1 day')",
                [owner.id, f"{owner.id}/exports/{secrets.token_hex(16)}.zip"],
            )
        conn.execute(  # an instance setting A changed last (its author is nulled with A's account)
            "INSERT INTO instance_settings (key, value, updated_by) VALUES ('two_factor.required', 'false', %s)", [a.id]
        )
        conn.execute("UPDATE media_files SET thumbnail_path = storage_path || '.thumbnail.jpg'")
        keys = conn.execute(
            "SELECT storage_path FROM media_files UNION SELECT thumbnail_path FROM media_files "
            "UNION SELECT storage_key FROM data_exports WHERE storage_key IS NOT NULL"
        ).fetchall()
    paths = {key: storage / key for (key,) in keys}
    for key, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"stored {key} 録音".encode())
    return first, second, paths


def sign_in(client: Any, conninfo: str, user_id: int) -> dict[str, str]:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT email FROM users WHERE id = %s", [user_id]).fetchone()
    assert row is not None
    token = client.post("/api/auth/token", data={"username": row[0], "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_deleting_my_account_removes_every_row_and_object_of_mine_and_nothing_of_anyone_else(
    client: Any, app_settings: Settings, db: Database, fresh_url: str
) -> None:
    storage = app_settings.storage_dir
    first, second, paths = two_worlds(db, storage)
    a, b = first.a, second.a
    a_headers, b_headers = sign_in(client, fresh_url, a.id), sign_in(client, fresh_url, b.id)
    before = census(fresh_url, a.id)
    assert all(before.counts.values()), f"every table holds rows: {before.counts}"
    assert all(n for t, n in before.gone.items() if GONE[t] != "FALSE"), f"A has rows everywhere: {before.gone}"

    wrong = client.request("DELETE", "/api/users/me", headers=a_headers, json={"password": "not it 🙈"})
    assert wrong.status_code == 403 and wrong.json()["field"] == "password", wrong.text
    missing = client.request("DELETE", "/api/users/me", headers=a_headers, json={})
    assert missing.status_code == 409 and missing.json()["field"] == "password", missing.text
    refused = census(fresh_url, a.id)
    assert refused.others == {**before.others, "audit_log": refused.others["audit_log"]}
    assert {t: n for t, n in refused.counts.items() if n != before.counts[t]} == {
        "audit_log": before.counts["audit_log"] + 1
    }
    assert all(path.is_file() for path in paths.values()), "nothing deleted"

    deleted = client.request("DELETE", "/api/users/me", headers=a_headers, json={"password": PASSWORD})
    assert deleted.status_code == 204, deleted.text

    after = census(fresh_url, a.id)
    for table in GONE:
        added = 1 if table == "audit_log" else 0  # the account.delete row
        assert after.counts[table] == refused.counts[table] - refused.gone[table] + added, table
        assert after.gone[table] == 0, table
    assert after.others == {**refused.others, "audit_log": after.others["audit_log"]}, "others' rows unchanged"
    assert len(after.others["audit_log"]) == len(refused.others["audit_log"]) + 1
    with psycopg.connect(fresh_url) as conn:
        trail = conn.execute(
            "SELECT action, outcome, actor_email FROM audit_log WHERE actor_id = %s ORDER BY id", [a.id]
        ).fetchall()
        group = conn.execute("SELECT created_by FROM groups WHERE name = 'فريق' ORDER BY id LIMIT 1").fetchone()
    assert trail[-1][:2] == ("account.delete", "success") and ("account.delete", "refused") in [t[:2] for t in trail]
    assert trail[-1][2] and "@" in trail[-1][2], "the trail keeps the recorded e-mail"
    assert group == (None,), "the group A created stays for its other members"

    assert not (storage / str(a.id)).exists(), "A's storage directory is gone"
    assert all(path.is_file() for key, path in paths.items() if not key.startswith(f"{a.id}/"))
    assert client.get("/api/users/me", headers=a_headers).status_code == 401, "A's token no longer works"
    assert client.get("/api/users/me", headers=b_headers).status_code == 200
    assert client.get(f"/api/files/{_uuid_of(fresh_url, second.file_a)}", headers=b_headers).status_code == 200


def _uuid_of(conninfo: str, file_id: int) -> str:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT uuid FROM media_files WHERE id = %s", [file_id]).fetchone()
    assert row is not None
    return str(row[0])


def test_the_last_active_administrator_cannot_delete_their_account(client: Any, fresh_url: str) -> None:
    headers = register(client)
    admin, _ = owner_of(fresh_url, headers, client)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE id = %s", [admin.id])
        other = factories.user(conn, admin=True)
        conn.execute("UPDATE users SET is_active = false WHERE id = %s", [other.id])  # an inactive one does not count
    refused = client.request("DELETE", "/api/users/me", headers=headers, json={"password": PASSWORD})
    assert refused.status_code == 409 and refused.json()["field"] == "account", refused.text
    assert "last active administrator" in refused.json()["detail"]
    assert client.get("/api/users/me", headers=headers).status_code == 200
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET is_active = true WHERE id = %s", [other.id])
    assert client.request("DELETE", "/api/users/me", headers=headers, json={"password": PASSWORD}).status_code == 204
    assert client.get("/api/users/me", headers=headers).status_code == 401


def test_an_account_without_a_password_confirms_with_its_email(client: Any, fresh_url: str) -> None:
    headers = register(client, email="Müller.会議@example.com")
    me, email = owner_of(fresh_url, headers, client)
    with psycopg.connect(fresh_url, autocommit=True) as conn:  # as an account made by an OpenID sign-in is
        conn.execute("UPDATE users SET hashed_password = '!' WHERE id = %s", [me.id])
    wrong = client.request("DELETE", "/api/users/me", headers=headers, json={"email": "someone@example.com"})
    assert wrong.status_code == 403 and wrong.json()["field"] == "email", wrong.text
    no_password_helps = client.request("DELETE", "/api/users/me", headers=headers, json={"password": "!"})
    assert no_password_helps.status_code == 409 and no_password_helps.json()["field"] == "email"
    done = client.request("DELETE", "/api/users/me", headers=headers, json={"email": f"  {email.upper()} "})
    assert done.status_code == 204, done.text
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE id = %s", [me.id]).fetchone() == (0,)


def test_the_settings_page_requests_an_export_and_deletes_the_account(api: Any, fresh_url: str) -> None:
    from tests.web import csrf_in, sign_up

    csrf = sign_up(api, email="seite@example.com")
    page = api.get("/settings")
    assert "Download everything of mine" in page.text and "Delete my account" in page.text
    asked = api.post("/settings/export", data={"csrf": csrf}, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == "/settings#my-data"
    page = api.get("/settings")
    assert "pending" in page.text and "not ready" in page.text
    csrf = csrf_in(page.text)
    wrong = api.post("/settings/delete-account", data={"csrf": csrf, "password": "falsch"}, follow_redirects=False)
    assert wrong.status_code == 403 and "nothing was deleted" in wrong.text
    done = api.post("/settings/delete-account", data={"csrf": csrf, "password": PASSWORD}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/signin?deleted=1"
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE email = 'seite@example.com'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM data_exports").fetchone() == (0,)


def test_an_export_whose_worker_died_ends_failed_and_its_owner_is_told(
    db: Database, fresh_url: str, settings: Settings
) -> None:
    from jobs.data_exports import queue_export
    from repo.data_exports import DataExportRepository
    from repo.tasks import TaskRepository
    from workers.liveness import open_lock_session
    from workers.recovery import recover

    with db.transaction() as conn:
        owner = factories.user(conn)
        export, queued = queue_export(conn, owner)
        DataExportRepository(conn).start(export.id)  # claimed by a worker that then died
        TaskRepository(conn).start(queued.task_id)
    with open_lock_session(fresh_url, settings, "test-recovery") as locks:
        report = recover(db, locks, None)
    assert report.errors == 0
    with db.transaction() as conn:
        failed = DataExportRepository(conn).get_by_id(export.id)
        task = conn.execute("SELECT status FROM tasks WHERE id = %s", [queued.task_id]).fetchone()
        told = conn.execute("SELECT kind, title FROM notifications WHERE user_id = %s", [owner.id]).fetchall()
    assert failed.status == "failed" and failed.error is not None and "request the export again" in failed.error
    assert task == ("failed",)
    assert told == [("error", "export of your data failed")]
