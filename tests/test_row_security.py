"""The second wall: PostgreSQL's row-level security (migration 0014) under every transaction that acts for a user.

User A has a row in every table with RLS; user B has none. A deliberately unscoped `SELECT * FROM <table>` run
through the application's own transaction runner acting as B (`db.acting(B)`, as the web pipeline does), and through
the job runner acting for B (workers/jobrun.py), finds none of A's rows. Sharing opens exactly what it shares; a
viewer's UPDATE changes nothing; the role is neither a superuser nor the owner; the setting ends with the transaction
(on a pooled connection, and through PgBouncer in transaction mode).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
from psycopg import sql

from config.settings import Settings
from jobs.transcription import TRANSCRIPTION
from repo import schema
from repo.database import Connection, Database, as_system
from repo.rows import Actor
from storage.backend import open_storage
from tests import factories, web
from tests.scale_support import PgBouncer
from workers import jobrun
from workers.context import JobContext

# Tables holding a user's or a file's rows without RLS, and why (migration 0014's comment says the same).
WITHOUT_RLS = {
    "auth_tokens": "authentication looks a token up before anybody acts",
}
# Rows every user sees whoever owns them: the system's prompts (user_id NULL).
SEEN_BY_ALL = {"summary_prompts": "user_id IS NULL"}


def rls_tables(conn: Connection) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


@dataclass
class World:
    a: Actor
    b: Actor
    c: Actor
    file_a: int
    file_b: int


def _seed(conn: Connection) -> World:
    """As the system: A has a row in every table with RLS; B owns one empty file; C is A's collaborator."""
    a, b, c = factories.user(conn), factories.user(conn), factories.user(conn)
    file_a, _ = factories.media_file(conn, a, filename="会議の録音.wav", title="اجتماع الفريق 🎙️", status="completed")
    file_b, _ = factories.media_file(conn, b, filename="Größenordnung.wav")
    speaker_1 = factories.speaker(conn, a, file_a, "SPEAKER_00")
    speaker_2 = factories.speaker(conn, a, file_a, "SPEAKER_01")
    factories.speaker_match(conn, speaker_1, speaker_2, 0.9)
    factories.segments(conn, file_a, ["こんにちは、世界", "مرحبا بالعالم"], speaker_1)

    def one(query: str, *params: Any) -> Any:
        row = conn.execute(query, params).fetchone()
        return row[0] if row else None

    segment = one("SELECT min(id) FROM transcript_segments WHERE media_file_id = %s", file_a)
    conn.execute("INSERT INTO segment_words (segment_id, words) VALUES (%s, '[]')", [segment])
    profile = one("INSERT INTO speaker_profiles (user_id, name) VALUES (%s, 'Jürgen 🎤') RETURNING id", a.id)
    conn.execute(
        "INSERT INTO speaker_profile_suggestions (speaker_id, profile_id, confidence) VALUES (%s, %s, 0.8)",
        [speaker_1, profile],
    )
    voices = one("INSERT INTO speaker_collections (user_id, name) VALUES (%s, '声') RETURNING id", a.id)
    conn.execute(
        "INSERT INTO speaker_collection_members (collection_id, profile_id) VALUES (%s, %s)", [voices, profile]
    )
    tag = one("INSERT INTO tags (name) VALUES ('معلومات') RETURNING id")
    conn.execute("INSERT INTO file_tags (media_file_id, tag_id) VALUES (%s, %s)", [file_a, tag])
    conn.execute("INSERT INTO comments (media_file_id, user_id, text) VALUES (%s, %s, 'Schön 👍')", [file_a, a.id])
    collection = one("INSERT INTO collections (user_id, name) VALUES (%s, 'Projekt ä') RETURNING id", a.id)
    conn.execute("INSERT INTO collection_members (collection_id, media_file_id) VALUES (%s, %s)", [collection, file_a])
    conn.execute("INSERT INTO analytics (media_file_id) VALUES (%s)", [file_a])
    conn.execute("INSERT INTO processing_choices (media_file_id) VALUES (%s)", [file_a])
    conn.execute(
        "INSERT INTO passages (media_file_id, position, start_time, end_time, text, model, transcript_version, "
        "embedding) VALUES (%s, 0, 0, 1, 'Größe 会議', 'tiny', 1, '{0.6,0.8}')",
        [file_a],
    )
    conn.execute(
        "INSERT INTO file_summaries (media_file_id, user_id, version, bluf) VALUES (%s, %s, 1, '要点')", [file_a, a.id]
    )
    conn.execute(
        "INSERT INTO public_links (media_file_id, token_hash, created_by) VALUES (%s, %s, %s)",
        [file_a, hashlib.sha256(secrets.token_bytes(16)).digest(), a.id],
    )
    task = f"transcription-{secrets.token_hex(4)}"
    conn.execute(
        "INSERT INTO tasks (id, user_id, media_file_id, task_type) VALUES (%s, %s, %s, 'transcription')",
        [task, a.id, file_a],
    )
    conn.execute(
        "INSERT INTO transcript_staging (task_id, seq, start_time, end_time, text) VALUES (%s, 0, 0, 1, 'جزء')", [task]
    )
    download = f"url_import-{secrets.token_hex(4)}"
    conn.execute("INSERT INTO tasks (id, user_id, task_type) VALUES (%s, %s, 'url_import')", [download, a.id])
    conn.execute(
        "INSERT INTO url_imports (user_id, task_id, url) VALUES (%s, %s, 'https://example.com/ü')", [a.id, download]
    )
    conn.execute("INSERT INTO user_settings (user_id, key, value) VALUES (%s, 'ui.theme', '\"dark\"')", [a.id])
    config = one(
        "INSERT INTO user_llm_configurations (user_id, name, provider, model_name) "
        "VALUES (%s, 'Mein Modell', 'ollama', 'llama') RETURNING id",
        a.id,
    )
    conn.execute("INSERT INTO llm_connection_tests (configuration_id, ok) VALUES (%s, true)", [config])
    run = one(
        "INSERT INTO llm_runs (kind, media_file_id, user_id, llm_configuration_id, provider, model_name, language) "
        "VALUES ('translation', %s, %s, %s, 'ollama', 'llama', 'ja') RETURNING id",
        file_a,
        a.id,
        config,
    )
    conn.execute(
        "INSERT INTO llm_usage (user_id, purpose, subject, provider, model_name, input_tokens, output_tokens, "
        "reported, latency_ms) SELECT %s, 'translation', uuid, 'ollama', 'llama', 120, 40, true, 900 "
        "FROM llm_runs WHERE id = %s",
        [a.id, run],
    )
    conn.execute("INSERT INTO llm_token_limits (user_id, daily_tokens) VALUES (%s, 50000)", [a.id])
    conn.execute(  # the translation run's text of A's first segment (migration 0025)
        "INSERT INTO translated_segments (run_id, segment_id, text) VALUES (%s, %s, 'Hello, world 🌍')", [run, segment]
    )
    conn.execute(  # a speaker name proposed by a run (migration 0024)
        "INSERT INTO speaker_name_proposals (run_id, speaker_id, name, confidence, evidence) "
        "VALUES (%s, %s, 'مريم', 0.8, '[{\"quote\": \"Danke, مريم 👋\"}]')",
        [run, speaker_1],
    )
    conn.execute(  # step 21 topics: a topic of A's file, with the tag it proposes
        "INSERT INTO file_topics (run_id, media_file_id, position, label, relevance, proposed_tag) "
        "VALUES (%s, %s, 0, 'Größe 会議 🎉', 0.8, 'اجتماع')",
        [run, file_a],
    )
    conn.execute(
        "INSERT INTO summary_prompts (user_id, name, prompt_text) VALUES (%s, 'プロンプト', '{transcript}')", [a.id]
    )
    conn.execute("INSERT INTO notifications (user_id, kind, title) VALUES (%s, 'processing', '完了 ✅')", [a.id])
    conn.execute("INSERT INTO notification_preferences (user_id, kind) VALUES (%s, 'processing')", [a.id])
    conn.execute(
        "INSERT INTO questions (user_id, scope, media_file_id, question, answer, citations, provider, model_name) "
        "VALUES (%s, 'file', %s, 'ما الذي تقرر؟ 🤔', '決まりました [1]', '[{\"number\": 1}]', 'ollama', 'llama')",
        [a.id, file_a],
    )
    conn.execute(
        "INSERT INTO user_identities (user_id, provider, subject, email) VALUES (%s, 'oidc:corp', 'sub-ü-会議', NULL)",
        [a.id],
    )
    conn.execute(
        "INSERT INTO audit_log (actor_id, action, object_type, object_id) VALUES (%s, 'file.delete', 'file', 'x')",
        [a.id],
    )
    conn.execute("INSERT INTO user_two_factor (user_id) VALUES (%s)", [a.id])
    conn.execute("INSERT INTO recovery_codes (user_id, code_hash) VALUES (%s, sha256('ä-🔑'::bytea))", [a.id])
    conn.execute(
        "INSERT INTO password_resets (user_id, token_hash, expires_at) VALUES (%s, sha256('重置'::bytea), now())",
        [a.id],
    )
    conn.execute("INSERT INTO data_exports (user_id, status, error) VALUES (%s, 'failed', 'Speicher voll 💾')", [a.id])
    admin = factories.user(conn, admin=True)
    conn.execute(
        "INSERT INTO legal_holds (media_file_id, reason, placed_by) VALUES (%s, 'نزاع قانوني ⚖️', %s)",
        [file_a, admin.id],
    )
    conn.execute("INSERT INTO retention_notices (media_file_id, due_on) VALUES (%s, '2030-01-31')", [file_a])
    group = one("INSERT INTO groups (name, created_by) VALUES ('فريق', %s) RETURNING id", a.id)
    conn.execute("INSERT INTO group_members (group_id, user_id, role) VALUES (%s, %s, 'owner')", [group, a.id])
    conn.execute("INSERT INTO group_members (group_id, user_id) VALUES (%s, %s)", [group, c.id])
    conn.execute(
        "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, 'editor', %s)",
        [file_a, c.id, a.id],
    )
    return World(a, b, c, file_a, file_b)


