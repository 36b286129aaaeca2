"""`cleanup()` and `opentr cleanup [--yes]` on a real database and a real storage directory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from credentials.tokens import hash_token
from repo import schema
from repo.database import Database
from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.users import UserRepository
from tests import factories
from transcript.segments import Segment
from workers.cleanup import cleanup

DAY = 24 * 3600
# Sign-in tokens by how many days ago they expired (negative: still valid); a token goes a week after it expired.
TOKENS_KEPT = {"signed in": -6.0, "expired yesterday": 1.0, "expired six and a half days ago": 6.5}
TOKENS_GONE = {"expired eight days ago": 8.0, "revoked, expired a year ago": 365.0}


@dataclass(frozen=True)
class Layout:
    storage: Path
    kept: list[str]  # files that must survive cleanup --yes
    stray: list[str]  # old files no row points at
    old_partials: list[str]  # uploads abandoned in storage/incoming more than a day ago
    real_id: int  # a row whose media is there
    missing_id: int  # a row whose media vanished
    orphaned_id: int  # a row already marked orphaned earlier
    tokens: dict[str, str]  # TOKENS_KEPT and TOKENS_GONE by name → the token


def put(storage: Path, relative: str, age_seconds: float = 0.0, content: bytes = b"data") -> str:
    path = storage / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(path, (then, then))
    return relative


def sign_ins(conn: psycopg.Connection[Any], owner: Actor) -> dict[str, str]:
    """One token per name of TOKENS_KEPT and TOKENS_GONE, issued as a sign-in does, then aged."""
    users = UserRepository(conn)
    issued = {}
    for name, days_ago in {**TOKENS_KEPT, **TOKENS_GONE}.items():
        token = issued[name] = users.issue_token(users.get_by_id(owner.id))
        if name.startswith("revoked"):
            users.revoke_token(token)
        conn.execute(  # issued a week (the token's lifetime) before it expired
            "UPDATE auth_tokens SET created_at = now() - (%(days)s + 7) * interval '1 day', "
            "expires_at = now() - %(days)s * interval '1 day' WHERE token_hash = %(hash)s",
            {"days": days_ago, "hash": hash_token(token)},
        )
    return issued


def tokens_left(conninfo: str, layout: Layout) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        stored = {bytes(row[0]) for row in conn.execute("SELECT token_hash FROM auth_tokens").fetchall()}
    return {name for name, token in layout.tokens.items() if hash_token(token) in stored}


def arrange(conninfo: str, storage: Path) -> Layout:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        owner = factories.user(conn)
        tokens = sign_ins(conn, owner)
        real_id, _ = factories.media_file(conn, owner, status="completed", storage_path=f"{owner.id}/real-media")
        missing_id, _ = factories.media_file(conn, owner, status="completed", storage_path=f"{owner.id}/vanished")
        SegmentRepository(conn).replace_transcript(missing_id, [Segment(0.0, 1.0, "still here", "SPEAKER_00")])
        orphaned_id, _ = factories.media_file(conn, owner, status="orphaned", storage_path=f"{owner.id}/long-gone")
    kept = [
        put(storage, f"{owner.id}/real-media", age_seconds=30 * DAY),  # old, but a row points at it
        put(storage, f"{owner.id}/real-media.transcript", age_seconds=30 * DAY),  # its sidecar
        put(storage, f"{owner.id}/just-moved-in"),  # an upload whose row is not committed yet
        put(storage, "incoming/4f1c-in-progress.part"),  # an upload still arriving
        put(storage, "incoming/9a2e-slow.part", age_seconds=DAY - 600),  # slow, but not a day old
    ]
    stray = [
        put(storage, f"{owner.id}/left-behind", age_seconds=2 * 3600),
        put(storage, f"{owner.id}/deleted-file.transcript", age_seconds=3 * DAY),
        put(storage, "999/of-a-deleted-user", age_seconds=7 * DAY),
    ]
    old_partials = [put(storage, "incoming/77b0-abandoned.part", age_seconds=DAY + 600)]
    return Layout(storage, kept, sorted(stray), old_partials, real_id, missing_id, orphaned_id, tokens)


def statuses(conninfo: str) -> dict[int, tuple[Any, ...]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT id, status, last_error_message, error_category FROM media_files ORDER BY id"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def files_in(storage: Path) -> set[str]:
    return {p.relative_to(storage).as_posix() for p in storage.rglob("*") if p.is_file()}


def opentr_cleanup(conninfo: str, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "OPENTR_STORAGE_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "opentr_cli", "cleanup", *args],
        env={**base, "DATABASE_URL": schema.to_url(conninfo), "OPENTR_HOME": str(home), **env},
        text=True,
        capture_output=True,
        timeout=60,
    )


def test_cli_reports_without_yes_and_fixes_with_it(fresh_url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    layout = arrange(fresh_url, home / "storage")
    before_files, before_rows = files_in(layout.storage), statuses(fresh_url)

    report = opentr_cleanup(fresh_url, home)

    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines() == [
        *(f"stray file: {path}" for path in layout.stray),
        *(f"abandoned partial upload: {path}" for path in layout.old_partials),
        f"media missing for file id {layout.missing_id}",
        "found 3 stray file(s), 1 abandoned partial upload(s); 1 row(s) whose media is missing; "
        "2 sign-in token(s) expired more than a week ago; 0 expired data export(s); run again with --yes to fix",
    ]
    assert files_in(layout.storage) == before_files  # a report changes nothing
    assert statuses(fresh_url) == before_rows
    assert tokens_left(fresh_url, layout) == {*TOKENS_KEPT, *TOKENS_GONE}

    fixed = opentr_cleanup(fresh_url, home, "--yes")

    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.splitlines()[-1] == (
        "removed 3 stray file(s), 1 abandoned partial upload(s); 1 row(s) whose media is missing (marked orphaned); "
        "2 sign-in token(s) expired more than a week ago (deleted); 0 expired data export(s) (removed)"
    )
    assert files_in(layout.storage) == set(layout.kept)
    assert tokens_left(fresh_url, layout) == set(TOKENS_KEPT)
    with psycopg.connect(fresh_url) as conn:  # nobody signed in is signed out
        assert UserRepository(conn).user_for_token(layout.tokens["signed in"]) is not None
    after = statuses(fresh_url)
    assert after[layout.missing_id] == ("orphaned", "the stored media file is missing", "storage")
    assert after[layout.real_id] == before_rows[layout.real_id] == ("completed", None, None)
    assert after[layout.orphaned_id] == before_rows[layout.orphaned_id]
    with psycopg.connect(fresh_url) as conn:  # the transcript stays: the media may come back from a backup
        assert conn.execute(
            "SELECT text FROM transcript_segments WHERE media_file_id = %s", (layout.missing_id,)
        ).fetchall() == [("still here",)]

    again = opentr_cleanup(fresh_url, home, "--yes")  # nothing left to do
    assert again.stdout.splitlines() == [
        "removed 0 stray file(s), 0 abandoned partial upload(s); 0 row(s) whose media is missing (marked orphaned); "
        "0 sign-in token(s) expired more than a week ago (deleted); 0 expired data export(s) (removed)"
    ]
    assert tokens_left(fresh_url, layout) == set(TOKENS_KEPT)
    assert files_in(layout.storage) == set(layout.kept)


def test_cleanup_function_reports_what_it_found(db: Database, fresh_url: str, tmp_path: Path) -> None:
    layout = arrange(fresh_url, tmp_path / "storage")

    found = cleanup(db, layout.storage)

    assert (found.stray_files, found.stale_partials, found.missing_media) == (
        layout.stray,
        layout.old_partials,
        [layout.missing_id],
    )
    assert (found.expired_tokens, found.applied) == (2, False)
    assert files_in(layout.storage) == {*layout.kept, *layout.stray, *layout.old_partials}
    assert tokens_left(fresh_url, layout) == {*TOKENS_KEPT, *TOKENS_GONE}

    removed = cleanup(db, layout.storage, apply=True)

    assert (removed.stray_files, removed.missing_media, removed.applied) == (layout.stray, [layout.missing_id], True)
    assert removed.expired_tokens == 2
    assert files_in(layout.storage) == set(layout.kept)
    assert statuses(fresh_url)[layout.missing_id][0] == "orphaned"
    assert tokens_left(fresh_url, layout) == set(TOKENS_KEPT)
    assert cleanup(db, layout.storage, apply=True).expired_tokens == 0


def test_a_storage_directory_that_does_not_exist_is_refused(fresh_url: str, tmp_path: Path) -> None:
    """A wrong OPENTR_HOME or OPENTR_STORAGE_DIR must not make every row 'orphaned'."""
    home = tmp_path / "home"
    layout = arrange(fresh_url, home / "storage")
    before = statuses(fresh_url)
    nowhere = tmp_path / "not-mounted"

    result = opentr_cleanup(fresh_url, home, "--yes", OPENTR_STORAGE_DIR=str(nowhere))

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"opentr: the storage directory {nowhere} does not exist; check OPENTR_STORAGE_DIR"
    )
    assert statuses(fresh_url) == before
    assert files_in(layout.storage) == {*layout.kept, *layout.stray, *layout.old_partials}
    assert tokens_left(fresh_url, layout) == {*TOKENS_KEPT, *TOKENS_GONE}


def test_an_empty_install_without_storage_is_fine(db: Database, tmp_path: Path) -> None:
    report = cleanup(db, tmp_path / "never-created", apply=True)
    assert (report.stray_files, report.stale_partials, report.missing_media, report.expired_tokens) == ([], [], [], 0)


@pytest.mark.parametrize("age_hours", [0.0, 0.9])
def test_a_recent_unknown_file_is_not_stray(db: Database, tmp_path: Path, age_hours: float) -> None:
    """An upload moves its file into storage just before its row commits; cleanup must not race it."""
    storage = tmp_path / "storage"
    put(storage, "7/arriving", age_seconds=age_hours * 3600)
    assert cleanup(db, storage, apply=True).stray_files == []
    assert files_in(storage) == {"7/arriving"}


def test_a_row_pointing_outside_storage_counts_as_missing(db: Database, fresh_url: str, tmp_path: Path) -> None:
    """The file a climbing storage_path names exists, but not in storage: the row's media is missing."""
    storage = tmp_path / "storage"
    storage.mkdir()
    put(tmp_path, "elsewhere.wav")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        owner = factories.user(conn)
        climbing_id, _ = factories.media_file(conn, owner, status="completed", storage_path="../elsewhere.wav")
    assert cleanup(db, storage).missing_media == [climbing_id]
    assert (tmp_path / "elsewhere.wav").is_file()
