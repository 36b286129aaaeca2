"""Measure 2: the same operations the ORM way the old platform worked (SQLAlchemy 2 ORM sessions).

Declarative classes map OUR schema (media_files, tags + file_tags, transcript_segments, speakers, users), loaded as
SQLAlchemy's loading guide advises: `selectinload` for collections, `joinedload` for many-to-one, `deferred` for the
one large column (waveform_data). Each ORM operation runs in its own Session on its own engine pool; ours run
through Database.transaction() and the repositories. Calls alternate, medians are compared: ratio = ORM / ours.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import psycopg
from sqlalchemy import (
    JSON,
    REAL,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Integer,
    Table,
    Text,
    Uuid,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    deferred,
    mapped_column,
    relationship,
    selectinload,
)

from bench import BenchUser, Context, Measure, alternate, median, ms, timed
from bench.dataset import delete_files, new_file, transcript
from config.settings import Settings
from repo.database import Database
from repo.media_files import MediaFileRepository
from repo.segments import SegmentRepository
from transcript.segments import Segment

READ_TARGET = 3.0
INGEST_TARGET = 20.0
Json = Any


class Base(DeclarativeBase):
    pass


file_tags = Table(
    "file_tags",
    Base.metadata,
    Column("media_file_id", BigInteger, ForeignKey("media_files.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", BigInteger, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)


class OrmUser(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=func.gen_random_uuid())
    email: Mapped[str] = mapped_column(Text)
    hashed_password: Mapped[str] = mapped_column(Text)
    full_name: Mapped[str] = mapped_column(Text, server_default="")
    is_active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    role: Mapped[str] = mapped_column(Text, server_default="user")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OrmTag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=func.gen_random_uuid())
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OrmSpeaker(Base):
    __tablename__ = "speakers"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=func.gen_random_uuid())
    media_file_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("media_files.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    suggested_name: Mapped[str | None] = mapped_column(Text)
    profile_id: Mapped[int | None] = mapped_column(BigInteger)
    verified: Mapped[bool] = mapped_column(Boolean, server_default="false")
    confidence: Mapped[float | None] = mapped_column(REAL)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class OrmSegment(Base):
    __tablename__ = "transcript_segments"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=func.gen_random_uuid())
    media_file_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("media_files.id", ondelete="CASCADE"))
    speaker_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("speakers.id", ondelete="SET NULL"))
    start_time: Mapped[float] = mapped_column(Double)
    end_time: Mapped[float] = mapped_column(Double)
    text: Mapped[str] = mapped_column(Text)
    word_row: Mapped[OrmSegmentWords | None] = relationship()
    speaker: Mapped[OrmSpeaker | None] = relationship()


class OrmSegmentWords(Base):
    """A segment's word timings (their own table since migration 0005)."""

    __tablename__ = "segment_words"
    segment_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("transcript_segments.id", ondelete="CASCADE"), primary_key=True
    )
    words: Mapped[Json] = mapped_column(JSON)


class OrmFile(Base):
    """Every column of media_files, as the old platform's model had them."""

    __tablename__ = "media_files"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, server_default=func.gen_random_uuid())
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(Text)
    storage_path: Mapped[str] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str] = mapped_column(Text)
    file_hash: Mapped[str | None] = mapped_column(Text)
    duration: Mapped[float | None] = mapped_column(Double)
    language: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    source_url: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(Text)
    upload_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    media_format: Mapped[str | None] = mapped_column(Text)
    codec: Mapped[str | None] = mapped_column(Text)
    frame_rate: Mapped[float | None] = mapped_column(Double)
    frame_count: Mapped[int | None] = mapped_column(BigInteger)
    resolution_width: Mapped[int | None] = mapped_column(Integer)
    resolution_height: Mapped[int | None] = mapped_column(Integer)
    aspect_ratio: Mapped[str | None] = mapped_column(Text)
    audio_channels: Mapped[int | None] = mapped_column(Integer)
    audio_sample_rate: Mapped[int | None] = mapped_column(Integer)
    audio_bit_depth: Mapped[int | None] = mapped_column(Integer)
    creation_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_modified_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    device_make: Mapped[str | None] = mapped_column(Text)
    device_model: Mapped[str | None] = mapped_column(Text)
    metadata_raw: Mapped[Json | None] = mapped_column(JSONB)
    metadata_important: Mapped[Json | None] = mapped_column(JSONB)
    waveform_data: Mapped[Json | None] = deferred(mapped_column(JSONB))  # large: loaded only when asked for
    thumbnail_path: Mapped[str | None] = mapped_column(Text)
    active_task_id: Mapped[str | None] = mapped_column(Text)
    task_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    task_last_update: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float] = mapped_column(REAL)
    cancellation_requested: Mapped[bool] = mapped_column(Boolean)
    retry_count: Mapped[int] = mapped_column(Integer)
    max_retries: Mapped[int] = mapped_column(Integer)
    last_error_message: Mapped[str | None] = mapped_column(Text)
    error_category: Mapped[str | None] = mapped_column(Text)
    recovery_attempts: Mapped[int] = mapped_column(Integer)
    last_recovery_attempt: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    force_delete_eligible: Mapped[bool] = mapped_column(Boolean)
    summary_status: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    owner: Mapped[OrmUser] = relationship()
    tags: Mapped[list[OrmTag]] = relationship(secondary=file_tags, order_by=OrmTag.name)
    speakers: Mapped[list[OrmSpeaker]] = relationship(order_by=OrmSpeaker.label, viewonly=True)
    segments: Mapped[list[OrmSegment]] = relationship(
        order_by=(OrmSegment.start_time, OrmSegment.end_time, OrmSegment.id), viewonly=True
    )


