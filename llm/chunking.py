"""How much transcript one request may carry, and cutting a transcript into parts that fit.

The budget is the model's context (llm/context.py: stated by its owner, else read from the server, else the
provider's default) minus the room its answer needs (the configuration's max_tokens, at most half the context) and
the prompt around the transcript, at about four characters a token: a deliberately generous estimate of the
characters a token holds is what would make a request overflow, so four (English prose averages a little more;
Japanese or Arabic fewer, which makes the estimate err on the short side for them: parts come out smaller, never
too large for the context).

A transcript that cannot be cut to fit is refused before anything is sent (`TranscriptTooLong`): the prompt alone
leaves no room, or it would take more than MAX_PARTS requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

CHARS_PER_TOKEN: Final = 4
MIN_PART_CHARS: Final = 400  # less transcript than this per request says nothing useful about it
MAX_PARTS: Final = 400  # beyond this a transcript is refused, not sent in a thousand paid requests


class TranscriptTooLong(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def tokens_of(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def budget_chars(context_tokens: int, max_tokens: int, fixed_chars: int) -> int:
    """Characters of transcript per request: the context minus the answer's room and the fixed prompt.

    TranscriptTooLong when what is left is under MIN_PART_CHARS."""
    answer_tokens = min(max(0, max_tokens), context_tokens // 2)
    budget = (context_tokens - answer_tokens) * CHARS_PER_TOKEN - fixed_chars
    if budget < MIN_PART_CHARS:
        raise TranscriptTooLong(
            f"the model's context of {context_tokens:,} tokens leaves no room for the transcript: the answer needs "
            f"{answer_tokens:,} tokens and the prompt about {tokens_of(fixed_chars):,}; use a model with a larger "
            "context, a lower max_tokens or a shorter prompt"
        )
    return budget


def split_lines(text: str, max_chars: int, *, max_parts: int = MAX_PARTS) -> list[str]:
    """Parts of at most max_chars, cut between lines; a line longer than that is cut between words.

    TranscriptTooLong when it takes more than `max_parts` parts."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, not {max_chars}")
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for raw_line in text.splitlines():
        for line in _pieces(raw_line.strip(), max_chars):
            if current and size + 1 + len(line) > max_chars:
                parts.append("\n".join(current))
                current, size = [], 0
            size += len(line) + (1 if current else 0)
            current.append(line)
    if current:
        parts.append("\n".join(current))
    if len(parts) > max_parts:
        raise TranscriptTooLong(
            f"the transcript would take {len(parts):,} requests of {tokens_of(max_chars):,} tokens each, more than "
            f"the {max_parts} allowed; use a model with a larger context"
        )
    return parts


def _pieces(line: str, max_chars: int) -> Iterator[str]:
    while len(line) > max_chars:
        cut = line.rfind(" ", 0, max_chars + 1)
        if cut <= 0:
            cut = max_chars
        yield line[:cut].rstrip()
        line = line[cut:].lstrip()
    if line:
        yield line
