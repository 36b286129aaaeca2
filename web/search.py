"""Full-text search over the transcripts and summaries of the files you can see."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from repo.search import MAX_FILES, FileHits, SearchRepository
from web.endpoint import Ctx, Router
from web.files import LibraryQuery

router = Router("search")

MAX_QUERY_LENGTH = 1000


class SearchQuery(LibraryQuery):
    q: str = Field(
        min_length=1, max_length=MAX_QUERY_LENGTH, description='web-search syntax: words, "a phrase", or, -word'
    )
    limit: int = Field(default=20, ge=1, le=MAX_FILES, description="at most this many files")


class SearchHitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: Literal["segment", "summary"]
    uuid: UUID
    start_time: float | None
    end_time: float | None
    rank: float
    snippet: str = Field(description="HTML: the text escaped, matches wrapped in <mark>")


class FileHitsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    file_uuid: UUID
    filename: str
    title: str | None
    best_rank: float
    hits: list[SearchHitOut]


@router.get("/api/search", query=SearchQuery, response=list[FileHitsOut])
def search(ctx: Ctx, query: SearchQuery) -> list[FileHits]:
    """Files whose transcript or summary match, best first, with snippets and times; the library filters apply."""
    return SearchRepository(ctx.conn).search(
        ctx.actor, query.q, limit_files=query.limit, filters=query.library_filter()
    )
