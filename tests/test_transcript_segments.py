"""The transcript vocabulary's segments and words: each conversion (engine or file -> staging -> rows -> what the API
serves) keeps every value, in any script, including words at a segment's edges and segments without a speaker."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import psycopg
import pytest

from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.transcript_staging import TranscriptStaging
from tests import factories
from transcript.segments import Segment, TranscriptSegment, Word, words_from_json, words_json
from transcript.sidecars import parse_sidecar

Conn = psycopg.Connection[Any]

# Words as an engine (leading spaces, a score) and a WhisperX file (a speaker, no timing for a number) give them; the
# first starts where its segment starts and the last ends where it ends, at 0.0 and with a score of 0.0: values a
# truthiness test would drop.
JAPANESE = Segment(
    0.0,
    2.5,
    "会議を始めます 🎙️",
    "SPEAKER_00",
    (Word(" 会議を", 0.0, 0.8, 0.0), Word(" 始めます", 0.8, 2.0, 0.97), Word(" 🎙️", 2.0, 2.5, 1.0)),
)
ARABIC = Segment(
    2.5,
    5.0,
    "مرحبا بكم في 2024",
    "متحدث أ",
    (Word("مرحبا", 2.5, 3.0, 0.5, "متحدث أ"), Word("بكم"), Word("في", 3.5, 3.75), Word("2024", speaker="متحدث أ")),
)
NOBODY = Segment(5.0, 5.0, "Grüße, Müller 👋", None, None)  # no speaker, no words, no length
EMPTY_WORDS = Segment(6.0, 7.5, "ohne Wörter", "SPEAKER_01", ())
TRANSCRIPT = [JAPANESE, ARABIC, NOBODY, EMPTY_WORDS]


@pytest.mark.parametrize(
    "word",
    [*(word for segment in TRANSCRIPT for word in segment.words or ()), Word(""), Word("null", 1e-7, 1e9, 1.0)],
)
def test_a_word_round_trips_through_its_json_form_exactly(word: Word) -> None:
    assert Word.from_json(json.loads(json.dumps(word.as_json()))) == word
    assert words_from_json(json.loads(words_json([word]))) == (word,)


def test_the_json_form_holds_the_keys_of_what_is_known_in_whisperx_names() -> None:
    assert Word(" 会議を", 0.0, 0.8, 0.0).as_json() == {"word": " 会議を", "start": 0.0, "end": 0.8, "score": 0.0}
    assert Word("بكم").as_json() == {"word": "بكم"}
    assert Word("2024", speaker="متحدث أ").as_json() == {"word": "2024", "speaker": "متحدث أ"}
    assert words_json(JAPANESE.words or ()).decode() == (
        '[{"word":" 会議を","start":0.0,"end":0.8,"score":0.0},{"word":" 始めます","start":0.8,"end":2.0,'
        '"score":0.97},{"word":" 🎙️","start":2.0,"end":2.5,"score":1.0}]'
    )
    assert (NOBODY.words_json(), EMPTY_WORDS.words_json()) == (None, b"[]")  # no words row / a row of none


def test_reading_stored_words_ignores_other_keys_and_names_what_is_wrong() -> None:
    assert Word.from_json({"word": "hi", "start": 1, "probability": 0.2, "extra": [1]}) == Word("hi", 1.0)
    assert words_from_json(None) is None and words_from_json([]) == ()
    for raw, message in [
        ("hi", "word 1: expected an object with a word"),
        ({"start": 1.0}, 'word 1: "word" must be a string'),
        ({"word": "a", "end": True}, 'word 1: "end" must be a number, not True'),
        ({"word": "a", "score": "0.9"}, "word 1: \"score\" must be a number, not '0.9'"),
        ({"word": "a", "speaker": 7}, 'word 1: "speaker" must be a string, not 7'),
    ]:
        with pytest.raises(ValueError) as refused:
            words_from_json([raw])
        assert str(refused.value) == message
    with pytest.raises(ValueError, match="words must be a list"):
        words_from_json({"word": "a"})


def test_words_json_refuses_what_json_cannot_hold() -> None:
    for bad, key in [
        (Word("x", float("nan")), "start"),
        (Word("x", 0, float("inf")), "end"),
        (Word("x", score=-1e999), "score"),
    ]:
        with pytest.raises(ValueError, match=f'word 2: "{key}" must be a finite number'):
            words_json([Word("ok", 0.0, 1.0), bad])
    with pytest.raises(ValueError, match="cannot be written as JSON"):
        words_json([Word("\ud800")])  # a lone surrogate is no UTF-8


def _task(conn: Conn, owner: Actor, file_id: int) -> str:
    task_id = f"process-{file_id}"
    conn.execute(
        "INSERT INTO tasks (id, user_id, media_file_id, task_type) VALUES (%s, %s, %s, 'transcription')",
        [task_id, owner.id, file_id],
    )
    return task_id


def test_staging_publishing_and_reading_keep_every_value(conn: Conn) -> None:
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    staging = TranscriptStaging(conn, _task(conn, owner, file_id))

    staging.stage(staging.stage(0, TRANSCRIPT[:2]), TRANSCRIPT[2:])
    assert staging.staged() == TRANSCRIPT  # the staging row is the segment, exactly
    assert staging.staged_outline() == [replace(s, words=None) for s in TRANSCRIPT]  # the same, its words left out
    staging.publish(file_id)
    shown = "Frau Müller-Lüdenscheidt 👩\u200d💼"
    conn.execute(
        "UPDATE speakers SET display_name = %s WHERE media_file_id = %s AND label = %s", [shown, file_id, "SPEAKER_00"]
    )

    read = SegmentRepository(conn).transcript(owner, file_uuid)
    assert [(s.start_time, s.end_time, s.text) for s in read] == [
        (s.start_time, s.end_time, s.text) for s in TRANSCRIPT
    ]
    assert [s.words for s in read] == [
        None if s.words is None else [w.as_json() for w in s.words] for s in TRANSCRIPT
    ]  # served as stored: WhisperX's form
    assert [words_from_json(s.words) for s in read] == [s.words for s in TRANSCRIPT]
    # The speaker reference: the label the transcript gave, the name it is shown with, the row both belong to.
    assert [(s.speaker_label, s.speaker_name) for s in read] == [
        ("SPEAKER_00", shown),
        ("متحدث أ", "متحدث أ"),  # no display name: the label
        (None, None),
        ("SPEAKER_01", "SPEAKER_01"),
    ]
    assert read[2].speaker_uuid is None and len({s.speaker_uuid for s in read}) == 4


def test_a_transcript_file_is_stored_as_it_parsed(conn: Conn) -> None:
    """WhisperX JSON in three scripts: the parsed segments are the stored ones, their words as the file wrote them."""
    words: list[dict[str, Any]] = [
        {"word": "السلام", "start": 0.0, "end": 0.5, "score": 0.0, "speaker": "SPEAKER_01"},
        {"word": "عليكم", "start": 0.5, "end": 1.25},
        {"word": "🙂"},
    ]
    document = {
        "segments": [
            {"start": 0.0, "end": 1.25, "text": " السلام عليكم 🙂", "speaker": "SPEAKER_01", "words": words},
            {"start": 1.25, "end": 3.0, "text": "東京で会いましょう"},
        ]
    }
    parsed = parse_sidecar(json.dumps(document, ensure_ascii=False).encode())
    owner = factories.user(conn)
    file_id, file_uuid = factories.media_file(conn, owner)
    SegmentRepository(conn).replace_transcript(file_id, parsed)

    read = SegmentRepository(conn).transcript(owner, file_uuid)
    assert [(s.text, s.speaker_label, s.words) for s in read] == [
        ("السلام عليكم 🙂", "SPEAKER_01", words),
        ("東京で会いましょう", None, None),
    ]


def test_the_api_model_is_the_stored_segment_field_for_field() -> None:
    """web/transcripts.py's SegmentOut documents TranscriptSegment (and sql/segments.sql's JSON builds the same)."""
    from dataclasses import fields

    from web.transcripts import SegmentOut

    assert list(SegmentOut.model_fields) == [f.name for f in fields(TranscriptSegment)]
