"""What each part of the segments' schema costs an ingest, in server CPU per segment (bench/README.md §4).

By hand, against a database kept by `python -m bench --keep-db` on a server of this machine (the backend's CPU is
read from /proc): `python -m bench.ingest_parts URL [--segments 50000] [--runs 3]`. Each run replaces the transcript
of one file (`SegmentRepository.replace_transcript`, the bench's transcript) inside a transaction that first drops
one part (an index, a default, a constraint, a trigger) and is rolled back afterwards, so the schema is left as it
was; GIN's pending list is flushed before each run and inside it after the write, so the index pays its whole cost.
Parts run in random order, VACUUM between runs. Prints the median server CPU per segment and the difference from
the run with nothing dropped. It writes and rolls back: use a kept copy, not a database anyone relies on.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import psycopg

from bench.dataset import transcript
from bench.ingest import _backend_cpu
from repo.segments import SegmentRepository

T = "ALTER TABLE transcript_segments"
PARTS: dict[str, list[str]] = {
    "nothing dropped": [],
    "to_tsvector (generated column, with the GIN index)": [
        "DROP INDEX transcript_segments_search_idx",
        f"{T} ALTER COLUMN search_vector DROP EXPRESSION",
    ],
    "GIN index on search_vector": ["DROP INDEX transcript_segments_search_idx"],
    "uuid default gen_random_uuid()": [f"{T} ALTER COLUMN uuid DROP DEFAULT, ALTER COLUMN uuid DROP NOT NULL"],
    "uuid unique index": [f"{T} DROP CONSTRAINT transcript_segments_uuid_key"],
    "identity unique index": ["DROP INDEX transcript_segments_identity_key"],
    "(media_file_id) index": ["DROP INDEX transcript_segments_media_file_id_idx"],
    "speaker_id partial index": ["DROP INDEX transcript_segments_speaker_id_idx"],
    "foreign key media_file_id": [f"{T} DROP CONSTRAINT transcript_segments_media_file_id_fkey"],
    "foreign key speaker_id": [f"{T} DROP CONSTRAINT transcript_segments_speaker_id_fkey"],
    "version trigger": ["DROP TRIGGER transcript_segments_inserted ON transcript_segments"],
    "segment_words foreign key": ["ALTER TABLE segment_words DROP CONSTRAINT segment_words_segment_id_fkey"],
    "segment_words primary key": ["ALTER TABLE segment_words DROP CONSTRAINT segment_words_pkey"],
}
FLUSH = "SELECT gin_clean_pending_list(to_regclass('transcript_segments_search_idx')) WHERE to_regclass(%s) IS NOT NULL"


def one(conn: psycopg.Connection[Any], file_id: int, ddl: list[str], segments: Any) -> float:
    """Server CPU seconds of one replacement with `ddl` applied, rolled back."""
    pid = conn.info.backend_pid
    conn.execute(FLUSH, ["transcript_segments_search_idx"])
    with conn.transaction(force_rollback=True):
        for statement in ddl:
            conn.execute(statement)
        before = _backend_cpu(pid)
        SegmentRepository(conn).replace_transcript(file_id, segments)
        conn.execute(FLUSH, ["transcript_segments_search_idx"])
        after = _backend_cpu(pid)
    if before is None or after is None:
        raise SystemExit("the server is not on this machine: its CPU cannot be read")
    return after - before


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_parts", description=__doc__.split("\n")[0])
    parser.add_argument("url")
    parser.add_argument("--segments", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    segments = transcript(args.segments, seed=args.segments)
    seconds: dict[str, list[float]] = {name: [] for name in PARTS}
    with psycopg.connect(args.url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO media_files (user_id, filename, storage_path, file_size, status)"
            " SELECT id, 'parts.wav', %s, 1000, 'processing' FROM users ORDER BY id LIMIT 1 RETURNING id",
            [f"ingest-parts-{time.time_ns()}.wav"],
        ).fetchone()
        assert row is not None
        file_id = int(row[0])
        try:
            one(conn, file_id, [], segments)  # warm-up
            for _ in range(args.runs):
                for name in random.sample(list(PARTS), len(PARTS)):
                    seconds[name].append(one(conn, file_id, PARTS[name], segments))
                    conn.execute("VACUUM transcript_segments, segment_words")
        finally:
            conn.execute("DELETE FROM media_files WHERE id = %s", [file_id])
    per_segment = {name: statistics.median(found) / args.segments * 1e6 for name, found in seconds.items()}
    whole = per_segment["nothing dropped"]
    print("| part dropped | server µs / segment | its cost |\n|---|---|---|")
    for name, micros in per_segment.items():
        print(f"| {name} | {micros:.1f} | {whole - micros:+.1f} |")


if __name__ == "__main__":
    main()
