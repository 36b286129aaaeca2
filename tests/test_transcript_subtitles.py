"""Stored segments as export cues and subtitles: the name a speaker is shown with, segments without a speaker, text
in any script, and SRT / WebVTT that the transcript-file parser reads back into the same segments."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

import pytest

from transcript.segments import Segment, TranscriptSegment
from transcript.sidecars import parse_sidecar
from transcript.subtitles import MAX_CUE_SECONDS, MAX_LINE, MAX_LINES, MAX_NAME, Cue, readable_cues, srt, vtt

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


def stored(start: float, end: float, text: str, label: str | None = None, name: str | None = None) -> TranscriptSegment:
    """A segment as the database returns it; `name` is the speaker's display name (None: shown by its label)."""
    speaker = None if label is None else uuid.uuid4()
    return TranscriptSegment(uuid.uuid4(), start, end, text, None, speaker, label, name or label)


SEGMENTS = [
    stored(0.0, 2.5, "会議を始めます 🎙️", "SPEAKER_00"),
    stored(2.5, 5.125, "مرحبا بكم — 3 < 5 & 7 > 2 👋", "SPEAKER_01"),  # SRT has no escape for a <tag>
    stored(5.125, 7.0, "Grüße an alle, ohne Sprecher"),  # no speaker
    stored(3600.001, 3601.999, "eine Stunde später", "SPEAKER_00"),
]


def test_a_cue_is_said_by_the_display_name_else_the_label_else_nobody() -> None:
    named = stored(1.0, 2.0, "Guten Morgen", "SPEAKER_03", "Frau Müller 会議")
    cues = [Cue.of(named), Cue.of(SEGMENTS[1]), Cue.of(SEGMENTS[2])]

    assert [c.speaker_name for c in cues] == ["Frau Müller 会議", "SPEAKER_01", None]
    assert "".join(srt(cues[:1])) == "1\n00:00:01,000 --> 00:00:02,000\nFrau Müller 会議: Guten Morgen\n\n"
    assert "".join(srt(cues[2:])).splitlines()[2] == "Grüße an alle, ohne Sprecher"


@pytest.mark.parametrize("render", [srt, vtt])
def test_subtitles_parse_back_into_the_same_segments(render: Callable[[Iterable[Cue]], Iterable[str]]) -> None:
    written = "".join(render(map(Cue.of, SEGMENTS)))

    assert parse_sidecar(written.encode()) == [
        Segment(s.start_time, s.end_time, s.text, s.speaker_label) for s in SEGMENTS
    ]


def test_a_display_name_stays_in_the_text_of_a_subtitle_file() -> None:
    """Subtitles are for people: a display name is written like a label, but only labels read back as speakers."""
    written = "".join(srt([Cue.of(stored(0.0, 1.0, "Hallo", "SPEAKER_00", "Jürgen"))]))

    assert parse_sidecar(written.encode()) == [Segment(0.0, 1.0, "Jürgen: Hallo", None)]


@pytest.mark.parametrize("show_speaker", [True, False])
def test_readable_cues_fit_the_limits_start_at_the_segment_and_carry_every_word(show_speaker: bool) -> None:
    long_name = "Prof. Dr. Abdel-Rahman Al-Sayed 🧑‍🏫"
    text = " ".join(["これは長い文です", "وهذه جملة طويلة جدا", "und ein langer deutscher Satz 🇩🇪"] * 4)
    segment = stored(10.0, 40.0, text, "SPEAKER_02", long_name)

    cues = list(readable_cues([Cue.of(segment)], show_speaker=show_speaker))

    assert len(cues) > 1 and cues[0].start_time == 10.0 and cues[-1].end_time <= 40.0
    assert all(c.speaker_name is None for c in cues)  # a shown name is part of the first cue's text
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= MAX_LINES and all(len(line) <= MAX_LINE for line in lines)
        assert 0 <= cue.end_time - cue.start_time <= MAX_CUE_SECONDS
    said = " ".join(c.text.replace("\n", " ") for c in cues).split()
    name = f"{long_name[:MAX_NAME]}:".split()
    assert said == (name if show_speaker else []) + text.split()
