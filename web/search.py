"""Search over the transcripts and summaries of the files you can see: by words, by meaning, or both.

By words, a query found in more than repo.search.COMMON (100) segments lists files newest first, each with its first
hits in time order; a rarer one ranks every match, files best first. The X-Search-Order header says which, and
X-Search-Next-Cursor (when another page follows) is the `cursor` of the next page, in the same order. The body stays
the list of files it always was.

Search by meaning needs two things beyond the words: pgvector in the database and the embedding model on this
machine (README: Search by meaning). Without them `mode=meaning` is a 409 naming `mode` and saying why; `mode=both`
answers with the word results and says so in the SEARCH_MEANING_OFF header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from config.settings import Settings
from embeddings.encoder import EncoderError
from embeddings.models import EmbeddingModelMissing, load_encoder, model_directory, model_name
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.meaning import MeaningSearchOff
from repo.passages import vector_search_available
from repo.search import MAX_FILES, FileHits, MeaningQuery, SearchMode, SearchOrder, SearchRepository
from web.endpoint import Ctx, Endpoint, Renderer, Router
from web.fields import Cursor
from web.files import LibraryQuery

router = Router("search")

MAX_QUERY_LENGTH = 1000
SEARCH_MEANING_OFF = "X-Search-Meaning-Off"
SEARCH_ORDER = "X-Search-Order"
SEARCH_NEXT_CURSOR = "X-Search-Next-Cursor"
NO_PGVECTOR = "the database has no pgvector extension"
NO_MODEL = "the embedding model is not on this server (an administrator runs `opentr models pull embedding`)"


class SearchQuery(LibraryQuery):
    q: str = Field(
        min_length=1, max_length=MAX_QUERY_LENGTH, description='web-search syntax: words, "a phrase", or, -word'
    )
    limit: int = Field(default=20, ge=1, le=MAX_FILES, description="at most this many files")
    mode: Literal["words", "meaning", "both"] = Field(
        default="words",
        description="words: full-text search (as before); meaning: the passages nearest the query's meaning; both: "
        "the two rankings fused (reciprocal rank fusion). meaning and both need pgvector and the embedding model",
    )
    cursor: Cursor | None = Field(
        default=None,
        description="X-Search-Next-Cursor of the previous page (mode=words): the next files, in the same order",
    )


class SearchHitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    kind: Literal["segment", "summary", "passage"]
    uuid: UUID = Field(description="the segment, the summary, or (passage) the segment the passage starts with")
    start_time: float | None
    end_time: float | None
    rank: float = Field(description="words: text rank; meaning: cosine similarity; both: fused score")
    snippet: str = Field(description="HTML: the text escaped, matches wrapped in <mark>")


class FileHitsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    file_uuid: UUID
    filename: str
    title: str | None
    best_rank: float
    hits: list[SearchHitOut]


def meaning_off(settings: Settings, conn: Connection, *, load: bool = True) -> str | None:
    """Why search by meaning cannot run here, or None when it can. With `load` the model is loaded (once per
    process; a broken model directory counts as missing); without, its directory only is looked for (a page that
    only offers the choice does not load a model of hundreds of megabytes)."""
    if not vector_search_available(conn):
        return NO_PGVECTOR
    if not load:
        return None if model_directory(settings).is_dir() else NO_MODEL
    try:
        load_encoder(settings)
    except (EmbeddingModelMissing, EncoderError):
        return NO_MODEL
    return None


def meaning_query(settings: Settings, q: str) -> MeaningQuery:
    """The query's vector by the configured model (call after meaning_off said None)."""
    return MeaningQuery(load_encoder(settings).query(q).tolist(), model_name(settings))


@dataclass(frozen=True, slots=True)
class SearchAnswer:
    files: list[FileHits]
    meaning_off: str | None = None  # mode=both ran by words only, for this reason
    order: SearchOrder | None = None  # mode=words: best first, or newest first (a common query)
    next_cursor: str | None = None


class SearchRenderer(Renderer):
    """JSON of the files; the SEARCH_MEANING_OFF header when `both` could search by words only; for words, the
    order and the next page's cursor in headers (the body keeps its shape)."""

    def result(self, endpoint: Endpoint, result: Any) -> Response:
        answer: SearchAnswer = result
        response = super().result(endpoint, answer.files)
        if answer.meaning_off:
            response.headers[SEARCH_MEANING_OFF] = answer.meaning_off
        if answer.order:
            response.headers[SEARCH_ORDER] = answer.order
        if answer.next_cursor:
            response.headers[SEARCH_NEXT_CURSOR] = answer.next_cursor
        return response


SEARCH_OPENAPI = {
    "responses": {
        "200": {
            "description": "files best first, each with its hits",
            "headers": {
                SEARCH_MEANING_OFF: {
                    "description": "present when mode=both searched by words only: why search by meaning is off "
                    "(no pgvector in the database, or no embedding model on the server)",
                    "schema": {"type": "string"},
                },
                SEARCH_ORDER: {
                    "description": "mode=words: `best` (every match ranked, files best first) or `newest` (a query "
                    "found in more than 100 segments: files newest first by upload time, each with its first hits "
                    "in time order)",
                    "schema": {"type": "string", "enum": ["best", "newest"]},
                },
                SEARCH_NEXT_CURSOR: {
                    "description": "mode=words, when more files follow: pass as `cursor` for the next page",
                    "schema": {"type": "string"},
                },
            },
        }
    }
}


@router.get(
    "/api/search",
    query=SearchQuery,
    response=list[FileHitsOut],
    raises=(MeaningSearchOff, NotFound),  # NotFound: a cursor this server did not write (repo/cursor.py)
    renderer=SearchRenderer(),
    openapi=SEARCH_OPENAPI,
)
def search(ctx: Ctx, query: SearchQuery) -> SearchAnswer:
    """Files whose transcript or summary match, with snippets and times; the library filters apply.

    By words: best first, or newest first for a query found in more than 100 segments (X-Search-Order says which);
    X-Search-Next-Cursor, when present, is the `cursor` of the next page.

    `mode=meaning` finds passages near the query's meaning (409 naming `mode` when search by meaning is off: no
    pgvector, or no embedding model; README: Search by meaning). `mode=both` fuses words and meaning; when meaning
    is off it answers with the word results and the X-Search-Meaning-Off header saying why."""
    mode: SearchMode = query.mode
    if query.cursor and mode != "words":
        # 409, as for other rules between two valid fields (web/choices.py): each value alone is one the document
        # allows, so a 422 would tell a client that follows the document its request was malformed.
        raise Conflict("a cursor pages a search by words (mode=words) only", "cursor")
    if mode == "words":
        page = SearchRepository(ctx.conn).page(
            ctx.actor, query.q, limit_files=query.limit, filters=query.library_filter(), after=query.cursor
        )
        return SearchAnswer(page.files, order=page.order, next_cursor=page.next_cursor)
    settings = ctx.services.settings
    off = meaning_off(settings, ctx.conn)
    if off and mode == "meaning":
        raise MeaningSearchOff(off)
    if off:
        mode = "words"
    meaning = meaning_query(settings, query.q) if mode != "words" else None
    files = SearchRepository(ctx.conn).search(
        ctx.actor, query.q, limit_files=query.limit, filters=query.library_filter(), mode=mode, meaning=meaning
    )
    return SearchAnswer(files, off)
