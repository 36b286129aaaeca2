"""Data safety: `opentr db backup` then `opentr db restore FILE --into NEW` gives back every row of every table (counts
and checksums per table, sequences and schema too), and `opentr db migrate` refuses to run when no backup can be taken
(no pg_dump, a failing pg_dump, an unwritable backup directory) unless told `--no-backup`."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Json, Jsonb

from repo import schema
from tests import factories

# Values that trip up dump formats: COPY's escapes and null marker, quotes, control characters, unicode, big text.
AWKWARD = [
    "plain",
    "tab\there",
    "new\nline\r\nand return",
    "back\\slash \\N \\. \\\\",
    "\\N",
    "'single' \"double\" `back`",
    "'); DROP TABLE users; --",
    "ünïcødé 🎙️ 中文 עברית \u202e",
    "",
    " leading and trailing ",
    "x" * 100_000,
]


def _populate(url: str) -> None:
    """Rows in every table, with awkward values in text, jsonb, bytea, floats and timestamps."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        users = [factories.user(conn, admin=(i == 0)) for i in range(3)]
        conn.execute("UPDATE users SET full_name = %s WHERE id = %s", [AWKWARD[6], users[1].id])
        for n, owner in enumerate(users):
            conn.execute(
                "INSERT INTO auth_tokens (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 day')",
                [owner.id, secrets.token_bytes(32)],
            )
            for i, text in enumerate(AWKWARD):
                file_id, _ = factories.media_file(
                    conn,
                    owner,
                    filename=f"f{i}.wav",
                    status="completed",
                    title=text,
                    description=text[:5000],
                    duration=1e-300 if i % 2 else 12345.678901234567,
                    file_hash=secrets.token_hex(32),
                )
                one = factories.speaker(conn, owner, file_id, "SPEAKER_00")
                two = factories.speaker(conn, owner, file_id, "SPEAKER_01")
                conn.execute(
                    "INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence) VALUES (%s, %s, 0.333333)",
                    [min(one, two), max(one, two)],
                )
                conn.execute(
                    "INSERT INTO transcript_segments (media_file_id, speaker_id, start_time, end_time, text) "
                    "SELECT %s, %s, g * 0.1, g * 0.1 + 0.05, %s || g FROM generate_series(0, 199) g",
                    [file_id, one, text[:2000]],
                )
                conn.execute(
                    "INSERT INTO segment_words (segment_id, words) "
                    "SELECT id, %s FROM transcript_segments WHERE media_file_id = %s",
                    [Json([{"w": text[:50], "p": 0.1}]), file_id],
                )
                conn.execute(
                    "INSERT INTO comments (media_file_id, user_id, text, timestamp) VALUES (%s, %s, %s, %s)",
                    [file_id, owner.id, text[:10000] or "-", 0.1 + i],
                )
                conn.execute(
                    "INSERT INTO analytics (media_file_id, speaker_stats, keywords, sentiment) "
                    "VALUES (%s, %s, %s, NULL)",
                    [file_id, Jsonb({"k": text[:100]}), Jsonb([text[:20]])],
                )
                task = f"process-{secrets.token_hex(8)}"
                conn.execute(
                    "INSERT INTO tasks (id, user_id, media_file_id, task_type, status, error_message, completed_at) "
                    "VALUES (%s, %s, %s, 'transcription', 'completed', %s, 'infinity')",
                    [task, owner.id, file_id, text[:500]],
                )
                conn.execute(
                    "INSERT INTO notifications (user_id, kind, title, message, data, media_file_id, task_id) "
                    "VALUES (%s, 'upload', %s, %s, %s, %s, %s)",
                    [owner.id, f"t{i}", text[:1000], Jsonb({"x": text[:30]}), file_id, task],
                )
                conn.execute(
                    "INSERT INTO transcript_staging (task_id, seq, start_time, end_time, text, speaker_label, words) "
                    "VALUES (%s, 0, 0.5, 1.5, %s, 'SPEAKER_00', %s)",
                    [task, text[:2000], Json([{"w": text[:50], "p": 0.1}])],
                )
                download = f"download-{secrets.token_hex(8)}"
                conn.execute(
                    "INSERT INTO tasks (id, user_id, task_type, status) VALUES (%s, %s, 'download', 'completed')",
                    [download, owner.id],
                )
                conn.execute(
                    "INSERT INTO url_imports (user_id, task_id, url, status, bytes_received, media_file_id) "
                    "VALUES (%s, %s, %s, 'completed', 1000, %s)",
                    [owner.id, download, f"https://example.com/{i}?q={text[:50]}", file_id],
                )
                conn.execute(
                    "INSERT INTO import_origins (source, source_table, source_key, target_id) VALUES (%s, %s, %s, %s)",
                    ["opentranscribe", "media_file", f"{n}-{i}-{text[:40]}", file_id],
                )
            profile = conn.execute(
                "INSERT INTO speaker_profiles (user_id, name, description) VALUES (%s, 'Ann', %s) RETURNING id",
                [owner.id, AWKWARD[3]],
            ).fetchone()
            group = conn.execute(
                "INSERT INTO speaker_collections (user_id, name) VALUES (%s, 'team') RETURNING id", [owner.id]
            ).fetchone()
            assert profile is not None and group is not None
            conn.execute(
                "INSERT INTO speaker_collection_members (collection_id, profile_id) VALUES (%s, %s)",
                [group[0], profile[0]],
            )
            conn.execute("UPDATE speakers SET profile_id = %s WHERE user_id = %s", [profile[0], owner.id])
            conn.execute(  # voices: real[] and bit(256) round-trip too
                "UPDATE speakers SET embedding = ARRAY[0.6, -0.8, 1e-30]::real[], assigned_by = 'auto', "
                "embedding_signature = repeat('01', 128)::bit(256), embedding_seconds = 1.5 WHERE user_id = %s",
                [owner.id],
            )
            conn.execute(
                "INSERT INTO speaker_profile_suggestions (speaker_id, profile_id, confidence, status) "
                "SELECT id, %s, 0.7, 'rejected' FROM speakers WHERE user_id = %s",
                [profile[0], owner.id],
            )
            collection = conn.execute(
                "INSERT INTO collections (user_id, name, description) VALUES (%s, 'all', %s) RETURNING id",
                [owner.id, AWKWARD[2]],
            ).fetchone()
            assert collection is not None
            conn.execute(
                "INSERT INTO collection_members (collection_id, media_file_id) "
                "SELECT %s, id FROM media_files WHERE user_id = %s",
                [collection[0], owner.id],
            )
            conn.execute(
                "INSERT INTO user_settings (user_id, key, value) VALUES (%s, 'ui.theme', '\"dark\"')", [owner.id]
            )
            config = conn.execute(
                "INSERT INTO user_llm_configurations (user_id, name, provider, model_name, api_key_encrypted, "
                "api_key_version, temperature) VALUES (%s, 'c', 'openai', 'm', %s, 7, 0.7) RETURNING id",
                [owner.id, bytes(range(256))],
            ).fetchone()
            assert config is not None
            conn.execute(
                "INSERT INTO llm_connection_tests (configuration_id, ok, latency_ms, message) "
                "VALUES (%s, false, 3, %s)",
                [config[0], AWKWARD[4]],
            )
            prompt = conn.execute(
                "INSERT INTO summary_prompts (user_id, name, prompt_text) VALUES (%s, 'p', %s) RETURNING id",
                [owner.id, AWKWARD[1]],
            ).fetchone()
            assert prompt is not None
            conn.execute(
                "INSERT INTO file_summaries (media_file_id, user_id, prompt_id, llm_configuration_id, version, "
                "status, bluf, major_topics) SELECT id, user_id, %s, %s, 1, 'completed', %s, %s "
                "FROM media_files WHERE user_id = %s",
                [prompt[0], config[0], AWKWARD[7], Jsonb([AWKWARD[5]]), owner.id],
            )
            conn.execute(
                "INSERT INTO processing_choices (media_file_id, language, task, vocabulary, summary_prompt_id) "
                "SELECT id, 'ja', 'translate', %s, %s FROM media_files WHERE user_id = %s",
                [AWKWARD[3], prompt[0], owner.id],
            )
            conn.execute(
                "INSERT INTO notification_preferences (user_id, kind, in_app) VALUES (%s, 'summary', %s)",
                [owner.id, n % 2 == 0],
            )
            conn.execute(
                "INSERT INTO tags (name) VALUES (%s), (%s)", [f"tag {n} {AWKWARD[6]}", f"tag {n} {AWKWARD[7]}"]
            )
        conn.execute("INSERT INTO file_tags (media_file_id, tag_id) SELECT m.id, t.id FROM media_files m, tags t")
        conn.execute("DELETE FROM tags WHERE id = (SELECT min(id) FROM tags)")  # a gap in an identity sequence
        # Step 17: a group of both users, shares of each kind of object, a public link (its token's hash: bytea)
        first, second = users[0].id, users[1].id
        group_id = conn.execute(
            "INSERT INTO groups (name, description, created_by) VALUES (%s, %s, %s) RETURNING id",
            [AWKWARD[6][:200] or "g", AWKWARD[2][:2000], first],
        ).fetchone()
        assert group_id is not None
        conn.execute(
            "INSERT INTO group_members (group_id, user_id, role) VALUES (%s, %s, 'owner'), (%s, %s, 'member')",
            [group_id[0], first, group_id[0], second],
        )
        conn.execute(
            "INSERT INTO shares (media_file_id, user_id, role, shared_by) "
            "SELECT id, %s, 'editor', user_id FROM media_files WHERE user_id = %s",
            [second, first],
        )
        conn.execute(
            "INSERT INTO shares (collection_id, group_id, role, shared_by) "
            "SELECT id, %s, 'viewer', user_id FROM collections WHERE user_id = %s",
            [group_id[0], first],
        )
        conn.execute(
            "INSERT INTO shares (speaker_profile_id, group_id, role, shared_by) "
            "SELECT id, %s, 'commenter', user_id FROM speaker_profiles WHERE user_id = %s",
            [group_id[0], first],
        )
        conn.execute(
            "INSERT INTO public_links (media_file_id, token_hash, created_by, expires_at) "
            "SELECT id, sha256(convert_to(uuid::text, 'UTF8')), user_id, now() + interval '7 days' "
            "FROM media_files WHERE user_id = %s",
            [first],
        )
        conn.execute(
            "INSERT INTO passages (media_file_id, position, start_time, end_time, text, model, transcript_version, "
            "embedding) SELECT id, 0, 0, 1.5, 'Größe 会議 😀 اجتماع', 'm', 1, '{0.6,0.8}' FROM media_files "
            "WHERE user_id = %s",
            [first],
        )
        conn.execute(
            "INSERT INTO questions (user_id, scope, media_file_id, question, answer, citations, provider, model_name) "
            "SELECT user_id, 'file', id, 'ما الذي تقرر؟ 😀', '予算 [1]\n\"quoted\"', "
            "jsonb_build_array(jsonb_build_object('number', 1, 'file_uuid', uuid, 'title', 'Größe', "
            "'start_time', 0.1, 'end_time', 1.5, 'text', '会議')), "
            "'custom', 'm' FROM media_files WHERE user_id = %s",
            [first],
        )
        conn.execute(
            "INSERT INTO user_identities (user_id, provider, subject, email) VALUES (%s, 'ldap:corp', "
            "'uid=jürgen,ou=people,dc=例え,dc=org', 'jürgen@例え.org')",
            [first],
        )
        conn.execute(
            "INSERT INTO audit_log (actor_id, actor_email, action, object_type, object_id, address, details) "
            "VALUES (%s, 'jürgen@例え.org', 'share.create', 'file', 'x', '2001:db8::1', '{\"with\": \"مريم 😀\"}')",
            [first],
        )
        # Step 19: a second factor (sealed bytes), a recovery code's and a reset link's hashes, an instance setting
        conn.execute(
            "INSERT INTO user_two_factor (user_id, required, secret_sealed, secret_version, enabled_at, last_step) "
            "VALUES (%s, true, '\\x00ff10', 7, now(), 58000000)",
            [first],
        )
        conn.execute(
            "INSERT INTO recovery_codes (user_id, code_hash, used_at) VALUES (%s, sha256('ü-😀'::bytea), now())",
            [first],
        )
        conn.execute(
            "INSERT INTO password_resets (user_id, token_hash, expires_at, address) "
            "VALUES (%s, sha256('Größe'::bytea), now() + interval '1 hour', '192.0.2.1')",
            [first],
        )
        conn.execute(
            "INSERT INTO instance_settings (key, value, updated_by) VALUES ('two_factor.required', 'true', %s)",
            [first],
        )
        # Step 19: a person's data exports, one ready (its archive's key) and one that failed
        conn.execute(
            "INSERT INTO data_exports (user_id, status, progress, storage_key, size, files, ready_at, expires_at) "
            "VALUES (%s, 'ready', 1, %s, 12345, 2, now(), now() + interval '1 day')",
            [first, f"{first}/exports/{secrets.token_hex(16)}.zip"],
        )
        conn.execute(
            "INSERT INTO data_exports (user_id, status, error) VALUES (%s, 'failed', %s)", [second, AWKWARD[4][:2000]]
        )
        # Step 19 retention: the instance default (its one row), a collection's policy, holds (one lifted), notices.
        conn.execute("UPDATE retention_settings SET default_days = 3650, updated_by = %s", [first])
        conn.execute("UPDATE collections SET retention_days = 30 WHERE user_id = %s", [second])
        conn.execute(
            "INSERT INTO legal_holds (media_file_id, reason, placed_by, released_by, released_at) "
            "SELECT id, %s, %s, %s, now() FROM media_files WHERE user_id = %s",
            [AWKWARD[3][:1000] or "r", first, first, second],
        )
        conn.execute(
            "INSERT INTO legal_holds (collection_id, reason, placed_by) SELECT id, 'Rechtsstreit 訴訟 ⚖️', %s "
            "FROM collections WHERE user_id = %s",
            [first, first],
        )
        conn.execute(
            "INSERT INTO retention_notices (media_file_id, due_on) SELECT id, '2030-01-31' FROM media_files "
            "WHERE user_id = %s",
            [second],
        )
        # Step 21: a translation run with its segments, a proposed speaker name, a topic, the requests' costs, a limit
        run = conn.execute(
            "INSERT INTO llm_runs (kind, media_file_id, user_id, provider, model_name, language, options, status, "
            "progress, transcript_version, requests, input_tokens, output_tokens, raw_response, started_at, "
            "completed_at) SELECT 'translation', id, user_id, 'custom', 'm', 'ja', %s, 'completed', 1, 7, 2, 900, "
            "300, %s, now(), now() FROM media_files WHERE user_id = %s ORDER BY id LIMIT 1 RETURNING id, uuid",
            [Jsonb({"note": AWKWARD[6]}), AWKWARD[2], first],
        ).fetchone()
        assert run is not None
        conn.execute(
            "INSERT INTO translated_segments (run_id, segment_id, text) SELECT %s, s.id, %s || s.text "
            "FROM transcript_segments s JOIN llm_runs r ON r.media_file_id = s.media_file_id WHERE r.id = %s",
            [run[0], AWKWARD[7], run[0]],
        )
        conn.execute(
            "INSERT INTO speaker_name_proposals (run_id, speaker_id, name, confidence, evidence, status, decided_by, "
            "decided_at) SELECT %s, s.id, 'مريم 😀', 0.75, %s, 'accepted', %s, now() FROM speakers s "
            "JOIN llm_runs r ON r.media_file_id = s.media_file_id WHERE r.id = %s",
            [run[0], Jsonb([{"quote": AWKWARD[3][:200], "start_time": 1.5}]), first, run[0]],
        )
        conn.execute(  # a topic the run found, its tag accepted (migration 0023)
            "INSERT INTO file_topics (run_id, media_file_id, position, label, description, relevance, moments, "
            "proposed_tag, proposed_collection, tag_decision, decided_by, decided_at) "
            "SELECT r.id, r.media_file_id, 0, 'Größe 会議 🎉', %s, 0.875, '{0, 12.5, 3600.25}', 'اجتماع', %s, "
            "'accepted', %s, now() FROM llm_runs r WHERE r.id = %s",
            [AWKWARD[4][:2000], AWKWARD[5][:200] or "c", first, run[0]],
        )
        conn.execute(
            "INSERT INTO llm_usage (user_id, purpose, subject, provider, model_name, input_tokens, output_tokens, "
            "reported, latency_ms) VALUES (%s, 'translation', %s, 'custom', 'm', 450, 150, true, 1234), "
            "(%s, 'question', NULL, 'ollama', 'llama', 80, 20, false, 99)",
            [first, run[1], second],
        )
        conn.execute(
            "INSERT INTO llm_token_limits (user_id, daily_tokens, set_by) VALUES (%s, 100000, %s)", [second, first]
        )


