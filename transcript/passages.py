"""A transcript cut into passages: runs of consecutive segments, the unit that search by meaning embeds, ranks and
opens (a hit opens the file at its passage's first moment).

The window, and why (compared in bench/embedding.py, figures in bench/README.md §13):

- **up to ~70 words and 45 seconds**: a sentence-embedding model such as multilingual-e5 was trained on passages of
  about that length (MS MARCO / web passages, ~60-100 words); a single segment (often 5-15 words, "yes, let's do
  that") says too little to be found by what it was about, while a passage of several minutes blurs one question into
  the rest of the meeting and opens the file far from the moment. 45 s is also a moment a person can listen to.
- **a segment is never split**: its times are the only times we are sure of (word timings are optional), so a
  passage starts and ends where segments do. A segment longer than the window is a passage on its own; the encoder
  truncates what passes its 512 tokens (embeddings/encoder.py), which a 45 s segment rarely reaches.
- **a change of speaker cuts once the passage has 25 words**: a turn is a unit of meaning (a question, its answer);
  shorter turns ("yes", "right") stay with their neighbours rather than making passages of their own.
- **one segment of overlap**: the next passage starts with the previous passage's last segment, so that a thought
  spanning a cut is whole in one of the two; it costs ~20 % more passages (more where turns are short). It is not
  repeated after a passage of one segment (that would be the same passage again).

What the measure can and cannot say: with the tiny random-weight model of the tests, which matches words and not
meaning, the shortest passages win (a query of three words from one segment is best found in that segment alone),
and every window does poorly on words spread over three segments. So the window above rests on what the real
models were trained on and on the moment a hit opens, not on that figure; bench/embedding.py runs the same
comparison on any model directory (OPENTR_EMBEDDING_MODEL) for when a real one is at hand.

Words are counted by whitespace, except in scripts written without spaces (Chinese, Japanese, Thai), whose
characters count as half a word each: 45 Japanese characters weigh about as much as 22 English words, in time said
and in the model's tokens.

Pure code over anything shaped like a segment (`transcript.segments.Segment` or `TranscriptSegment`); passages'
texts are the segments' texts, each stripped, joined by one space: nothing else is added (speaker names are not:
renaming a speaker does not change what a passage means).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol


class SegmentLike(Protocol):
    @property
    def start_time(self) -> float: ...

    @property
    def end_time(self) -> float: ...

    @property
    def text(self) -> str: ...

    @property
    def speaker_label(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Window:
    """How passages are cut: at most `max_words` words and `max_seconds` seconds from its start to its end (a single
    segment may exceed both), cut at a speaker change once it has `turn_words` words, with `overlap` segments
    repeated at the start of the next passage."""

    max_words: int = 70
    max_seconds: float = 45.0
    turn_words: int = 25
    overlap: int = 1

    def __post_init__(self) -> None:
        if self.max_words < 1 or not self.max_seconds > 0 or self.turn_words < 0 or self.overlap < 0:
            raise ValueError(f"a passage window needs positive limits and no negative overlap: {self}")


DEFAULT_WINDOW = Window()


@dataclass(frozen=True, slots=True)
class Passage:
    """`position` counts from 0 in time order; times are the first segment's start and the latest segment end."""

    position: int
    start_time: float
    end_time: float
    text: str


def word_count(text: str) -> float:
    """Whitespace-separated words, a character of a script written without spaces counting half a word."""
    count = 0.0
    for token in text.split():
        unspaced = sum(1 for char in token if _unspaced(char))
        count += unspaced / 2 + (1 if unspaced < len(token) else 0)
    return count


def _unspaced(char: str) -> bool:
    """CJK ideographs, kana and Thai/Lao/Khmer/Myanmar letters: scripts that do not put spaces between words."""
    code = ord(char)
    return any(low <= code <= high for low, high in _UNSPACED)


_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x3400, 0x9FFF),  # CJK ideographs (and extension A)
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


@dataclass(frozen=True, slots=True)
class _Piece:
    start_time: float
    end_time: float
    text: str
    speaker: str | None
    words: float


def cut(segments: Iterable[SegmentLike], window: Window = DEFAULT_WINDOW) -> list[Passage]:
    """The passages of a transcript's segments (taken in time order; segments with no text are left out)."""
    pieces = [
        _Piece(s.start_time, s.end_time, s.text.strip(), s.speaker_label, word_count(s.text))
        for s in sorted(segments, key=lambda s: (s.start_time, s.end_time))
        if s.text.strip()
    ]
    groups: list[list[_Piece]] = []
    current: list[_Piece] = []
    fresh = 0  # segments of `current` not carried over from the previous passage
    for piece in pieces:
        if current and fresh and _full(current, piece, window):
            groups.append(current)
            carried = current[-window.overlap :] if window.overlap and len(current) > 1 else []
            current = [] if _full(carried, piece, window) else list(carried)
            fresh = 0
        current.append(piece)
        fresh += 1
    if current and fresh:
        groups.append(current)
    return [_passage(position, group) for position, group in enumerate(groups)]


def _full(current: Sequence[_Piece], piece: _Piece, window: Window) -> bool:
    """Whether `piece` must start a new passage rather than join `current`."""
    if not current:
        return False
    words = sum(p.words for p in current)
    if words + piece.words > window.max_words:
        return True
    if piece.end_time - current[0].start_time > window.max_seconds:
        return True
    return piece.speaker != current[-1].speaker and words >= window.turn_words


def _passage(position: int, group: Sequence[_Piece]) -> Passage:
    return Passage(
        position,
        group[0].start_time,
        max(p.end_time for p in group),
        " ".join(p.text for p in group),
    )
