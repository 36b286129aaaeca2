"""Search by meaning: the passages (repo/passages.py) nearest a query vector, among those the actor may read.

The access rule is search's (sql/fragments.sql: passage_files): the actor's own files and those shared with them
(directly, through a group, through a collection); an admin reaches others' files only in the all-files view.
Only passages of the current model count (`model` is embeddings.models.model_name(settings), passed in: this layer
imports no model code).

Two plans, chosen per query (`plan`; figures from EXPLAIN ANALYZE in README, Search by meaning):
- exact: every passage of the candidate files is scored and the best k kept. Always complete; it costs about 5 µs
  per passage (the real[] to vector cast dominates): ~50-100 ms for 10,000 passages, ~0.5-1 s for 100,000.
- indexed: the HNSW index's nearest `fetch` passages overall, then the access rule and the filters drop what the
  actor may not have. pgvector 0.6.2 has no iterative index scans: the index returns at most `fetch`
  (hnsw.ef_search, up to 1000) candidates, so this suits the admin's all-files view and actors who see a large
  share of the table (~20-50 ms on 300,000 passages, recall@10 0.995); for a user who sees a tenth of the table its
  recall falls to ~0.85. When fewer than k survive, the exact plan answers instead.
"""

from __future__ import annotations

import math
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

EXACT_LIMIT = 20_000  # up to this many candidate passages, the exact scan (bench §14: ~0.7 µs each)
MIN_SHARE = 0.25  # below this share of the table, most of the index's candidates are others' (recall@10 0.85 at 10 %)
MAX_K = 200
MAX_FETCH = 1000  # pgvector's upper bound of hnsw.ef_search
MIN_FETCH = 400
SURVIVORS = 4  # the index is asked for enough candidates that k times this many are expected to be readable
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
    chosen, fetch = plan(conn, scope, k)
    if chosen == "exact":
        return _nearest_exact(conn, n, query=literal, model=model, k=k, **scope)
    # The index visits ef_search candidates and returns no more (no iterative scans in pgvector 0.6): as many as
    # the query asks for. set_config(..., true) lasts until the end of the transaction, as SET LOCAL.
    conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(fetch)])
    hits = _nearest_indexed(conn, n, query=literal, model=model, k=k, fetch=fetch, **scope)
    if len(hits) < k:
        # The access rule or the filters dropped more of the index's candidates than expected: the exact plan is
        # complete (and slower: the actor sees many passages, but a small share of the table).
        return _nearest_exact(conn, n, query=literal, model=model, k=k, **scope)
    return hits


@dataclass(frozen=True, slots=True)
class _Counted:
    passages: int  # up to the cap
    files: int
    all_passages: int  # estimates
    all_files: int


_candidate_passages = s.one("meaning.candidate_passages", _Counted)


def plan(conn: Connection, scope: dict[str, Any], k: int) -> tuple[Plan, int]:
    """The plan for the k nearest passages of the candidate files, and how many candidates to ask the index for.

    "exact" when the files hold at most EXACT_LIMIT passages (counted, up to that limit) or less than MIN_SHARE of
    the table: the candidates' share is estimated by the files' share of all files (counting every passage of a
    large library would cost more than the search). Otherwise "indexed", asking for enough candidates that
    SURVIVORS times k of them are expected to be the actor's, between MIN_FETCH and MAX_FETCH."""
    counted = _candidate_passages(conn, cap=EXACT_LIMIT + 1, **scope)
    if counted.passages <= EXACT_LIMIT:
        return "exact", 0
    share = max(
        counted.files / max(counted.all_files, counted.files, 1),
        counted.passages / max(counted.all_passages, counted.passages),
    )
    if share < MIN_SHARE:
        return "exact", 0
    return "indexed", min(MAX_FETCH, max(MIN_FETCH, math.ceil(SURVIVORS * k / share)))
