"""Test databases handed back to the template's exact state instead of created for every test.

Creating a database from the template copies ~10 MB and took 0.2-0.4 s on a busy CI machine, more than most tests
themselves; about a thousand tests of each pass ask for one. A database a test gave back is reused when resetting
it costs less and is provably complete, else it is dropped as before:

- nobody else is connected to it any more (a process the test started and left running could still write);
- its catalogs are the template's: every per-database catalog has the same row count and the same newest `xmin`
  (any DDL, GRANT, ALTER … inserts a catalog row version with a newer transaction id; VACUUM and ANALYZE update
  pg_class in place, and the statistics catalogs are left out), and no `ALTER DATABASE … SET` names it;
- the rows are few: every table is emptied with DELETE (with `session_replication_role = replica`, so neither
  foreign keys nor the audit trail's append-only trigger interfere), the template's own rows (seeded by the init
  SQL, yoyo's bookkeeping) are copied back, and every sequence is set to the template's state. After this the row
  counts of every table are checked against the template's (a rule that swallowed a DELETE would show there).

So each test still starts from exactly the template's state; only the way there is cheaper.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

# Above this many deleted rows a database is dropped instead: dead rows would slow the next test's scans until
# autovacuum came by, and a new copy costs less than deleting them.
MOST_ROWS_TO_DELETE = 5000

_CATALOGS = """
    SELECT c.oid::regclass::text
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'pg_catalog' AND c.relkind = 'r' AND NOT c.relisshared
       AND c.relname NOT IN ('pg_statistic', 'pg_statistic_ext_data', 'pg_largeobject')
     ORDER BY 1
"""
_TABLES = """
    SELECT c.oid::regclass::text,
           array_agg(quote_ident(a.attname) ORDER BY a.attnum) FILTER (WHERE a.attgenerated = '')
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%'
     GROUP BY c.oid ORDER BY 1
"""
_SEQUENCES = """
    SELECT format('%I.%I', schemaname, sequencename), coalesce(last_value, start_value), last_value IS NOT NULL
      FROM pg_sequences ORDER BY 1
"""
_OTHERS_CONNECTED = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
_DATABASE_SETTINGS = """
    SELECT count(*) FROM pg_db_role_setting
     WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@dataclass(frozen=True)
class _Table:
    name: str
    columns: list[str]
    seed: bytes  # the template's rows, COPY BINARY of `columns` (b"" for none)
    seed_rows: int


def _fingerprint(conn: psycopg.Connection[Any], catalogs: list[str]) -> list[Any]:
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, count(*), max(xmin::text::bigint) FROM {}").format(sql.Literal(name), sql.SQL(name))
        for name in catalogs
    )
    fingerprint = conn.execute(query).fetchall()
    fingerprint.append(conn.execute(_DATABASE_SETTINGS).fetchone() or (0,))
    return fingerprint


def _row_counts(conn: psycopg.Connection[Any], tables: list[_Table]) -> dict[str, int]:
    query = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, count(*) FROM {}").format(sql.Literal(table.name), sql.SQL(table.name)) for table in tables
    )
    return {str(name): int(count) for name, count in conn.execute(query).fetchall()}


class DatabaseRecycler:
    """Hands out databases in the template's state: a reset one when it can, else a new copy of the template."""

    def __init__(self, admin: str, template_url: str, template_name: str) -> None:
        self.admin, self.template_name = admin, template_name
        self.idle: list[str] = []
        self.created = self.reused = 0
        with psycopg.connect(template_url, autocommit=True) as conn:
            self.catalogs = [str(name) for (name,) in conn.execute(_CATALOGS)]
            self.fingerprint = _fingerprint(conn, self.catalogs)
            self.tables: list[_Table] = []
            for name, columns in conn.execute(_TABLES).fetchall():
                seed, rows = bytearray(), 0
                listed = sql.SQL(", ").join(sql.SQL(column) for column in columns)
                (rows,) = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.SQL(name))).fetchone() or (0,)
                if rows:
                    copy_out = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)").format(
                        listed, sql.SQL(name)
                    )
                    with conn.cursor().copy(copy_out) as copy:
                        for block in copy:
                            seed += block
                self.tables.append(_Table(name, list(columns), bytes(seed), int(rows)))
            self.reset_sequences = sql.SQL("SELECT {}").format(
                sql.SQL(", ").join(
                    sql.SQL("setval({}::regclass, {}, {})").format(
                        sql.Literal(name), sql.Literal(value), sql.Literal(called)
                    )
                    for name, value, called in conn.execute(_SEQUENCES).fetchall()
                )
            )
        self.seed_counts = {table.name: table.seed_rows for table in self.tables}

    def take(self, name_for_new: str) -> str:
        if self.idle:
            self.reused += 1
            return self.idle.pop()
        self.created += 1
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name_for_new), sql.Identifier(self.template_name)
                )
            )
        return name_for_new

    def give_back(self, name: str, url: str) -> None:
        if self._reset(url):
            self.idle.append(name)
            return
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def close(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            for name in self.idle:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        self.idle.clear()

    def _reset(self, url: str) -> bool:
        """True when the database is back in the template's state; False when it must be dropped instead."""
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                if not self._alone(conn) or _fingerprint(conn, self.catalogs) != self.fingerprint:
                    return False
                counted = _row_counts(conn, self.tables)
                if sum(counted.values()) - sum(self.seed_counts.values()) > MOST_ROWS_TO_DELETE:
                    return False
                # Only what a test touched (a table with rows, or one seeded), in one round trip each step.
                emptied = [table for table in self.tables if counted[table.name] or table.seed]
                with conn.transaction():
                    conn.execute(
                        sql.SQL(" ").join(
                            [
                                sql.SQL("SET LOCAL session_replication_role = replica; SET LOCAL lock_timeout = '1s';"),
                                *(sql.SQL("DELETE FROM {};").format(sql.SQL(table.name)) for table in emptied),
                            ]
                        )
                    )
                    for table in emptied:
                        if table.seed:
                            listed = sql.SQL(", ").join(sql.SQL(column) for column in table.columns)
                            copy_in = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary)").format(
                                sql.SQL(table.name), listed
                            )
                            with conn.cursor().copy(copy_in) as copy:
                                copy.write(table.seed)
                    conn.execute(self.reset_sequences)
                return _row_counts(conn, self.tables) == self.seed_counts
        except psycopg.Error:
            return False

    @staticmethod
    def _alone(conn: psycopg.Connection[Any]) -> bool:
        """Whether nobody else is connected; a pool the test closed may take a moment to be gone."""
        deadline = time.monotonic() + 0.5
        while True:
            (others,) = conn.execute(_OTHERS_CONNECTED).fetchone() or (0,)
            if not others:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
