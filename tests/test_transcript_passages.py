"""A transcript cut into passages (transcript/passages.py): every segment's text lands whole in a passage, in time
order, in any script; the window's limits, speaker turns and overlap."""

from __future__ import annotations

import itertools

import pytest

from transcript.passages import Passage, Window, cut, word_count
from transcript.segments import Segment

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

SCRIPTS = [
    Segment(0.0, 2.5, "会議を始めます 🎙️", "SPEAKER_00"),
    Segment(2.5, 5.125, "مرحبا بكم — 3 < 5 & 7 > 2 👋", "SPEAKER_01"),
    Segment(5.125, 7.0, "Grüße an alle, Straße und Öl", None),
    Segment(7.0, 9.0, "  🧪 emoji only at the start and spaces around  ", "SPEAKER_00"),
]


def words(n: int, word: str = "word") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def covered(passages: list[Passage], segments: list[Segment]) -> None:
    """Each segment's text (stripped) is in a passage that spans its times."""
    for segment in segments:
        holders = [
            p
            for p in passages
            if segment.text.strip() in p.text and p.start_time <= segment.start_time and segment.end_time <= p.end_time
        ]
        assert holders, segment


def test_an_empty_transcript_has_no_passages() -> None:
    assert cut([]) == []
    assert cut([Segment(0.0, 1.0, "   "), Segment(1.0, 2.0, "")]) == []


def test_text_in_every_script_round_trips_exactly() -> None:
    passages = cut(SCRIPTS, Window(max_words=70, max_seconds=45, turn_words=25, overlap=1))

    assert passages == [
        Passage(
            0,
            0.0,
            9.0,
            "会議を始めます 🎙️ مرحبا بكم — 3 < 5 & 7 > 2 👋 Grüße an alle, Straße und Öl "
            "🧪 emoji only at the start and spaces around",
        )
    ]
    one_each = cut(SCRIPTS, Window(max_words=1, max_seconds=45, overlap=0))
    assert [p.text for p in one_each] == [s.text.strip() for s in SCRIPTS]
    assert [(p.start_time, p.end_time) for p in one_each] == [(s.start_time, s.end_time) for s in SCRIPTS]


def test_a_very_long_segment_is_one_passage_never_split() -> None:
    long = Segment(10.0, 190.0, words(2000, "Bärenhöhle"), "SPEAKER_00")
    before = Segment(0.0, 10.0, "kurz davor", "SPEAKER_00")
    after = Segment(190.0, 191.0, "und danach", "SPEAKER_00")

    passages = cut([before, long, after])

    assert long.text in [p.text for p in passages]
    holder = next(p for p in passages if p.text == long.text)
    assert (holder.start_time, holder.end_time) == (10.0, 190.0)
    covered(passages, [before, long, after])


def test_passages_respect_the_window_and_their_times_are_monotone() -> None:
    segments = [Segment(i * 3.0, i * 3.0 + 2.5, words(12, f"s{i}w"), f"SPEAKER_0{i // 4 % 2}") for i in range(60)]
    window = Window(max_words=40, max_seconds=20.0, turn_words=10, overlap=1)

    passages = cut(list(reversed(segments)), window)  # given in any order: cut in time order

    assert [p.position for p in passages] == list(range(len(passages)))
    starts = [p.start_time for p in passages]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(p.start_time <= p.end_time for p in passages)
    assert all(word_count(p.text) <= 40 and p.end_time - p.start_time <= 20.0 for p in passages)
    covered(passages, segments)


def test_one_segment_of_overlap_and_none_without_it() -> None:
    segments = [Segment(float(i), i + 1.0, words(10, f"t{i}x")) for i in range(9)]

    overlapping = cut(segments, Window(max_words=30, max_seconds=100, overlap=1))
    apart = cut(segments, Window(max_words=30, max_seconds=100, overlap=0))

    assert [p.text.count(" ") + 1 for p in apart] == [30, 30, 30]
    assert [p.start_time for p in apart] == [0.0, 3.0, 6.0]
    # each passage after the first starts with the last segment of the one before
    assert [p.start_time for p in overlapping] == [0.0, 2.0, 4.0, 6.0]
    for previous, following in itertools.pairwise(overlapping):
        assert following.text.split()[:10] == previous.text.split()[-10:]


def test_a_speaker_change_cuts_once_the_passage_has_words() -> None:
    segments = [
        Segment(0.0, 1.0, "ja", "SPEAKER_00"),
        Segment(1.0, 2.0, "genau", "SPEAKER_01"),  # short turns stay together
        Segment(2.0, 6.0, words(12, "frage"), "SPEAKER_00"),
        Segment(6.0, 9.0, words(12, "antwort"), "SPEAKER_01"),  # the passage has 14 words: the turn cuts
    ]

    passages = cut(segments, Window(max_words=100, max_seconds=100, turn_words=10, overlap=0))

    assert [p.text.split()[0] for p in passages] == ["ja", "antwort0"]


def test_scripts_without_spaces_count_by_characters() -> None:
    assert word_count("hello there") == 2
    assert word_count("会議を始めましょう") == 4.5
    assert word_count("مرحبا بكم") == 2
    assert word_count("") == 0
    assert word_count("🎙️ 👋") == 2


def test_a_window_without_limits_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        Window(max_words=0)
    with pytest.raises(ValueError, match="window"):
        Window(max_seconds=0.0)
