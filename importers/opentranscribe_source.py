"""Reading an OpenTranscribe database: which version it is (from its tables), and its rows, read-only.

Only columns both known versions have are asked for by name; a column this version lacks reads as NULL, so the
importer (importers/opentranscribe.py) maps one shape of row whatever the version. Every read of a run sees one
snapshot (REPEATABLE READ), so counts and rows agree even while the old platform keeps running.
"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

CORE_TABLES = (
    "user", "media_file", "tag", "file_tag", "speaker_profile", "speaker", "speaker_collection",
    "speaker_collection_member", "transcript_segment", "comment", "task", "analytics", "collection",
    "collection_member", "speaker_match", "summary_prompt", "user_setting", "user_llm_settings",
)  # fmt: skip
REQUIRED = {"user", "media_file"}


class NotOpenTranscribe(Exception):
    """The source database is not one this importer recognises."""


class Source:
    """The OpenTranscribe database, read-only."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, row_factory=dict_row, autocommit=False)
        self.conn.read_only = True
        self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        rows = self.conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
        self.columns: dict[str, set[str]] = {}
        for row in rows:
            self.columns.setdefault(row["table_name"], set()).add(row["column_name"])
        missing = REQUIRED - set(self.columns)
        if missing:
            raise NotOpenTranscribe(
                f"--database: no {', '.join(sorted(missing))} table: not an OpenTranscribe database"
            )

    def version(self) -> str:
        tables = set(self.columns)
        if tables <= set(CORE_TABLES) and "uuid" not in self.columns["user"]:
            return f"init_db.sql of 2025-09 ({len(tables)} tables)"
        alembic = ""
        if "alembic_version" in tables:
            row = self.conn.execute("SELECT version_num FROM alembic_version LIMIT 1").fetchone()
            alembic = f", Alembic revision {row['version_num']}" if row else ""
        return f"a later schema ({len(tables)} tables{alembic})"

    def has(self, table: str) -> bool:
        return table in self.columns

    def count(self, table: str) -> int:
        if not self.has(table):
            return 0
        row = self.conn.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(table))).fetchone()
        return int(row["n"]) if row else 0

    def rows(
        self, table: str, wanted: list[str], where: str = "", params: tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        """The wanted columns (NULL where this version lacks one), in id order."""
        if not self.has(table):
            return []
        have = self.columns[table]
        columns = sql.SQL(", ").join(
            sql.Identifier(c) if c in have else sql.SQL("NULL AS {}").format(sql.Identifier(c)) for c in wanted
        )
        order = sql.Identifier("id") if "id" in have else sql.SQL("1")
        query = sql.SQL("SELECT {} FROM {} {} ORDER BY {}").format(
            columns, sql.Identifier(table), sql.SQL(where), order
        )
        return self.conn.execute(query, params).fetchall()

    def count_by(self, table: str, column: str) -> dict[Any, int]:
        """How many rows of `table` each value of `column` has."""
        if not self.has(table):
            return {}
        query = sql.SQL("SELECT {0} AS k, count(*) AS n FROM {1} GROUP BY {0}").format(
            sql.Identifier(column), sql.Identifier(table)
        )
        return {row["k"]: int(row["n"]) for row in self.conn.execute(query)}

    def close(self) -> None:
        """Closes the connection; one the server already dropped is closed all the same."""
        with contextlib.suppress(psycopg.Error):
            self.conn.rollback()
        self.conn.close()