@pytest.fixture
def world(db: Database) -> World:
    with db.acting_as_system(), db.transaction() as conn:
        return _seed(conn)


def _visible(db: Database, actor: Actor | None, table: str) -> int:
    """What an unscoped SELECT * of `table` returns to `actor`, minus the rows every user sees."""
    query = sql.SQL("SELECT count(*) FROM (SELECT * FROM {}) t").format(sql.Identifier(table))
    if table in SEEN_BY_ALL:
        query = sql.SQL("SELECT count(*) FROM (SELECT * FROM {} WHERE NOT ({})) t").format(
            sql.Identifier(table), sql.SQL(SEEN_BY_ALL[table])
        )
    with db.acting(actor), db.transaction() as conn:
        row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def test_every_table_of_a_user_or_a_file_has_row_level_security(db: Database) -> None:
    with db.transaction() as conn:
        keyed = conn.execute(
            "SELECT DISTINCT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "AND c.column_name IN ('user_id', 'media_file_id')"
        ).fetchall()
        protected = set(rls_tables(conn))
    unprotected = {name for (name,) in keyed} - protected - set(WITHOUT_RLS)
    assert not unprotected, f"tables holding users' rows without RLS: {sorted(unprotected)}"
    assert not set(WITHOUT_RLS) & protected, "an allow-listed table has RLS now: take it off the list"


