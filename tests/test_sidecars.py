"""Transcript sidecars: SRT, WebVTT and WhisperX JSON as users upload them, and the errors bad ones give."""

from __future__ import annotations

import dataclasses
import json

import pytest

from transcript.segments import Segment, Word
from transcript.sidecars import SidecarError, parse_sidecar

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

SRT = """1
00:00:01,000 --> 00:00:02,500
[SPEAKER_01]: Hello there,
<i>general</i> Kenobi.

2
00:00:03,000 --> 00:00:04,000
SPEAKER_00: You are a   bold one.

3
01:02:03,456 --> 01:02:04,000
{\\an8}No speaker here &amp; there
"""

EXPECTED = [
    Segment(1.0, 2.5, "Hello there, general Kenobi.", "SPEAKER_01"),
    Segment(3.0, 4.0, "You are a bold one.", "SPEAKER_00"),
    Segment(3723.456, 3724.0, "No speaker here & there", None),
]

VTT = """WEBVTT - interview
Kind: captions
Language: en

NOTE a comment
that spans lines

STYLE
::cue { color: yellow }

intro
00:01.000 --> 00:02.500 align:start position:10%
<v SPEAKER_01>Hello   there,</v>
<v SPEAKER_01>general Kenobi.</v>

00:00:03.000 --> 00:00:04.000
<v.loud SPEAKER_00>You are a <b>bold</b> <00:00:03.500><c>one.</c>

01:02:03.456 --> 01:02:04.000
No speaker here &amp; there
"""

HELLO_WORDS = [
    {"word": "Hello", "start": 1.0, "end": 1.4, "score": 0.91, "speaker": "SPEAKER_01"},
    {"word": "there,", "start": 1.5, "end": 1.8, "score": 0.88},
    {"word": "general", "start": 1.9, "end": 2.2},
    {"word": "Kenobi.", "start": 2.2, "end": 2.5, "score": 0.7},
]
WHISPERX = {
    "language": "en",
    "segments": [
        {
            "start": 1.0,
            "end": 2.5,
            "text": " Hello there, general Kenobi.",
            "speaker": "SPEAKER_01",
            "words": HELLO_WORDS,
        },
        {"start": 3, "end": 4, "text": "You are a bold one.", "speaker": "SPEAKER_00"},
        {
            "start": 3723.456,
            "end": 3724.0,
            "text": "In 2014 we met.",
            "words": [{"word": "In", "start": 3723.456, "end": 3723.5}, {"word": "2014"}],
        },
    ],
    "word_segments": [{"word": "Hello", "start": 1.0, "end": 1.4}],
}


def test_srt_cues_become_segments_with_speakers() -> None:
    assert parse_sidecar(SRT.encode()) == EXPECTED


def test_srt_with_bom_and_windows_line_endings() -> None:
    assert parse_sidecar(b"\xef\xbb\xbf" + SRT.replace("\n", "\r\n").encode()) == EXPECTED


def test_srt_without_index_lines_and_with_dot_decimals() -> None:
    data = b"00:00:01.000 --> 00:00:02.500\nfirst\n\n00:00:03.000-->00:00:04.000\nsecond\n"

    assert [(s.start_time, s.end_time, s.text) for s in parse_sidecar(data)] == [
        (1.0, 2.5, "first"),
        (3.0, 4.0, "second"),
    ]


def test_vtt_cues_become_segments_with_voices() -> None:
    assert parse_sidecar(VTT.encode()) == [
        Segment(1.0, 2.5, "Hello there, general Kenobi.", "SPEAKER_01"),
        Segment(3.0, 4.0, "You are a bold one.", "SPEAKER_00"),
        EXPECTED[2],
    ]


def test_vtt_prefix_speakers_named_voices_and_utf16() -> None:
    text = (
        "WEBVTT\r\n\r\n00:00.000 --> 00:01.000\r\n[SPEAKER_02]: hi\r\n\r\n"
        "00:01.000 --> 00:02.000\r\n<v Roger Bingham>bye"
    )

    segments = parse_sidecar(text.encode("utf-16"))

    assert [(s.speaker_label, s.text) for s in segments] == [("SPEAKER_02", "hi"), ("Roger Bingham", "bye")]


