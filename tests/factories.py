"""Rows for tests, written with plain SQL so that a repository's tests do not depend on other repositories."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import psycopg

from repo.rows import Actor

Conn = psycopg.Connection[Any]


def _one(conn: Conn, query: str, params: dict[str, Any]) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None
    return row


def user(conn: Conn, *, admin: bool = False, email: str | None = None) -> Actor:
    """A user (password hash is a placeholder); returns the Actor that repositories take."""
    row = _one(
        conn,
        "INSERT INTO users (email, hashed_password, role) VALUES (%(email)s, 'x', %(role)s) RETURNING id",
        {"email": email or f"{secrets.token_hex(4)}@example.com", "role": "admin" if admin else "user"},
    )
    return Actor(row[0], admin)


def media_file(
    conn: Conn, owner: Actor, *, filename: str = "talk.wav", status: str = "pending", **columns: Any
) -> tuple[int, Any]:
    """A media file owned by `owner`; returns (id, uuid). Extra columns go straight into the INSERT."""
    values = {
        "user_id": owner.id,
        "filename": filename,
        "storage_path": f"{owner.id}/{secrets.token_hex(8)}",
        "file_size": 1000,
        "status": status,
        **columns,
    }
    names = ", ".join(values)
    placeholders = ", ".join(f"%({k})s" for k in values)
    row = _one(conn, f"INSERT INTO media_files ({names}) VALUES ({placeholders}) RETURNING id, uuid", values)
    return row[0], row[1]


def speaker(conn: Conn, owner: Actor, file_id: int, label: str = "SPEAKER_00") -> int:
    row = _one(
        conn,
        "INSERT INTO speakers (media_file_id, user_id, label) VALUES (%(f)s, %(u)s, %(l)s) RETURNING id",
        {"f": file_id, "u": owner.id, "l": label},
    )
    return int(row[0])


def speaker_match(conn: Conn, speaker_a_id: int, speaker_b_id: int, confidence: float) -> None:
    """Two speakers found alike, stored as the voice matcher stores a pair (sql/voices.sql: match_speakers): once,
    the smaller id first."""
    conn.execute(
        "INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence) VALUES (least(%(a)s::bigint, %(b)s), "
        "greatest(%(a)s::bigint, %(b)s), %(c)s)",
        {"a": speaker_a_id, "b": speaker_b_id, "c": confidence},
    )


def segments(conn: Conn, file_id: int, texts: list[str], speaker_id: int | None = None) -> None:
    for i, text in enumerate(texts):
        conn.execute(
            "INSERT INTO transcript_segments (media_file_id, speaker_id, start_time, end_time, text) "
            "VALUES (%s, %s, %s, %s, %s)",
            (file_id, speaker_id, float(i), float(i) + 0.9, text),
        )


def passage(
    conn: Conn,
    file_id: int,
    position: int,
    start: float,
    end: float,
    text: str,
    vector: Sequence[float],
    model: str,
    transcript_version: int = 1,
) -> int:
    """A passage of a file's transcript with its embedding (vectors from the tiny encoder: tests/tiny_embedding.py);
    returns its id. Written as the embedding job writes it, one row of `passages`."""
    row = _one(
        conn,
        "INSERT INTO passages (media_file_id, position, start_time, end_time, text, model, transcript_version, "
        "embedding) VALUES (%(f)s, %(p)s, %(s)s, %(e)s, %(t)s, %(m)s, %(v)s, %(x)s::real[]) RETURNING id",
        {
            "f": file_id,
            "p": position,
            "s": start,
            "e": end,
            "t": text,
            "m": model,
            "v": transcript_version,
            "x": [float(x) for x in vector],
        },
    )
    return int(row[0])