def test_an_unscoped_select_as_b_returns_none_of_as_rows(db: Database, world: World) -> None:
    with db.transaction() as conn:
        tables = rls_tables(conn)
    assert len(tables) >= 25
    seen_by_a = {t: _visible(db, world.a, t) for t in tables}
    assert all(seen_by_a.values()), f"A has a row in every table and sees it: {seen_by_a}"
    seen_by_b = {t: n for t in tables if (n := _visible(db, world.b, t) - (t == "media_files"))}
    assert seen_by_b == {}, "B sees only B's own (empty) file"
    seen_by_nobody = {t: n for t in tables if (n := _visible(db, None, t))}
    assert seen_by_nobody == {}, "nobody sees nothing"


def test_the_admin_sees_others_files_only_in_the_explicit_all_files_view(db: Database, world: World) -> None:
    """The all-files view acts with the owner's role (every file is visible in it by definition)."""
    with db.acting_as_system(), db.transaction() as conn:
        admin = factories.user(conn, admin=True)
    assert _visible(db, admin, "media_files") == 0
    assert _visible(db, admin.seeing_all(), "media_files") == 2
    assert _visible(db, admin.seeing_all(), "transcript_segments") == 2
    assert _visible(db, Actor(world.b.id, sees_all=True), "media_files") == 1, "sees_all is an admin's only"