def engine_for(conninfo: str) -> Engine:
    """An engine on the psycopg 3 dialect with SQLAlchemy's own QueuePool (as the old platform ran)."""
    return create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo), pool_size=2)


# -- the ORM operations ----------------------------------------------------------------------------------------------


def orm_page(engine: Engine, user_id: int) -> list[tuple[OrmFile, list[str], int, int]]:
    speaker_count = select(func.count(OrmSpeaker.id)).where(OrmSpeaker.media_file_id == OrmFile.id).scalar_subquery()
    segment_count = select(func.count(OrmSegment.id)).where(OrmSegment.media_file_id == OrmFile.id).scalar_subquery()
    stmt = (
        select(OrmFile, speaker_count, segment_count)
        .where(OrmFile.user_id == user_id)
        .order_by(OrmFile.upload_time.desc(), OrmFile.id.desc())
        .limit(51)
        .options(selectinload(OrmFile.tags))
    )
    with Session(engine) as session:
        rows = session.execute(stmt).all()
        return [(f, [t.name for t in f.tags], speakers, segments) for f, speakers, segments in rows[:50]]


def orm_detail(engine: Engine, user_id: int, file_uuid: uuid.UUID) -> tuple[OrmFile, list[Any]]:
    stmt = (
        select(OrmFile)
        .where(OrmFile.uuid == file_uuid, OrmFile.user_id == user_id)
        .options(
            selectinload(OrmFile.speakers),
            selectinload(OrmFile.tags),
            selectinload(OrmFile.segments).joinedload(OrmSegment.speaker),
            selectinload(OrmFile.segments).joinedload(OrmSegment.word_row),
        )
    )
    with Session(engine) as session:
        found = session.scalars(stmt).one()
        transcript = [
            (
                s.uuid,
                s.start_time,
                s.end_time,
                s.text,
                s.word_row.words if s.word_row else None,
                s.speaker.uuid if s.speaker else None,
                s.speaker.label if s.speaker else None,
                (s.speaker.display_name or s.speaker.label) if s.speaker else None,
            )
            for s in found.segments
        ]
        return found, transcript


def orm_ingest_add_all(engine: Engine, file_id: int, owner_id: int, segments: list[Segment]) -> int:
    """The unit-of-work way: objects, relationships, session.add_all, commit."""
    with Session(engine) as session, session.begin():
        speakers: dict[str, OrmSpeaker] = {}
        for seg in segments:
            if seg.speaker_label is not None and seg.speaker_label not in speakers:
                speakers[seg.speaker_label] = OrmSpeaker(
                    media_file_id=file_id, user_id=owner_id, label=seg.speaker_label
                )
        session.add_all(speakers.values())
        session.add_all(
            [
                OrmSegment(
                    media_file_id=file_id,
                    speaker=None if seg.speaker_label is None else speakers[seg.speaker_label],
                    start_time=seg.start_time,
                    end_time=seg.end_time,
                    text=seg.text,
                    word_row=None if seg.words is None else OrmSegmentWords(words=[w.as_json() for w in seg.words]),
                )
                for seg in segments
            ]
        )
    return len(segments)


def orm_ingest_bulk(engine: Engine, file_id: int, owner_id: int, segments: list[Segment]) -> int:
    """SQLAlchemy 2's ORM bulk INSERT: `session.execute(insert(Model), [dicts])` (batched insertmanyvalues)."""
    labels = list(dict.fromkeys(seg.speaker_label for seg in segments if seg.speaker_label is not None))
    with Session(engine) as session, session.begin():
        ids: dict[str, int] = {}
        if labels:
            rows = session.execute(
                insert(OrmSpeaker).returning(OrmSpeaker.id, OrmSpeaker.label),
                [{"media_file_id": file_id, "user_id": owner_id, "label": label} for label in labels],
            )
            ids = {label: speaker_id for speaker_id, label in rows}
        segment_ids = session.scalars(
            insert(OrmSegment).returning(OrmSegment.id, sort_by_parameter_order=True),
            [
                {
                    "media_file_id": file_id,
                    "speaker_id": None if seg.speaker_label is None else ids[seg.speaker_label],
                    "start_time": seg.start_time,
                    "end_time": seg.end_time,
                    "text": seg.text,
                }
                for seg in segments
            ],
        ).all()
        words = [
            {"segment_id": segment_id, "words": [w.as_json() for w in seg.words]}
            for segment_id, seg in zip(segment_ids, segments, strict=True)
            if seg.words is not None
        ]
        if words:
            session.execute(insert(OrmSegmentWords), words)
    return len(segments)


