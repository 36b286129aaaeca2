"""sherpa-onnx's real diarization on tiny self-built models (tones as voices), and speakers assigned to segments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from asr.diarization import DiarizationConfig, Turn, assign_speakers, diarize
from config.settings import Settings
from tests.tiny_diarization import SAMPLE_RATE, TONE_A, alternating, segmentation_model, tone
from transcript.segments import Segment, Word
from transcript.speakers import SpeakerHints

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

NO_HINTS = SpeakerHints()
EXPECTED: list[tuple[float, float, str]] = [(2.0 * i, 2.0 * i + 2, f"SPEAKER_0{i % 2}") for i in range(5)]


def config(models: tuple[Path, Path], **changes: object) -> DiarizationConfig:
    segmentation, embedding = models
    values: dict[str, object] = {"mode": "auto", "segmentation_model": segmentation, "embedding_model": embedding}
    return DiarizationConfig(**(values | changes))  # type: ignore[arg-type]


def chunks(audio: np.ndarray, seconds: float = 1.0) -> Iterator[np.ndarray]:
    step = int(seconds * SAMPLE_RATE)
    for start in range(0, audio.size, step):
        yield audio[start : start + step]


def assert_turns(turns: list[Turn], expected: list[tuple[float, float, str]]) -> None:
    assert [t.speaker for t in turns] == [e[2] for e in expected]
    for turn, (start, end, _) in zip(turns, expected, strict=True):
        assert turn.start == pytest.approx(start, abs=0.25) and turn.end == pytest.approx(end, abs=0.25), turn


def test_alternating_voices_give_labelled_time_ordered_turns_and_one_voice_each(
    tiny_diarization_models: tuple[Path, Path],
) -> None:
    result = diarize(alternating(), SAMPLE_RATE, NO_HINTS, config(tiny_diarization_models))

    assert (result.outcome, result.message) == ("diarized", None)
    assert_turns(result.turns, EXPECTED)
    assert [t.start for t in result.turns] == sorted(t.start for t in result.turns)
    assert set(result.voices) == {"SPEAKER_00", "SPEAKER_01"}
    a, b = (np.asarray(result.voices[label].embedding) for label in ("SPEAKER_00", "SPEAKER_01"))
    assert np.linalg.norm(a) == pytest.approx(1.0) and float(a @ b) < 0.5
    assert result.voices["SPEAKER_00"].seconds == pytest.approx(6.0, abs=0.5)
    assert result.voices["SPEAKER_01"].seconds == pytest.approx(4.0, abs=0.5)


def test_a_long_recording_in_blocks_links_the_blocks_speakers(tiny_diarization_models: tuple[Path, Path]) -> None:
    """5-second blocks: a turn (4-6 s) is cut by the boundary at 5 s and joined again; the labels agree across."""
    whole = diarize(alternating(), SAMPLE_RATE, NO_HINTS, config(tiny_diarization_models))
    blocked = diarize(chunks(alternating()), SAMPLE_RATE, NO_HINTS, config(tiny_diarization_models, block_seconds=5))

    assert blocked.outcome == "diarized"
    assert_turns(blocked.turns, EXPECTED)
    for label in ("SPEAKER_00", "SPEAKER_01"):
        same = np.asarray(blocked.voices[label].embedding) @ np.asarray(whole.voices[label].embedding)
        assert same > 0.99


def test_the_same_voice_louder_later_is_still_one_speaker(tiny_diarization_models: tuple[Path, Path]) -> None:
    audio = np.concatenate([tone(TONE_A, 4.0, 0.5), np.zeros(SAMPLE_RATE, np.float32), tone(TONE_A, 4.0, 0.2)])
    result = diarize(audio, SAMPLE_RATE, NO_HINTS, config(tiny_diarization_models))
    assert {t.speaker for t in result.turns} == {"SPEAKER_00"} and len(result.turns) == 2


def test_num_speakers_one_merges_the_voices(tiny_diarization_models: tuple[Path, Path]) -> None:
    hints = SpeakerHints(num_speakers=1)
    for audio in (alternating(), chunks(alternating())):
        result = diarize(audio, SAMPLE_RATE, hints, config(tiny_diarization_models, block_seconds=5))
        assert [(t.speaker, round(t.start), round(t.end)) for t in result.turns] == [("SPEAKER_00", 0, 10)]
        assert list(result.voices) == ["SPEAKER_00"]


def test_off_and_missing_models_say_so_without_reading_the_audio(tmp_path: Path) -> None:
    def never() -> Iterator[np.ndarray]:
        raise AssertionError("the audio must not be decoded")
        yield np.zeros(1, np.float32)

    off = diarize(never(), SAMPLE_RATE, NO_HINTS, config((tmp_path / "s", tmp_path / "e"), mode="off"))
    assert (off.outcome, off.turns, off.voices) == ("off", [], {})
    assert off.message == "speaker diarization is off (OPENTR_DIARIZATION=off): one speaker"
    missing = diarize(never(), SAMPLE_RATE, NO_HINTS, config((tmp_path / "seg.onnx", tmp_path / "emb.onnx")))
    assert missing.outcome == "models_missing" and missing.turns == []
    assert missing.message == (
        f"no diarization model at {tmp_path / 'seg.onnx'}, {tmp_path / 'emb.onnx'}; "
        "download them with: opentr models pull diarization"
    )


def test_a_model_without_required_metadata_is_refused_not_fatal(
    tmp_path: Path, tiny_diarization_models: tuple[Path, Path]
) -> None:
    broken = segmentation_model(tmp_path / "broken.onnx", drop_metadata="window_size")
    result = diarize(alternating(), SAMPLE_RATE, NO_HINTS, config((broken, tiny_diarization_models[1])))
    assert result.outcome == "failed" and result.turns == []
    assert result.message is not None and "lacks the metadata sherpa-onnx needs (window_size)" in result.message


def test_audio_at_another_sample_rate_fails_clearly(tiny_diarization_models: tuple[Path, Path]) -> None:
    result = diarize(alternating(), 8000, NO_HINTS, config(tiny_diarization_models))
    assert (result.outcome, result.message) == ("failed", "audio at 8000 Hz, the diarization models need 16000 Hz")


def test_settings_point_at_the_models_dir_by_default(tmp_path: Path) -> None:
    settings = Settings(opentr_home=tmp_path)
    found = DiarizationConfig.from_settings(settings)
    assert found.mode == "auto"
    assert found.segmentation_model == tmp_path / "models" / "diarization" / "segmentation.onnx"
    assert found.embedding_model == tmp_path / "models" / "diarization" / "embedding.onnx"


# --- assigning speakers to segments ----------------------------------------------------------------------------------

TURNS = [Turn(0.0, 2.0, "SPEAKER_00"), Turn(2.0, 4.0, "SPEAKER_01"), Turn(4.0, 6.0, "SPEAKER_00")]


def words(*timed: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(text, start, end, 0.9) for start, end, text in timed)


def test_a_segment_is_split_at_the_word_where_the_speaker_changes() -> None:
    segment = Segment(
        0.5,
        5.0,
        "Are you there? Yes I am. Good.",
        None,
        words(
            (0.5, 0.8, " Are"),
            (0.8, 1.0, " you"),
            (1.0, 1.9, " there?"),
            (2.1, 2.5, " Yes"),
            (2.5, 2.8, " I"),
            (2.8, 3.9, " am."),
            (4.2, 5.0, " Good."),
        ),
    )
    split = assign_speakers([segment], TURNS)
    assert [(s.start_time, s.end_time, s.text, s.speaker_label) for s in split] == [
        (0.5, 1.9, "Are you there?", "SPEAKER_00"),
        (2.1, 3.9, "Yes I am.", "SPEAKER_01"),
        (4.2, 5.0, "Good.", "SPEAKER_00"),
    ]
    assert [len(s.words or ()) for s in split] == [3, 3, 1]


def test_words_without_timing_go_with_a_timed_neighbour_and_none_is_lost() -> None:
    """A WhisperX-style transcript (numbers get no timing) whose first and last words are untimed."""
    said = (
        Word(" 嗯"),  # before any timed word: goes with the one after it (SPEAKER_00)
        Word(" Are", 0.5, 1.0),
        Word(" there?", 1.0, 1.9),
        Word(" Yes", 2.1, 2.5),
        Word(" 2024", None, None),  # after " Yes": SPEAKER_01
        Word(" Good.", 4.2, 5.0),
        Word(" 👍"),
    )
    segment = Segment(0.25, 5.5, "嗯 Are there? Yes 2024 Good. 👍", None, said)

    split = assign_speakers([segment], TURNS)

    assert [(s.start_time, s.end_time, s.text, s.speaker_label) for s in split] == [
        (0.25, 1.9, "嗯 Are there?", "SPEAKER_00"),
        (2.1, 2.5, "Yes 2024", "SPEAKER_01"),
        (4.2, 5.5, "Good. 👍", "SPEAKER_00"),  # the segment's own edges stay the outer bounds
    ]
    assert tuple(w for s in split for w in s.words or ()) == said
    only_untimed = Segment(1.5, 3.5, "zwei tausend", None, (Word("zwei"), Word("tausend")))
    assert assign_speakers([only_untimed], TURNS) == [replace(only_untimed, speaker_label="SPEAKER_01")]


def test_words_without_leading_spaces_are_joined_with_one() -> None:
    segment = Segment(1.0, 3.0, "hi there", None, words((1.0, 1.5, "hi"), (2.5, 3.0, "there")))
    assert [(s.text, s.speaker_label) for s in assign_speakers([segment], TURNS)] == [
        ("hi", "SPEAKER_00"),
        ("there", "SPEAKER_01"),
    ]


def test_segments_without_words_take_the_speaker_they_overlap_most_or_the_nearest() -> None:
    segments = [
        Segment(1.5, 3.5, "mostly the second"),
        Segment(6.5, 7.0, "after the last turn", None, ()),
        Segment(0.2, 1.0, "one speaker only", None, words((0.2, 1.0, "one"))),
    ]
    labelled = assign_speakers(segments, TURNS)
    assert [(s.text, s.speaker_label) for s in labelled] == [
        ("mostly the second", "SPEAKER_01"),
        ("after the last turn", "SPEAKER_00"),
        ("one speaker only", "SPEAKER_00"),
    ]
    assert labelled[2].words == segments[2].words


def test_without_turns_everyone_is_one_speaker() -> None:
    segments = [Segment(0.0, 1.0, "a"), Segment(1.0, 2.0, "b", None, words((1.0, 2.0, "b")))]
    assert [s.speaker_label for s in assign_speakers(segments, [])] == ["SPEAKER_00", "SPEAKER_00"]


def test_diarized_tones_label_a_transcript(tiny_diarization_models: tuple[Path, Path]) -> None:
    """The whole path: diarization of the tones, then a two-sentence segment spanning a change of voice."""
    turns = diarize(alternating(), SAMPLE_RATE, NO_HINTS, config(tiny_diarization_models)).turns
    segment = Segment(0.5, 3.5, "Hello. Hi.", None, words((0.5, 1.5, " Hello."), (2.5, 3.5, " Hi.")))
    assert [(s.text, s.speaker_label) for s in assign_speakers([segment], turns)] == [
        ("Hello.", "SPEAKER_00"),
        ("Hi.", "SPEAKER_01"),
    ]