def test_vtt_cue_directly_after_the_header_line() -> None:
    segments = parse_sidecar(b"WEBVTT\n00:00.500 --> 00:01.000\nhello\n\n00:02.000 --> 00:03.000\nagain")

    assert [(s.start_time, s.text) for s in segments] == [(0.5, "hello"), (2.0, "again")]


def test_whisperx_json_keeps_speakers_and_words() -> None:
    segments = parse_sidecar(json.dumps(WHISPERX, indent=2).encode())

    assert [(s.start_time, s.end_time, s.text, s.speaker_label) for s in segments] == [
        (1.0, 2.5, "Hello there, general Kenobi.", "SPEAKER_01"),
        (3.0, 4.0, "You are a bold one.", "SPEAKER_00"),
        (3723.456, 3724.0, "In 2014 we met.", None),
    ]
    first, second, third = segments
    assert first.words is not None and len(first.words) == 4
    assert first.words[0] == Word("Hello", 1.0, 1.4, 0.91, "SPEAKER_01")
    assert first.words[2] == Word("general", 1.9, 2.2)
    assert second.words is None
    assert third.words == (Word("In", 3723.456, 3723.5), Word("2014"))
    assert isinstance(second.start_time, float)
    # stored as they came (the keys of what is known)
    assert [None if s.words is None else [w.as_json() for w in s.words] for s in segments] == [
        HELLO_WORDS,
        None,
        [{"word": "In", "start": 3723.456, "end": 3723.5}, {"word": "2014"}],
    ]


def test_bare_json_list_of_segments_is_accepted() -> None:
    assert parse_sidecar(b'[{"start": 0, "end": 1, "text": "hi"}]') == [Segment(0.0, 1.0, "hi")]


def test_segments_are_frozen() -> None:
    segment = parse_sidecar(SRT.encode())[0]

    with pytest.raises(dataclasses.FrozenInstanceError):
        segment.text = "changed"  # type: ignore[misc]


def test_repeated_cues_are_kept_once() -> None:
    cue = "00:00:01,000 --> 00:00:02,000\nsame words\n\n"

    assert len(parse_sidecar((cue * 3 + "00:00:01,000 --> 00:00:02,000\nother words\n").encode())) == 2


def test_zero_length_cue_is_allowed() -> None:
    assert parse_sidecar(b"1\n00:00:01,000 --> 00:00:01,000\nblip\n")[0].end_time == 1.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no segments"),
        (b"  \r\n\n ", "no segments"),
        (b"WEBVTT\n\nNOTE nothing but a note\n", "no segments"),
        (b'{"segments": []}', "no segments"),
        (b"just a plain text transcript\nwith two lines\n", "unrecognised transcript format"),
        (b"\xff\xfeabc\xd8", "not UTF-16 text"),
        (b"1\n00:00:01,000 --> 00:00:02,000\ncaf\xe9\n", r"not UTF-8 text \(invalid byte at offset 35\)"),
    ],
)
def test_unusable_files(data: bytes, message: str) -> None:
    with pytest.raises(SidecarError, match=message):
        parse_sidecar(data)