def _tables(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Per table of the public schema: (row count, md5 of every row's text in primary-key order)."""
    out: dict[str, tuple[int, str]] = {}
    with psycopg.connect(url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        for table in _tables(conn):
            keys = [
                r[0]
                for r in conn.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                    "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary "
                    "ORDER BY array_position(i.indkey::int2[], a.attnum)",
                    [f"public.{table}"],
                )
            ]
            order = sql.SQL(", ").join(sql.Identifier(k) for k in keys) if keys else sql.SQL("t::text")
            query = sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {}), '')) FROM {} t"
            ).format(order, sql.Identifier(table))
            row = conn.execute(query).fetchone()
            assert row is not None
            out[table] = (int(row[0]), str(row[1]))
    return out


def sequences(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")
        return dict(rows.fetchall())


def _schema(url: str) -> str:
    """The schema dump up to parentheses: a restore re-parses `a AND b AND c` and deparses it with fewer of them."""
    return re.sub(r"[()\s]", "", schema.schema_dump(url))


def _env(tmp_path: Path, url: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {**base, "DATABASE_URL": schema.to_url(url), "OPENTR_HOME": str(tmp_path / "home"), **extra}


def _opentr(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opentr_cli", *args], env=env, text=True, capture_output=True, timeout=timeout
    )


@pytest.mark.slow
def test_backup_then_restore_into_a_new_database_round_trips_every_row(
    fresh_url: str, server_url: str, tmp_path: Path
) -> None:
    _populate(fresh_url)
    before = fingerprint(fresh_url)
    empty = [table for table, (count, _) in before.items() if count == 0 and table != "yoyo_lock"]
    assert empty == [], f"every table holds rows before the backup; empty: {empty}"
    assert before["transcript_segments"][0] == 3 * len(AWKWARD) * 200

    dump = tmp_path / "backups" / "all.dump"
    env = _env(tmp_path, fresh_url)
    backed_up = _opentr("db", "backup", "-o", str(dump), env=env)
    assert backed_up.returncode == 0, backed_up.stderr
    assert f"backup written to {dump}" in backed_up.stdout and dump.stat().st_size > 0
    assert not list(dump.parent.glob("*.partial"))

    target = f"opentr_test_restored_{secrets.token_hex(4)}"
    restored_url = schema.with_database(server_url, target)
    try:
        restored = _opentr("db", "restore", str(dump), "--into", target, env=env)
        assert restored.returncode == 0, restored.stderr
        assert f"restored into {target}" in restored.stdout
        after = fingerprint(restored_url)
        assert sorted(after) == sorted(before)
        differing = {t: (before[t], after[t]) for t in before if before[t] != after[t]}
        assert differing == {}, differing
        assert sequences(restored_url) == sequences(fresh_url)
        assert _schema(restored_url) == _schema(fresh_url)
        # The copy works on: migrations are recorded (nothing to apply) and new rows take fresh ids.
        assert all(applied for _, applied in schema.status(restored_url))
        with psycopg.connect(restored_url, autocommit=True) as conn:
            new_tag = conn.execute("INSERT INTO tags (name) VALUES ('after restore') RETURNING id").fetchone()
            assert new_tag is not None and new_tag[0] > sequences(fresh_url)["tags_id_seq"]
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)))


