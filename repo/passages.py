"""Passages of transcripts and their embeddings (table `passages`, migration 0015).

Vectors are written as `real[]` (`embedding`), so every server builds the same schema and the writers are the same.
Where pgvector is installed, a generated column `embedding_vector` holds each as a `vector` (casting a `real[]` for
every passage scored costs ~5 times the distance), and each dimension in use gets an HNSW index over
`embedding_vector::vector(N)`, partial on `vector_dims(embedding_vector) = N` (`ensure_vector_index`): a query uses
it when it filters on that and orders by `p.embedding_vector::vector(N) <=> %(query)s::vector(N)` with the same
literal N. Passages of a model with another dimension
can then coexist with the index while a model change is being re-embedded. The dimension is a typmod, which
PostgreSQL takes only as a literal: queries that need it are written with `{N}` and formatted with an integer here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import NotFound
from repo.jobs import JobSubject
from repo.rows import Actor
from transcript.passages import Passage

MAX_INDEXED_DIMENSIONS = 2000  # pgvector's HNSW limit for `vector`
INDEX_LOCK = 7_231_518  # advisory lock key: one process creates a dimension's index, the others wait and find it

_vector_available = s.scalar("passages.vector_available", bool)
_index_exists = s.scalar("passages.index_exists", bool)
_ensure_vectors = s.scalar("passages.ensure_vectors", bool)
_vector_extension = s.scalar("passages.vector_extension", bool)

# The file whose passages a job of the `embedding` kind writes (jobs/embeddings.py): its pending tasks wait, its
# tasks in progress claim an owner.
PASSAGES_SUBJECT = JobSubject("passages")


@dataclass(frozen=True, slots=True)
class SourceVersion:
    file_id: int
    status: str
    version: int


@dataclass(frozen=True, slots=True)
class SourceSegment:
    """A segment as passages are cut from it (transcript.passages.SegmentLike)."""

    start_time: float
    end_time: float
    text: str
    speaker_label: str | None


@dataclass(frozen=True, slots=True)
class Source:
    """What a file's passages are cut from: its transcript at `version`, in time order, and whether the file is
    completed (only a completed file's transcript is the one to embed)."""

    file_id: int
    completed: bool
    version: int
    segments: list[SourceSegment]


@dataclass(frozen=True, slots=True)
class _Reusable:
    text: str
    embedding: list[float]


@dataclass(frozen=True, slots=True)
class _Stored:
    file_id: int
    version: int | None


@dataclass(frozen=True, slots=True)
class StoredPassage:
    position: int
    start_time: float
    end_time: float
    text: str
    model: str
    transcript_version: int
    embedding: list[float]


@dataclass(frozen=True, slots=True)
class StaleFile:
    """A completed file whose passages must be made again, and why: `missing`, `another model`, `older transcript`,
    or `no transcript` (passages left over from a transcript that is gone)."""

    file_id: int
    user_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class ModelCount:
    model: str
    files: int
    passages: int
    dimensions: int


@dataclass(frozen=True, slots=True)
class _Owner:
    user_id: int


@dataclass(frozen=True, slots=True)
class _PendingTask:
    task_id: str


_source_version = s.one_or_none("passages.source_version", SourceVersion)
_source_segments = s.many("passages.source_segments", SourceSegment)
_reusable = s.many("passages.reusable", _Reusable)
_lock_file = s.execute("passages.lock_file")
_stored_version = s.one_or_none("passages.stored_version", _Stored)
_delete_for_file = s.rowcount("passages.delete_for_file")
_copy = s.copy("passages.copy")
_for_file = s.many("passages.for_file", StoredPassage)
_stale_files = s.many("passages.stale_files", StaleFile)
_counts_by_model = s.many("passages.counts_by_model", ModelCount)
_lock_queue = s.execute("passages.lock_queue")
_pending_task = s.one_or_none("passages.pending_task", _PendingTask)
_dead_runs = s.scalar("passages.dead_runs", int)
_file_owner = s.one_or_none("passages.file_owner", _Owner)


class PassageRepository:
    """A file's passages: read what they are cut from, replace them whole, list them; what is stale, for a rebuild.

    The job acts for the file's owner (row-level security and `{{file_owned}}` both): it reads and writes only
    what that owner may."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def version(self, actor: Actor, file_id: int) -> SourceVersion:
        """The file's status and transcript version; NotFound when the actor does not own the file."""
        found = _source_version(self.conn, file_id=file_id, **actor.scope())
        if found is None:
            raise NotFound("media file not found")
        return found

    def source(self, actor: Actor, file_id: int) -> Source:
        """The transcript to cut, with its version read first: if an edit commits between the two reads, the
        passages record the older version and are found stale, never the other way round. NotFound when the actor
        does not own the file."""
        found = self.version(actor, file_id)
        segments = _source_segments(self.conn, file_id=file_id, **actor.scope())
        return Source(file_id, found.status == "completed", found.version, segments)

    def reusable(self, actor: Actor, file_id: int, model: str) -> dict[str, list[float]]:
        """The vectors the file's passages of `model` have now, by text."""
        return {r.text: r.embedding for r in _reusable(self.conn, file_id=file_id, model=model, **actor.scope())}

    def replace(
        self,
        actor: Actor,
        file_id: int,
        model: str,
        version: int,
        passages: Sequence[Passage],
        vectors: Sequence[Sequence[float]],
    ) -> bool:
        """Make `passages` (with their `vectors`, in order) the file's only passages, atomically. False, writing
        nothing, when the file already holds passages of `model` cut from a newer transcript than `version` (a
        later job got there first). NotFound when the actor does not own the file (or it is gone)."""
        if len(passages) != len(vectors):
            raise ValueError(f"{len(passages)} passages but {len(vectors)} vectors")
        with self.conn.transaction():
            _lock_file(self.conn, file_id=file_id)
            stored = _stored_version(self.conn, file_id=file_id, model=model, **actor.scope())
            if stored is None:
                raise NotFound("media file not found")
            if stored.version is not None and stored.version > version:
                return False
            _delete_for_file(self.conn, file_id=file_id)
            _copy(
                self.conn,
                (
                    (file_id, p.position, p.start_time, p.end_time, p.text, model, version, array_literal(vector))
                    for p, vector in zip(passages, vectors, strict=True)
                ),
            )
        return True

    def for_file(self, actor: Actor, file_id: int) -> list[StoredPassage]:
        """The file's passages in order; [] for a file the actor may not read."""
        return _for_file(self.conn, file_id=file_id, **actor.scope())

    def stale_files(self, model: str, limit: int = 100_000) -> list[StaleFile]:
        """Every user's completed files whose passages are not those of `model` and their current transcript. Run
        as the system (the CLI's rebuild)."""
        return _stale_files(self.conn, model=model, limit=limit)

    def counts_by_model(self) -> list[ModelCount]:
        """Files and passages per model over every user (run as the system)."""
        return _counts_by_model(self.conn)

    def pending_task(self, file_id: int, task_type: str) -> str | None:
        """The file's pending task of `task_type`, locked until the caller's commit (taken after the file's queue
        lock): the caller then queues no other one. None when there is none."""
        _lock_queue(self.conn, file_id=file_id)
        found = _pending_task(self.conn, file_id=file_id, task_type=task_type)
        return None if found is None else found.task_id

    def file_owner(self, file_id: int) -> int:
        """The file's owner (row-level security: as the acting user sees it); NotFound when gone or not visible."""
        found = _file_owner(self.conn, file_id=file_id)
        if found is None:
            raise NotFound("media file not found")
        return found.user_id

    def dead_runs(self, file_id: int, task_type: str, dead_owner: str) -> int:
        return _dead_runs(self.conn, file_id=file_id, task_type=task_type, dead_owner=dead_owner)


SEARCH_BY_MEANING_OFF = (
    "search by meaning is off: this PostgreSQL has no pgvector extension (README: Search by meaning); search by "
    "words works, and transcripts are still cut into passages and embedded, ready for when pgvector is added"
)


def search_by_meaning_notice(conn: Connection) -> str | None:
    """The line the web and the workers log once at start when search by meaning is off, and why; None when on."""
    return None if vector_search_available(conn) else SEARCH_BY_MEANING_OFF


def index_name(dimensions: int) -> str:
    return f"passages_embedding_hnsw_{_checked(dimensions)}"


def vector_search_available(conn: Connection) -> bool:
    """Whether the database has pgvector (search by meaning is off without it)."""
    return _vector_available(conn)


def ensure_vector_index(conn: Connection, dimensions: int) -> bool:
    """Create the HNSW index of `dimensions` (and the generated `vector` column, where pgvector came after migration
    0015) if pgvector is here and they are missing; False without pgvector.

    Runs in the caller's transaction as the tables' owner (an index is the schema's, not a user's). Creating it on a
    table already holding many passages takes a while and blocks writes to `passages` meanwhile: it is done when the
    first passages of a dimension are written, normally on a nearly empty table."""
    n = _checked(dimensions)
    if not _vector_extension(conn) or n > MAX_INDEXED_DIMENSIONS:
        return False
    if vector_search_available(conn) and _index_exists(conn, name=index_name(n)):
        return True  # the usual case: no CREATE INDEX, whose table lock would hold back every other writer
    with as_system(conn):
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [INDEX_LOCK])
        _ensure_vectors(conn)
        conn.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {name} ON passages USING hnsw "
                "((embedding_vector::vector({n})) vector_cosine_ops) WHERE vector_dims(embedding_vector) = {n}"
            ).format(name=sql.Identifier(index_name(n)), n=sql.Literal(n))
        )
    return True


def array_literal(vector: Sequence[float]) -> str:
    """A vector as PostgreSQL's array text, 9 significant digits (a float32 read back exactly): ~6x less Python than
    psycopg's list dumper (the 4,300 passages of a 3-hour transcript at 384-d: 0.7 s against 4.5 s)."""
    return "{" + ",".join(map("%.9g".__mod__, vector)) + "}"


def _checked(dimensions: int) -> int:
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not 1 <= dimensions <= 4096:
        raise ValueError(f"an embedding's dimension is an integer from 1 to 4096, not {dimensions!r}")
    return dimensions
