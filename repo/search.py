"""Search over the transcripts and summaries of the files a user can see: by words, by meaning, or both.

`words` is PostgreSQL full text (sql/search.sql: search), in one of two orders: a query matching at most COMMON of
the segments searched ranks every match (files best first, as ever); one matching more gives the newest files
first, each with its first hits in time order, because ranking thousands of near-equal matches costs more than it
tells (bench/README.md, section 5). Pages follow through an opaque cursor (SearchPage.next_cursor). `meaning` is the
passages nearest the query's vector (repo/meaning.py), grouped by file. `both` fuses the two rankings by reciprocal
rank fusion (RRF_K = 60): each word hit in a segment is mapped to the passage holding its start time, so the same
moment found both ways counts once with both ranks; a segment of a file without passages (not embedded yet) and a
summary stay hits of their own. All modes take the same filters and the same access rule (the actor's readable
files; an admin's all-files view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from repo import cursor
from repo import statements as s
from repo.database import Connection
from repo.errors import Invalid, NotFound
from repo.library import LibraryFilter
from repo.meaning import MAX_K, MeaningSearchOff, PassageHit, nearest_passages
from repo.rows import Actor

HitKind = Literal["segment", "summary", "passage"]
SearchMode = Literal["words", "meaning", "both"]
MODES: tuple[SearchMode, ...] = ("words", "meaning", "both")
MAX_FILES = 100
MAX_HITS_PER_FILE = 50
RRF_K = 60  # reciprocal rank fusion: a hit's score is the sum over the rankings of 1 / (RRF_K + its place)
# More matching segments than a page shows (20 files of 5 hits) and a search gives the newest files first: which of
# many near-equal matches come first is then decided by recency, not by ranking them all (ranking a common word's
# 12,000 matches was most of a 44 ms search; bench/README.md, section 5).
COMMON = 100
# The query is first counted among this many segments of the newest files (no index read): a word in more than one
# segment in eighty shows COMMON times there; a rarer one costs these rows (~2 ms) before the index counts.
PROBE_ROWS = 8000
# Found in at least this many of those rows (1 %), newest first reads each file's own rows until its first hits;
# rarer, the index's matches. How a page is read, never what it holds.
DENSE_MATCHES = PROBE_ROWS // 100
SearchOrder = Literal["best", "newest"]
CURSOR_BEST = "search-best"
CURSOR_NEWEST = "search-newest"


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One matching segment, summary or passage; `snippet` is HTML (the text escaped, matches wrapped in <mark>).

    A passage hit's `uuid` is the segment it starts with (the file page opens there); `rank` is its similarity in
    `meaning` mode and the fused score in `both` mode."""

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
class SearchPage:
    """One page of a search by words: `order` is "best" (files by their best hit, every match ranked) or "newest"
    (a query matching more than COMMON segments: files newest first by upload time, each with its best hits);
    `next_cursor` continues in the same order (None on the last page)."""

    files: list[FileHits]
    order: SearchOrder
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class _FileRow:
    file_id: int
    upload_time: datetime
    newest: bool
    file_uuid: UUID
    filename: str
    title: str | None
    best_rank: float
    hits: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class MeaningQuery:
    """The query's vector (embeddings: Encoder.query) and the model name its passages must carry
    (embeddings.models.model_name): what search by meaning needs beyond the words."""

    vector: Sequence[float]
    model: str


@dataclass(frozen=True, slots=True)
class _SegmentPassage:
    segment_uuid: UUID
    passage_id: int


@dataclass(frozen=True, slots=True)
class _PassageView:
    passage_id: int
    file_uuid: UUID
    filename: str
    title: str | None
    anchor_uuid: UUID
    start_time: float
    end_time: float
    snippet: str


Key = tuple[str, Any]  # ("passage", id), ("segment", uuid) or ("summary", uuid): one moment in a ranking
_Place = tuple[UUID, str, str | None]  # the file a hit belongs to: uuid, filename, title

