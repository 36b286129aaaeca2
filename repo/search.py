"""Full-text search over the transcripts and summaries of the files a user can see."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.library import LibraryFilter
from repo.rows import Actor

HitKind = Literal["segment", "summary"]
MAX_FILES = 100
MAX_HITS_PER_FILE = 50


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One matching segment or summary; `snippet` is HTML (the text escaped, matches wrapped in <mark>)."""

    kind: HitKind
    uuid: UUID
    start_time: float | None
    end_time: float | None
    rank: float
    snippet: str


@dataclass(frozen=True, slots=True)
class FileHits:
    file_uuid: UUID
    filename: str
    title: str | None
    best_rank: float
    hits: list[SearchHit]


@dataclass(frozen=True, slots=True)
class _FileRow:
    file_uuid: UUID
    filename: str
    title: str | None
    best_rank: float
    hits: list[dict[str, Any]]


_search = s.many("search.search", _FileRow)


def _hit(raw: dict[str, Any]) -> SearchHit:
    return SearchHit(
        kind=raw["kind"],
        uuid=UUID(raw["uuid"]),
        start_time=raw["start_time"],
        end_time=raw["end_time"],
        rank=float(raw["rank"]),
        snippet=raw["snippet"],
    )


def search_parameters(
    actor: Actor,
    q: str,
    *,
    limit_files: int = 20,
    hits_per_file: int = 5,
    filters: LibraryFilter | None = None,
) -> dict[str, Any] | None:
    """Every parameter of `search.search` for this search (None: nothing to search for). Written once, so that
    whoever explains the query (bench/search.py) binds exactly what a search binds."""
    text = q.replace("\x00", " ").strip()
    if not text or limit_files < 1 or hits_per_file < 1:
        return None
    return {
        "q": text,
        "limit_files": min(limit_files, MAX_FILES),
        "hits_per_file": min(hits_per_file, MAX_HITS_PER_FILE),
        **(filters or LibraryFilter()).params(),
        **actor.scope(),
    }


class SearchRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def search(
        self,
        actor: Actor,
        q: str,
        *,
        limit_files: int = 20,
        hits_per_file: int = 5,
        filters: LibraryFilter | None = None,
    ) -> list[FileHits]:
        """Files whose segments or latest summary match `q` (web-search syntax: "phrase", or, -word), best first.

        The limits are capped at MAX_FILES and MAX_HITS_PER_FILE: every returned hit costs a ts_headline.
        `filters` narrows the files as in the library's file list (repo.library).
        """
        params = search_parameters(actor, q, limit_files=limit_files, hits_per_file=hits_per_file, filters=filters)
        if params is None:
            return []
        rows = _search(self.conn, **params)
        return [
            FileHits(row.file_uuid, row.filename, row.title, row.best_rank, [_hit(raw) for raw in row.hits])
            for row in rows
        ]
