"""Search over the transcripts and summaries of the files a user can see: by words, by meaning, or both.

`words` is PostgreSQL full text (sql/search.sql: search). `meaning` is the passages nearest the query's vector
(repo/meaning.py), grouped by file. `both` fuses the two rankings by reciprocal rank fusion (RRF_K = 60): each word
hit in a segment is mapped to the passage holding its start time, so the same moment found both ways counts once
with both ranks; a segment of a file without passages (not embedded yet) and a summary stay hits of their own. All
modes take the same filters and the same access rule (the actor's readable files; an admin's all-files view).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Invalid
from repo.library import LibraryFilter
from repo.meaning import MAX_K, MeaningSearchOff, PassageHit, nearest_passages
from repo.rows import Actor

HitKind = Literal["segment", "summary", "passage"]
SearchMode = Literal["words", "meaning", "both"]
MODES: tuple[SearchMode, ...] = ("words", "meaning", "both")
MAX_FILES = 100
MAX_HITS_PER_FILE = 50
RRF_K = 60  # reciprocal rank fusion: a hit's score is the sum over the rankings of 1 / (RRF_K + its place)


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
class _FileRow:
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
            return self._words(params)
        if meaning is None:
            raise MeaningSearchOff("no query vector (the embedding model is not loaded)")
        near = nearest_passages(
            self.conn,
            actor,
            meaning.vector,
            k=min(MAX_K, 2 * params["limit_files"] * params["hits_per_file"]),
            model=meaning.model,
            filters=filters,
        )
        if mode == "meaning":
            ranked = [(("passage", h.passage_id), h.score) for h in near]
            return self._grouped(ranked, {}, params)
        return self._fused(self._words(params), near, meaning.model, params)

    def _words(self, params: dict[str, Any]) -> list[FileHits]:
        rows = _search(self.conn, **params)
        return [
            FileHits(row.file_uuid, row.filename, row.title, row.best_rank, [_hit(raw) for raw in row.hits])
            for row in rows
        ]

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
        scores: dict[tuple[str, Any], float] = {}
        own: dict[tuple[str, Any], tuple[SearchHit, FileHits]] = {}
        for place, (hit, found) in enumerate(word_hits, start=1):
            key: tuple[str, Any] = ("passage", held[hit.uuid]) if hit.uuid in held else (hit.kind, hit.uuid)
            if key not in scores:  # a passage holding several word hits counts at its best place
                scores[key] = 1 / (RRF_K + place)
                own[key] = (hit, found)
        for place, near_hit in enumerate(near, start=1):
            key = ("passage", near_hit.passage_id)
            scores[key] = scores.get(key, 0.0) + 1 / (RRF_K + place)
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        return self._grouped(ranked, own, params)

    def _grouped(
        self,
        ranked: list[tuple[tuple[str, Any], float]],
        own: dict[tuple[str, Any], tuple[SearchHit, FileHits]],
        params: dict[str, Any],
    ) -> list[FileHits]:
        """Hits (best first, each with its score) grouped by file: files in the order of their best hit, at most
        limit_files of them and hits_per_file hits each. Passages get their snippet and anchor segment here."""
        passages = [key[1] for key, _ in ranked if key[0] == "passage"]
        views = {v.passage_id: v for v in _passage_hits(self.conn, q=params["q"], passages=passages)}
        files: dict[UUID, FileHits] = {}
        for key, score in ranked:
            if key[0] == "passage":
                view = views[key[1]]
                hit = SearchHit("passage", view.anchor_uuid, view.start_time, view.end_time, score, view.snippet)
                file_uuid, filename, title = view.file_uuid, view.filename, view.title
            else:
                word_hit, found = own[key]
                hit = SearchHit(
                    word_hit.kind, word_hit.uuid, word_hit.start_time, word_hit.end_time, score, word_hit.snippet
                )
                file_uuid, filename, title = found.file_uuid, found.filename, found.title
            group = files.get(file_uuid)
            if group is None:
                if len(files) >= params["limit_files"]:
                    continue
                group = files[file_uuid] = FileHits(file_uuid, filename, title, score, [])
            if len(group.hits) < params["hits_per_file"]:
                group.hits.append(hit)
        return list(files.values())