_search = s.many("search.search", _FileRow)
_segment_passages = s.many("search.segment_passages", _SegmentPassage)
_passage_hits = s.many("search.passage_hits", _PassageView)


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
    after: str | None = None,
) -> dict[str, Any] | None:
    """Every parameter of `search.search` for this search (None: nothing to search for). Written once, so that
    whoever explains the query (bench/search.py) binds exactly what a search binds. `after` is a page's
    next_cursor: the next page keeps its order (NotFound naming `cursor` for one this server did not write)."""
    text = q.replace("\x00", " ").strip()
    if not text or limit_files < 1 or hits_per_file < 1:
        return None
    return {
        "q": text,
        "limit_files": min(limit_files, MAX_FILES),
        "hits_per_file": min(hits_per_file, MAX_HITS_PER_FILE),
        "common": COMMON,
        "probe_rows": PROBE_ROWS,
        "dense_matches": DENSE_MATCHES,
        **_position(after),
        **(filters or LibraryFilter()).params(),
        **actor.scope(),
    }


def _position(after: str | None) -> dict[str, Any]:
    """The order and the start of the page a cursor names; the first page lets the query choose the order."""
    first: dict[str, Any] = {"order": "auto", "after_rank": None, "after_time": None, "after_id": None}
    if not after:
        return first
    try:
        position = cursor.decode(CURSOR_NEWEST, after, int)
    except NotFound:  # not a newest-first cursor: a best-first one, or NotFound again
        values = cursor.decode_values(CURSOR_BEST, after, (float, int))
        assert values is not None  # a non-empty cursor decodes or raises
        return {**first, "order": "best", "after_rank": values[0], "after_id": values[1]}
    assert position is not None
    return {**first, "order": "newest", "after_time": position.at, "after_id": position.key}


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
        mode: SearchMode = "words",
        meaning: MeaningQuery | None = None,
    ) -> list[FileHits]:
        """Files whose segments or latest summary match `q` (web-search syntax: "phrase", or, -word), best first.

        The limits are capped at MAX_FILES and MAX_HITS_PER_FILE: every returned hit costs a ts_headline.
        `filters` narrows the files as in the library's file list (repo.library). `mode` "meaning" and "both" need
        `meaning` (the query's vector) and pgvector: MeaningSearchOff (409, naming `mode`) otherwise.
        """
        if mode not in MODES:
            raise Invalid(f"mode is one of {', '.join(MODES)}", "mode")
        params = search_parameters(actor, q, limit_files=limit_files, hits_per_file=hits_per_file, filters=filters)
        if params is None:
            return []
        if mode == "words":
            return self._words(params).files
        if meaning is None:
            raise MeaningSearchOff("no query vector (the embedding model is not loaded)")
        near = nearest_passages(
            self.conn,
            actor,
            meaning.vector,
            k=min(MAX_K, params["limit_files"] * params["hits_per_file"]),
            model=meaning.model,
            filters=filters,
        )
        if mode == "meaning":
            return self._grouped([(("passage", h.passage_id), h.score) for h in near], _places(near), {}, params)
        return self._fused(self._words(params).files, near, meaning.model, params)

    def page(
        self,
        actor: Actor,
        q: str,
        *,
        limit_files: int = 20,
        hits_per_file: int = 5,
        filters: LibraryFilter | None = None,
        after: str | None = None,
    ) -> SearchPage:
        """A page of a search by words (as `search` with mode "words"), its order and the cursor of the next page;
        `after` is the previous page's next_cursor. One statement per page."""
        params = search_parameters(
            actor, q, limit_files=limit_files, hits_per_file=hits_per_file, filters=filters, after=after
        )
        if params is None:
            return SearchPage([], "best", None)
        return self._words(params)

    def _words(self, params: dict[str, Any]) -> SearchPage:
        rows = _search(self.conn, **params)
        shown = rows[: params["limit_files"]]
        newest = rows[0].newest if rows else params["order"] == "newest"
        next_cursor = None
        if len(rows) > len(shown):
            last = shown[-1]
            next_cursor = (
                cursor.encode(CURSOR_NEWEST, last.upload_time, last.file_id)
                if newest
                else cursor.encode_values(CURSOR_BEST, [float(last.best_rank), last.file_id])
            )
        files = [
            FileHits(row.file_uuid, row.filename, row.title, row.best_rank, [_hit(raw) for raw in row.hits])
            for row in shown
        ]
        return SearchPage(files, "newest" if newest else "best", next_cursor)

    def _fused(
        self, words: list[FileHits], near: list[PassageHit], model: str, params: dict[str, Any]
    ) -> list[FileHits]:
        """Reciprocal rank fusion of the word hits (all files' hits in one ranking, by text rank) and the meaning
        hits, at the level of moments: a word hit in a segment counts for the passage holding it."""
        word_hits = sorted(((hit, found) for found in words for hit in found.hits), key=lambda pair: -pair[0].rank)
        segments = [hit.uuid for hit, _ in word_hits if hit.kind == "segment"]
        held = {
            row.segment_uuid: row.passage_id for row in _segment_passages(self.conn, model=model, segments=segments)
        }
        scores: dict[Key, float] = {}
        own: dict[Key, SearchHit] = {}
        places = _places(near)
        for place, (hit, found) in enumerate(word_hits, start=1):
            key: Key = ("passage", held[hit.uuid]) if hit.uuid in held else (hit.kind, hit.uuid)
            if key not in scores:  # a passage holding several word hits counts at its best place
                scores[key] = 1 / (RRF_K + place)
                own[key] = hit
                places.setdefault(key, (found.file_uuid, found.filename, found.title))
        for place, near_hit in enumerate(near, start=1):
            key = ("passage", near_hit.passage_id)
            scores[key] = scores.get(key, 0.0) + 1 / (RRF_K + place)
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        return self._grouped(ranked, places, own, params)

    def _grouped(
        self,
        ranked: list[tuple[Key, float]],
        places: dict[Key, _Place],
        own: dict[Key, SearchHit],
        params: dict[str, Any],
    ) -> list[FileHits]:
        """Hits (best first, each with its score) grouped by file: files in the order of their best hit, at most
        limit_files of them and hits_per_file hits each. Then the passages kept, only they, get their snippet (a
        ts_headline each) and the segment they start with."""
        files: dict[UUID, tuple[_Place, float, list[tuple[Key, float]]]] = {}
        for key, score in ranked:
            place = places[key]
            group = files.get(place[0])
            if group is None:
                if len(files) >= params["limit_files"]:
                    continue
                group = files[place[0]] = (place, score, [])
            if len(group[2]) < params["hits_per_file"]:
                group[2].append((key, score))
        passages = [key[1] for _, _, kept in files.values() for key, _ in kept if key[0] == "passage"]
        views = (
            {v.passage_id: v for v in _passage_hits(self.conn, q=params["q"], passages=passages)} if passages else {}
        )
        return [
            FileHits(place[0], place[1], place[2], best, [_shown(key, score, views, own) for key, score in kept])
            for place, best, kept in files.values()
        ]


def _places(near: list[PassageHit]) -> dict[Key, _Place]:
    return {("passage", h.passage_id): (h.file_uuid, h.filename, h.title) for h in near}


def _shown(key: Key, score: float, views: dict[int, _PassageView], own: dict[Key, SearchHit]) -> SearchHit:
    """The hit as returned: a passage with its snippet and anchor, a word hit as search.search made it; the score
    is the mode's (similarity, or the fused score)."""
    if key[0] == "passage":
        view = views[key[1]]
        return SearchHit("passage", view.anchor_uuid, view.start_time, view.end_time, score, view.snippet)
    hit = own[key]
    return SearchHit(hit.kind, hit.uuid, hit.start_time, hit.end_time, score, hit.snippet)