def _no_tables(url: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def _backups(tmp_path: Path) -> list[Path]:
    directory = tmp_path / "home" / "backups"
    return sorted(directory.iterdir()) if directory.is_dir() else []


@pytest.mark.slow
def test_migrate_refuses_without_a_backup_unless_told_no_backup(empty_url: str, tmp_path: Path) -> None:
    nothing = tmp_path / "empty-bin"
    nothing.mkdir()
    failing = tmp_path / "failing-pg_dump"
    failing.write_text(
        "#!/bin/sh\n"
        'while [ $# -gt 0 ]; do [ "$1" = --file ] && echo partial > "$2"; shift; done\n'
        'echo "pg_dump: error: could not write to output file: No space left on device" >&2\nexit 1\n'
    )
    failing.chmod(0o755)
    blocked_home = tmp_path / "blocked"
    blocked_home.mkdir()
    (blocked_home / "backups").write_text("a file where the backup directory should be")
    cases = [
        ({"PATH": str(nothing), "OPENTR_PG_DUMP": str(tmp_path / "missing" / "pg_dump")}, "is not an executable"),
        ({"OPENTR_PG_DUMP": str(failing)}, "No space left on device"),
        ({"OPENTR_HOME": str(blocked_home)}, "File exists"),
    ]
    for extra, reason in cases:
        env = _env(tmp_path, empty_url, **extra)
        refused = _opentr("db", "migrate", env=env)
        assert refused.returncode == 1, (extra, refused.stdout, refused.stderr)
        assert "refusing to migrate without a backup" in refused.stderr and "--no-backup" in refused.stderr
        assert reason in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        assert _no_tables(empty_url), "nothing was migrated"
        assert _backups(tmp_path) == [], "no partial backup left behind"

    env = _env(tmp_path, empty_url, **cases[0][0])
    proceeded = _opentr("db", "migrate", "--no-backup", env=env)
    assert proceeded.returncode == 0, proceeded.stderr
    assert proceeded.stdout.strip().splitlines()[-1] == f"applied {len(schema.read_migrations())} migration(s)"
    assert all(applied for _, applied in schema.status(empty_url))

    taken = _opentr("db", "migrate", env=_env(tmp_path, empty_url))
    assert taken.returncode == 0, taken.stderr
    assert "backup written to" in taken.stdout and "nothing to migrate" in taken.stdout
    assert [p.suffix for p in _backups(tmp_path)] == [".dump"]