class _Peek(jobrun.JobBody[None]):
    """A job body whose work is the unscoped SELECT of every table with RLS, as the worker acting for the task."""

    kind: ClassVar = TRANSCRIPTION
    seen: ClassVar[dict[str, int]] = {}

    def claim(self, run: jobrun.JobRun, conn: Connection) -> None:
        return None

    def work(self, run: jobrun.JobRun, job: None) -> None:
        with run.db.transaction() as conn:
            for table in rls_tables(conn):
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                if table in SEEN_BY_ALL:
                    query = sql.SQL("SELECT count(*) FROM {} WHERE NOT ({})").format(
                        sql.Identifier(table), sql.SQL(SEEN_BY_ALL[table])
                    )
                row = conn.execute(query).fetchone()
                type(self).seen[table] = int(row[0]) if row else 0

    def fail(self, run: jobrun.JobRun, job: None, failure: jobrun.Failure) -> None:
        raise failure.error


def test_a_worker_acting_for_b_sees_none_of_as_rows(
    db: Database, world: World, fresh_url: str, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = f"transcription-{secrets.token_hex(4)}"
    with db.acting_as_system(), db.transaction() as conn:
        conn.execute(
            "INSERT INTO tasks (id, user_id, media_file_id, task_type) VALUES (%s, %s, %s, 'transcription')",
            [task, world.b.id, world.file_b],
        )
    context = JobContext(settings, db, fresh_url, "", settings.storage_dir, open_storage(settings))
    monkeypatch.setattr(jobrun, "job_context", lambda: context)
    assert jobrun.run(_Peek(), world.file_b, task) == "completed"
    seen = {t: n for t, n in _Peek.seen.items() if n}
    assert seen == {"media_files": 1, "tasks": 1}, "B's own file and task only"


def test_a_share_opens_the_file_and_what_belongs_to_it_and_nothing_else(db: Database, world: World) -> None:
    with db.acting_as_system(), db.transaction() as conn:
        conn.execute(
            "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, 'viewer', %s)",
            [world.file_a, world.b.id, world.a.id],
        )
    for table, rows in {"media_files": 2, "transcript_segments": 2, "speakers": 2, "comments": 1, "shares": 1}.items():
        assert _visible(db, world.b, table) == rows, table
    for table in ("collections", "user_settings", "notifications", "speaker_profiles", "groups"):
        assert _visible(db, world.b, table) == 0, table
    # through the group: C is a member of A's group, which gets the file
    with db.acting_as_system(), db.transaction() as conn:
        conn.execute("DELETE FROM shares WHERE user_id = %s", [world.c.id])
        conn.execute(
            "INSERT INTO shares (media_file_id, group_id, role, shared_by) "
            "SELECT %s, group_id, 'commenter', %s FROM group_members WHERE user_id = %s",
            [world.file_a, world.a.id, world.c.id],
        )
    assert _visible(db, world.c, "media_files") == 1
    assert _visible(db, world.c, "groups") == 1
    assert _visible(db, world.c, "group_members") == 2


def test_a_viewer_updates_and_deletes_nothing_an_editor_edits_but_does_not_delete(db: Database, world: World) -> None:
    with db.acting_as_system(), db.transaction() as conn:
        conn.execute(
            "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, 'viewer', %s)",
            [world.file_a, world.b.id, world.a.id],
        )

    def change(actor: Actor, statement: str) -> int:
        with db.acting(actor), db.transaction() as conn:
            return conn.execute(statement, [world.file_a]).rowcount

    assert change(world.b, "UPDATE media_files SET title = 'übernommen' WHERE id = %s") == 0
    assert change(world.b, "DELETE FROM media_files WHERE id = %s") == 0
    assert change(world.c, "UPDATE media_files SET title = 'bearbeitet ✏️' WHERE id = %s") == 1, "C is an editor"
    assert change(world.c, "DELETE FROM media_files WHERE id = %s") == 0, "deleting is the owner's"
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        change(world.b, "INSERT INTO media_files (user_id, filename, storage_path, file_size) "
                        "SELECT user_id, 'x', 'stolen', 1 FROM media_files WHERE id = %s")  # fmt: skip
    with db.transaction() as conn:
        assert conn.execute("SELECT title FROM media_files WHERE id = %s", [world.file_a]).fetchone() == (
            "bearbeitet ✏️",
        )


def test_the_role_is_neither_a_superuser_nor_the_owner(db: Database, world: World) -> None:
    with db.acting(world.b), db.transaction() as conn:
        row = conn.execute(
            "SELECT current_user, r.rolsuper, r.rolbypassrls, "
            "(SELECT tableowner FROM pg_tables WHERE tablename = 'media_files') "
            "FROM pg_roles r WHERE r.rolname = current_user"
        ).fetchone()
    assert row is not None
    role, superuser, bypass, owner = row
    assert (role, superuser, bypass) == ("opentr_app", False, False)
    assert owner != role


def _settings_of(conn: Connection) -> tuple[Any, ...]:
    row = conn.execute("SELECT current_user, current_setting('opentr.actor_id', true)").fetchone()
    assert row is not None
    return tuple(row)


def test_the_acting_user_ends_with_the_transaction(fresh_url: str, settings: Settings, world: World) -> None:
    with Database(fresh_url, settings, min_size=1, max_size=1) as one_connection:
        with one_connection.acting(world.b), one_connection.transaction() as conn:
            assert _settings_of(conn) == ("opentr_app", str(world.b.id))
            with one_connection.acting(world.a), one_connection.transaction() as inner:
                assert _settings_of(inner) == ("opentr_app", str(world.b.id)), "a savepoint keeps the outer actor"
        with one_connection.transaction() as conn:
            user, actor = _settings_of(conn)
            assert user != "opentr_app" and not actor, "the next transaction on the connection is the system again"
            assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (2,)
        with one_connection.acting(None), one_connection.transaction() as conn:
            assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (0,)


def test_a_failed_transaction_does_not_leave_the_actor_behind(fresh_url: str, settings: Settings, world: World) -> None:
    with Database(fresh_url, settings, min_size=1, max_size=1) as one_connection:
        with (
            pytest.raises(psycopg.errors.DivisionByZero),
            one_connection.acting(world.b),
            one_connection.transaction() as conn,
        ):
            conn.execute("SELECT 1 / 0")
        with one_connection.transaction() as conn:
            assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (2,)


@pytest.fixture(scope="module")
def narrow_bouncer(server_url: str) -> Iterator[PgBouncer]:
    """One server connection for all clients: consecutive transactions of different clients share it."""
    with PgBouncer(server_url, pool_size=1) as pooler:
        yield pooler


def test_through_pgbouncer_in_transaction_mode(
    narrow_bouncer: PgBouncer, fresh_url: str, world: World, tmp_path: Path
) -> None:
    pooled = narrow_bouncer.url(schema.database_name(fresh_url))
    settings = Settings(
        opentr_home=tmp_path / "home",
        database_url=pooled,
        database_direct_url=schema.to_url(fresh_url),
        db_pool_min=1,
        db_pool_max=2,
        db_pool_timeout=5,
    )
    assert settings.behind_pooler
    with Database(pooled, settings) as web, Database(pooled, settings) as system:
        for _ in range(5):
            for actor, files in ((world.a, 1), (world.b, 1), (None, 0)):
                with web.acting(actor), web.transaction() as conn:
                    assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (files,)
                with system.transaction() as conn:
                    assert _settings_of(conn)[1] in ("", None), "nothing of the last client's actor is left"
                    assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (2,)
    assert narrow_bouncer.logins(schema.database_name(fresh_url)) > 0


def test_the_web_acts_for_nobody_where_nobody_was_declared(client: Any, world: World) -> None:
    db: Database = client.app.state.services.db
    with db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (0,)
    with db.acting_as_system(), db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (2,)


def test_through_the_api_the_caller_acts_and_the_platform_totals_are_the_systems(client: Any, fresh_url: str) -> None:
    a_headers, a = web.signed_in(client, fresh_url)
    b_headers, _ = web.signed_in(client, fresh_url)
    a_uuid = web.a_file(fresh_url, a, title="Ωμέγα 🎧", status="completed")
    assert [f["uuid"] for f in client.get("/api/files", headers=a_headers).json()["items"]] == [a_uuid]
    assert client.get("/api/files", headers=b_headers).json()["items"] == []
    assert client.get(f"/api/files/{a_uuid}", headers=b_headers).status_code == 404
    web.make_admin(fresh_url, b_headers, client)
    stats = client.get("/api/admin/stats", headers=b_headers).json()
    assert (stats["users"], stats["files"]) == (2, 1), "an administrator's totals span every user's files"
    assert client.get("/api/files", headers=b_headers).json()["items"] == [], "not the admin's own library, though"


def test_the_systems_prompts_are_read_by_all_and_written_by_administrators_only(db: Database, world: World) -> None:
    with db.acting_as_system(), db.transaction() as conn:
        admin = factories.user(conn, admin=True)
    rename = "UPDATE summary_prompts SET description = 'Überarbeitet 📝' WHERE user_id IS NULL"
    for actor, changed in ((world.b, 0), (admin, 2)):
        with db.acting(actor), db.transaction() as conn:
            assert conn.execute("SELECT count(*) FROM summary_prompts WHERE user_id IS NULL").fetchone() == (2,)
            assert conn.execute(rename).rowcount == changed


def test_what_a_transaction_changes_about_access_it_sees_at_once(db: Database, world: World) -> None:
    """The readable files are kept for the rest of a transaction (rls_files()); a write in that same transaction that
    changes them (a new file, a share, leaving a group, a file taken out of a shared collection) is seen by its very
    next statement, never the kept list."""
    segments_of_b = sql.SQL("SELECT count(*) FROM transcript_segments")
    with db.acting_as_system(), db.transaction() as conn:
        of_a = conn.execute("SELECT count(*) FROM transcript_segments WHERE media_file_id = %s", [world.file_a])
        shared_segments = of_a.fetchone()
    assert shared_segments is not None and shared_segments[0] > 0
    with db.acting(world.b), db.transaction() as conn:
        before = conn.execute(segments_of_b).fetchone()
        with as_system(conn):  # A shares their file with B inside B's transaction (as the sharing API would)
            conn.execute(
                "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, 'viewer', %s)",
                [world.file_a, world.b.id, world.a.id],
            )
        after = conn.execute(segments_of_b).fetchone()
        assert before is not None and after is not None and after[0] == before[0] + shared_segments[0]
        created = conn.execute(
            "INSERT INTO media_files (user_id, filename, storage_path, file_size) "
            "VALUES (%s, 'neu — 新しい.wav', %s, 1) RETURNING id",
            [world.b.id, f"rls/{secrets.token_hex(6)}.wav"],
        ).fetchone()
        assert created is not None
        conn.execute(
            "INSERT INTO transcript_segments (media_file_id, start_time, end_time, text) VALUES (%s, 0, 1, 'مرحبا')",
            [created[0]],
        )
        assert conn.execute(segments_of_b).fetchone() == (after[0] + 1,)
    with db.acting(world.c), db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (1,)  # A's editor share
        with as_system(conn):
            conn.execute("DELETE FROM shares WHERE user_id = %s", [world.c.id])
        assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (0,)
