"""Cutting a transcript into parts that fit a model's context (llm/chunking.py), and refusing what cannot fit."""

from __future__ import annotations

import pytest

from llm.chunking import MAX_PARTS, MIN_PART_CHARS, TranscriptTooLong, budget_chars, split_lines

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)


def test_the_budget_is_the_context_less_the_answer_and_the_prompt() -> None:
    assert budget_chars(8192, 1000, 2000) == (8192 - 1000) * 4 - 2000
    # the answer's room is at most half the context, however large max_tokens is
    assert budget_chars(4096, 100_000, 0) == 2048 * 4


def test_a_context_that_leaves_no_room_is_refused_saying_why() -> None:
    with pytest.raises(TranscriptTooLong) as refused:
        budget_chars(1000, 400, 2001)
    message = refused.value.message
    assert "context of 1,000 tokens leaves no room for the transcript" in message
    assert "the answer needs 400 tokens and the prompt about 501" in message
    assert "larger context, a lower max_tokens or a shorter prompt" in message
    assert budget_chars(1000, 400, 2400 - MIN_PART_CHARS) == MIN_PART_CHARS


def test_parts_are_cut_between_lines_and_none_is_too_long() -> None:
    lines = [f"[00:{i:02d}] SPEAKER_0{i % 2}: line number {i} of the talk" for i in range(60)]
    text = "\n".join(lines)
    parts = split_lines(text, 200)
    assert all(len(part) <= 200 for part in parts) and len(parts) > 5
    assert "\n".join(parts).splitlines() == lines  # nothing lost, nothing reordered, no line cut


def test_a_line_longer_than_a_part_is_cut_between_words() -> None:
    words = [f"word{i}" for i in range(100)]
    parts = split_lines(" ".join(words), 50)
    assert all(len(part) <= 50 for part in parts)
    assert " ".join(parts).split() == words  # every word whole, in order


def test_japanese_without_spaces_is_cut_at_the_limit_and_kept_whole() -> None:
    text = "予算は削減されました。出張費が主な対象です。" * 30 + "\nمرحبا بالعالم 🎙️ Größe"  # noqa: RUF001
    parts = split_lines(text, 64)
    assert all(len(part) <= 64 for part in parts)
    assert parts[0] == text[:64]  # no space to cut at: cut at the limit
    assert "".join(part.replace("\n", "") for part in parts) == text.replace("\n", "")


def test_empty_lines_and_an_empty_transcript_make_no_empty_parts() -> None:
    assert split_lines("", 100) == []
    assert split_lines("a\n\n   \nb", 100) == ["a\nb"]


def test_a_transcript_that_would_take_too_many_requests_is_refused() -> None:
    text = "\n".join(f"line {i}" for i in range(50))
    assert len(split_lines(text, 10, max_parts=50)) == 50
    with pytest.raises(TranscriptTooLong) as refused:
        split_lines(text, 10, max_parts=49)
    assert "would take 50 requests of 3 tokens each, more than the 49 allowed" in refused.value.message
    assert MAX_PARTS == 400  # the default a person's transcript is held to
    with pytest.raises(TranscriptTooLong, match="more than the 400 allowed"):
        split_lines("x\n" * 401, 1)


def test_a_part_size_below_one_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="max_chars must be positive"):
        split_lines("text", 0)