GOOD_SRT_CUE = "1\n00:00:01,000 --> 00:00:02,000\nfine\n\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD_SRT_CUE + "2\n00:00:05,000 --> 00:00:04,000\nbackwards\n", r"cue 2 \(line 6\): ends at 4\.000 s, before"),
        (GOOD_SRT_CUE + "2\n00:00:05,000 --> 00:00:06,000\n<i></i>\n", r"cue 2 \(line 6\): the cue has no text"),
        (GOOD_SRT_CUE + "2\n00:00:05,000 --> 00:00:06,000\n", r"cue 2 \(line 6\): the cue has no text"),
        (
            GOOD_SRT_CUE + "2\n00:00:05 -> 00:00:06\ntext\n",
            r"cue 2 \(line 6\): expected a timing line like '00:00:01,000",
        ),
        (GOOD_SRT_CUE + "7\n", r"cue 7 \(line 6\): expected a timing line .*found nothing"),
        (GOOD_SRT_CUE + "a stray line\n", r"cue 2 \(line 5\): expected a timing line .*found 'a stray line'"),
        (GOOD_SRT_CUE + "2\n00:00:75,000 --> 00:01:16,000\nx\n", r"cue 2 \(line 6\): .*60 or more"),
        (GOOD_SRT_CUE + "2\n00:00:05,000 --> 00:00:06,000\nSPEAKER_01:\n", r"cue 2 \(line 6\): the cue has no text"),
    ],
)
def test_malformed_srt_names_the_cue_and_line(text: str, message: str) -> None:
    with pytest.raises(SidecarError, match=message):
        parse_sidecar(text.encode())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "WEBVTT\n\n00:02.000 --> 00:01.000\nbackwards\n",
            r"cue 1 \(line 3\): ends at 1\.000 s, before it starts at 2\.000",
        ),
        ("WEBVTT\n\nid-1\n00:01.000 --> 00:02.000\n<v SPEAKER_01></v>\n", r"cue 1 \(line 4\): the cue has no text"),
        (
            "WEBVTT\n\n00:01.000 --> 00:02.000\nok\n\nid-2\n00:01.000\nbad\n",
            r"cue 2 \(line 7\): expected a timing line like '00:01\.000",
        ),
    ],
)
def test_malformed_vtt_names_the_cue_and_line(text: str, message: str) -> None:
    with pytest.raises(SidecarError, match=message):
        parse_sidecar(text.encode())


def segments_json(*segments: object) -> bytes:
    return json.dumps({"segments": list(segments)}).encode()


OK = {"start": 0.0, "end": 1.0, "text": "fine"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"segments": [\n  {"start": 0,}\n]}', r"invalid JSON at line 2, column 15"),
        (b'{"text": "no segments key"}', r'must be an object with a "segments" list'),
        (b'{"segments": [{"start": NaN, "end": 1, "text": "x"}]}', r"contains NaN, which is not a valid number"),
        (segments_json(OK, "text"), r"segment 2: expected an object"),
        (segments_json(OK, {"start": "0:01", "end": 2, "text": "x"}), r"segment 2: \"start\" must be a number"),
        (segments_json(OK, {"start": 1, "text": "x"}), r"segment 2: \"start\" and \"end\" are required"),
        (segments_json(OK, {"start": 3, "end": 2, "text": "x"}), r"segment 2: ends at 2\.000 s, before it starts"),
        (segments_json({"start": -1, "end": 2, "text": "x"}), r"segment 1: \"start\" is negative"),
        (segments_json(OK, {"start": 1, "end": 2, "text": "  \n "}), r"segment 2: the segment has no text"),
        (segments_json({"start": 1, "end": 2, "text": None}), r"segment 1: \"text\" must be a string"),
        (segments_json({**OK, "speaker": 1}), r"segment 1: \"speaker\" must be a string, not 1"),
        (segments_json({**OK, "words": "fine"}), r"segment 1: \"words\" must be a list"),
        (
            segments_json({**OK, "words": [{"word": "a"}, {"start": 1}]}),
            r"segment 1, word 2: \"word\" must be a string",
        ),
        (segments_json({**OK, "words": [{"word": "a", "end": True}]}), r"segment 1, word 1: \"end\" must be a number"),
    ],
)
def test_malformed_whisperx_names_the_segment(data: bytes, message: str) -> None:
    with pytest.raises(SidecarError, match=message):
        parse_sidecar(data)


def test_errors_name_the_file_when_known() -> None:
    with pytest.raises(SidecarError, match=r"^talk\.srt: cue 1 \(line 2\): ends at"):
        parse_sidecar(b"1\n00:00:02,000 --> 00:00:01,000\nx\n", "talk.srt")
    with pytest.raises(SidecarError, match=r"^empty\.vtt: no segments$"):
        parse_sidecar(b"", "empty.vtt")