# -- the measure -----------------------------------------------------------------------------------------------------


def run(ctx: Context) -> Measure:
    measure = Measure("orm", "2. against the ORM way (SQLAlchemy 2 ORM sessions on the same schema)")
    options = ctx.options
    user = ctx.users[0]
    actor = user.actor
    rng = random.Random(5)
    file_uuids = [uuid.UUID(u) for u in user.file_uuids]
    settings = Settings(db_pool_min=2, db_pool_max=2, db_slow_query_ms=60_000)
    engine = engine_for(ctx.url)
    made: list[int] = []
    try:
        with Database(ctx.url, settings, application_name="opentr-bench", open=False) as db:
            db.open(wait=True)

            def ours_page(i: int) -> object:
                with db.transaction() as conn:
                    return MediaFileRepository(conn).list_page(actor, limit=50)

            def ours_detail(i: int) -> object:
                file_uuid = file_uuids[i % len(file_uuids)]
                with db.transaction() as conn:
                    detail = MediaFileRepository(conn).detail(actor, file_uuid)
                    return detail, SegmentRepository(conn).transcript(actor, file_uuid)

            reads: list[tuple[str, Callable[[int], object], Callable[[int], object]]] = [
                ("file page of 50 with tags", ours_page, lambda i: orm_page(engine, user.id)),
                (
                    f"file detail with {ctx.options.segments // max(1, ctx.options.files):,} segments and speakers",
                    ours_detail,
                    lambda i: orm_detail(engine, user.id, file_uuids[i % len(file_uuids)]),
                ),
            ]
            for name, ours, orm in reads:
                ours_samples, orm_samples = alternate(ours, orm, options.orm_read_iterations, rng)
                _row(measure, name, ours_samples, orm_samples, READ_TARGET)

            segments = transcript(options.orm_ingest_segments)
            ours_samples, add_all_samples, bulk_samples = [], [], []
            for _ in range(options.orm_ingest_repeats):
                targets = [new_file_id(ctx, user, made) for _ in range(3)]
                order = [0, 1, 2]
                rng.shuffle(order)
                for which in order:
                    file_id = targets[which]
                    if which == 0:
                        ours_samples.append(_ours_ingest(db, file_id, segments))
                    elif which == 1:
                        add_all_samples.append(timed(partial(orm_ingest_add_all, engine, file_id, user.id, segments)))
                    else:
                        bulk_samples.append(timed(partial(orm_ingest_bulk, engine, file_id, user.id, segments)))
            count = len(segments)
            _row(measure, f"ingest {count:,} segments: session.add_all", ours_samples, add_all_samples, INGEST_TARGET)
            _row(measure, f"ingest {count:,} segments: ORM bulk insert", ours_samples, bulk_samples, INGEST_TARGET)
    finally:
        engine.dispose()
        if made:
            delete_files(ctx.url, made)
    measure.notes.append(
        "ratio = ORM median / ours median (how many times faster ours is); the ORM page also loads its two counts; "
        "our detail also returns collections and the comment count; ingest: our replace_transcript (COPY) vs the "
        "ORM into an empty file, words included"
    )
    return measure


def new_file_id(ctx: Context, user: BenchUser, made: list[int]) -> int:
    with psycopg.connect(ctx.url, autocommit=True) as conn:
        file_id = new_file(conn, user, "orm-ingest")
    made.append(file_id)
    return file_id


def _ours_ingest(db: Database, file_id: int, segments: list[Segment]) -> float:
    def ingest() -> None:
        with db.transaction() as conn:
            SegmentRepository(conn).replace_transcript(file_id, segments)

    return timed(ingest)


def _row(measure: Measure, name: str, ours: list[float], orm: list[float], target: float) -> None:
    ratio = median(orm) / median(ours)
    measure.rows.append(
        {
            "operation": name,
            "ours_ms_median": ms(median(ours)),
            "orm_ms_median": ms(median(orm)),
            "ours_faster_by": round(ratio, 2),
            "runs": len(ours),
        }
    )
    measure.target(f"ORM: {name}", f">= {target:g}x faster", round(ratio, 2), ratio >= target, "x")
