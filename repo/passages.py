"""Passages of transcripts and their embeddings (table `passages`, migration 0015).

Vectors are stored as `real[]`, so every server builds the same schema. Where pgvector is installed, each
dimension in use gets an HNSW index over the cast `embedding::vector(N)`, partial on `cardinality(embedding) = N`
(`ensure_vector_index`): a query uses it when it filters on that cardinality and orders by
`p.embedding::vector(N) <=> %(query)s::vector(N)` with the same literal N. Passages of a model with another dimension
can then coexist with the index while a model change is being re-embedded. The dimension is a typmod, which
PostgreSQL takes only as a literal: queries that need it are written with `{N}` and formatted with an integer here.
"""

from __future__ import annotations

from psycopg import sql

from repo import statements as s
from repo.database import Connection, as_system

MAX_INDEXED_DIMENSIONS = 2000  # pgvector's HNSW limit for `vector`
INDEX_LOCK = 7_231_518  # advisory lock key: one process creates a dimension's index, the others wait and find it

_vector_available = s.scalar("passages.vector_available", bool)


def index_name(dimensions: int) -> str:
    return f"passages_embedding_hnsw_{_checked(dimensions)}"


def vector_search_available(conn: Connection) -> bool:
    """Whether the database has pgvector (search by meaning is off without it)."""
    return _vector_available(conn)


def ensure_vector_index(conn: Connection, dimensions: int) -> bool:
    """Create the HNSW index of `dimensions` if pgvector is here and it is missing; False without pgvector.

    Runs in the caller's transaction as the tables' owner (an index is the schema's, not a user's). Creating it on a
    table already holding many passages takes a while and blocks writes to `passages` meanwhile: it is done when the
    first passages of a dimension are written, normally on a nearly empty table."""
    n = _checked(dimensions)
    if not vector_search_available(conn) or n > MAX_INDEXED_DIMENSIONS:
        return False
    with as_system(conn):
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [INDEX_LOCK])
        conn.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {name} ON passages USING hnsw ((embedding::vector({n})) vector_cosine_ops) "
                "WHERE cardinality(embedding) = {n}"
            ).format(name=sql.Identifier(index_name(n)), n=sql.Literal(n))
        )
    return True


def _checked(dimensions: int) -> int:
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
        raise ValueError(f"an embedding's dimension is an integer from 1 to 4096, not {dimensions!r}")
    return dimensions
