"""`opentr db inspect`: a readable summary of the live database."""

from __future__ import annotations

from typing import Any

import psycopg

TABLES = """
SELECT s.relname AS table, s.n_live_tup AS rows, pg_size_pretty(pg_total_relation_size(s.relid)) AS size,
       s.seq_scan, coalesce(s.idx_scan, 0) AS idx_scan
FROM pg_stat_user_tables s ORDER BY pg_total_relation_size(s.relid) DESC, s.relname
"""
UNUSED_INDEXES = """
SELECT indexrelname AS index, relname AS table, pg_size_pretty(pg_relation_size(indexrelid)) AS size
FROM pg_stat_user_indexes WHERE idx_scan = 0 ORDER BY pg_relation_size(indexrelid) DESC LIMIT 10
"""
SLOW = """
SELECT pid, application_name, state, round(extract(epoch FROM now() - query_start)::numeric, 1) AS seconds,
       left(query, 80) AS query, pg_blocking_pids(pid) AS blocked_by
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'
  AND (now() - query_start > interval '1 second' OR cardinality(pg_blocking_pids(pid)) > 0)
ORDER BY query_start
"""
CONNECTIONS = """
SELECT coalesce(nullif(application_name, ''), '?') AS application, state, count(*) AS connections
FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1, 2 ORDER BY 1, 2
"""


def table(title: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"{title}: none\n"
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    lines = [title, "  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  " + "  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
    return "\n".join(lines) + "\n"


def report(conninfo: str, pool_stats: dict[str, int] | None = None) -> str:
    from psycopg.rows import dict_row

    with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as conn:
        version = conn.execute(
            "SELECT current_setting('server_version') AS v, pg_size_pretty("
            "pg_database_size(current_database())) AS size"
        ).fetchone()
        parts = [
            f"database {conn.info.dbname} on PostgreSQL {version['v'] if version else '?'}, "
            f"{version['size'] if version else '?'}\n",
            table("tables", conn.execute(TABLES).fetchall()),
            table("unused indexes", conn.execute(UNUSED_INDEXES).fetchall()),
            table("slow or blocked queries", conn.execute(SLOW).fetchall()),
            table("connections", conn.execute(CONNECTIONS).fetchall()),
        ]
    if pool_stats is not None:
        parts.append(table("pool", [pool_stats]))
    return "\n".join(parts)
