"""Search by meaning: the passages (repo/passages.py) nearest a query vector, among those the actor may read.

The access rule is search's (sql/fragments.sql: passage_files): the actor's own files and those shared with them
(directly, through a group, through a collection); an admin reaches others' files only in the all-files view.
Only passages of the current model count (`model` is embeddings.models.model_name(settings), passed in: this layer
imports no model code).

Two plans, chosen per query (README: Search by meaning, figures from EXPLAIN ANALYZE):
- exact: score every passage of the candidate files and keep the best k. Always complete; its cost is the number of
  the actor's passages (an exact scan of 100,000 384-d passages takes tens of milliseconds).
- indexed: the HNSW index's nearest `fetch` passages overall, then the access rule and the filters. pgvector 0.6.2
  has no iterative index scans, so this returns at most `fetch` (hnsw.ef_search, ≤ 1000) candidates before
  filtering: right for the admin's all-files view and for actors who see a large part of the table; a user who sees
  little would get too few rows. When fewer than k survive, the exact plan answers instead.
The choice counts the candidate passages up to EXACT_LIMIT (an index-only count of keys, not of vectors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Invalid
from repo.library import LibraryFilter
from repo.passages import vector_search_available
from repo.rows import Actor

EXACT_LIMIT = 200_000  # up to this many candidate passages, the exact scan (measured: README, Search by meaning)
MAX_K = 200
MAX_FETCH = 1000  # pgvector's upper bound of hnsw.ef_search
OVERFETCH = 20  # the indexed plan asks the index for k times this many candidates (at least MIN_FETCH)
MIN_FETCH = 400
Plan = Literal["exact", "indexed"]


class MeaningSearchOff(Conflict):
    """Search by meaning cannot run here: no pgvector in the database, or no embedding model on this machine."""

    def __init__(self, why: str) -> None:
        super().__init__(f"search by meaning is off: {why} (README: Search by meaning)", "mode")


@dataclass(frozen=True, slots=True)
class PassageHit:
    """One passage near the query; `score` is the cosine similarity (1 is the same direction), best first."""

    file_id: int
    file_uuid: UUID
    filename: str
    title: str | None
    passage_id: int
    start_time: float
    end_time: float
    text: str
    score: float


_candidate_passages = s.scalar("meaning.candidate_passages", int)
_nearest_exact = s.dimensioned("meaning.nearest_exact", PassageHit)
_nearest_indexed = s.dimensioned("meaning.nearest_indexed", PassageHit)


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form '[0.1,0.2,...]'; Invalid naming `query_vector` for an empty or non-finite vector."""
    values = [float(x) for x in vector]
    if not values or any(v != v or v in (float("inf"), float("-inf")) for v in values):
        raise Invalid("a query vector is a non-empty list of finite numbers", "query_vector")
    return "[" + ",".join(repr(v) for v in values) + "]"


def _parameters(
    actor: Actor,
    filters: LibraryFilter | None,
    file_id: int | None,
    collection_id: int | None,
) -> dict[str, Any]:
    return {
        "file_id": file_id,
        "collection_id": collection_id,
        **(filters or LibraryFilter()).params(),
        **actor.scope(),
    }


def nearest_passages(
    conn: Connection,
    actor: Actor,
    query_vector: Sequence[float],
    *,
    k: int,
    model: str,
    file_id: int | None = None,
    collection_id: int | None = None,
    filters: LibraryFilter | None = None,
) -> list[PassageHit]:
    """The k passages nearest `query_vector` (best first) among the actor's readable files, narrowed by `filters`
    and to one file or one collection when given. MeaningSearchOff (409, naming `mode`) without pgvector."""
    if not vector_search_available(conn):
        raise MeaningSearchOff("this database has no pgvector extension")
    if k < 1:
        return []
    k = min(k, MAX_K)
    literal = vector_literal(query_vector)
    n = literal.count(",") + 1
    scope = _parameters(actor, filters, file_id, collection_id)
    if plan(conn, scope) == "exact":
        return _nearest_exact(conn, n, query=literal, model=model, k=k, **scope)
    fetch = min(MAX_FETCH, max(MIN_FETCH, k * OVERFETCH))
    # The index visits ef_search candidates and returns no more (no iterative scans in pgvector 0.6): as many as
    # the query asks for. set_config(..., true) lasts until the end of the transaction, as SET LOCAL.
    conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(fetch)])
    hits = _nearest_indexed(conn, n, query=literal, model=model, k=k, fetch=fetch, **scope)
    if len(hits) < k:
        # The access rule or the filters dropped too many of the index's candidates: the exact plan is complete.
        return _nearest_exact(conn, n, query=literal, model=model, k=k, **scope)
    return hits


def plan(conn: Connection, scope: dict[str, Any]) -> Plan:
    """ "exact" when the candidate files hold at most EXACT_LIMIT passages, else "indexed"."""
    counted = _candidate_passages(conn, cap=EXACT_LIMIT + 1, **scope)
    return "exact" if counted <= EXACT_LIMIT else "indexed"
