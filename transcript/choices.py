"""How a file is to be processed, chosen per upload or per re-run (user defaults fill what is not given): which
speech model, which language (None: detect), transcribe or translate into English, a custom vocabulary, whether to
diarize and to summarise, with which prompt. The speaker-count hints are `transcript.speakers.SpeakerHints`, stored
beside them. Stored with the file, so that a re-run repeats the same choices unless they are changed.

Checked where requests come in (web/choices.py, a 422 naming the field); the bounds live here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

Task = Literal["transcribe", "translate"]
TASKS: tuple[str, ...] = get_args(Task)
# What one re-run may redo while keeping the rest: `transcription` redoes the transcript (and so its speakers, whose
# turns are tied to its words); `diarization` re-splits the kept text between speakers; `speakers` matches the
# stored voices against the owner's profiles again; `summary` writes a new summary of the kept transcript.
Stage = Literal["transcription", "diarization", "speakers", "summary"]
STAGES: tuple[str, ...] = get_args(Stage)
# Stages a media job redoes (the summary is a job of its own kind); None on the file: the whole pipeline, with the
# automatic summary. A re-run of `transcription` redoes the transcript and its speakers but summarises nothing.
MediaStage = Literal["transcription", "diarization", "speakers"]

# Whisper conditions each 30 s frame on at most 224 prompt tokens (half its 448-token text context); what is longer
# is cut without a word. Tokens are not characters, and counting them needs the model's tokenizer, which the web
# does not load: 500 characters of names and terms in Latin script come to 120 to 220 tokens, so a vocabulary within
# this limit reaches the engine whole. OpenAI's `prompt` has the same 224-token window.
MAX_VOCABULARY_CHARS = 500


@dataclass(frozen=True, slots=True)
class Choices:
    """A file's processing choices. `model` None: the server's configured model; `language` None: detect it;
    `summary_prompt_id` None: the owner's active prompt at the time of summarising."""

    model: str | None = None
    language: str | None = None
    task: Task = "transcribe"
    vocabulary: str | None = None
    diarization: bool = True
    summary: bool = False
    summary_prompt_id: int | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task: one of {TASKS}")
        if self.vocabulary is not None and len(self.vocabulary) > MAX_VOCABULARY_CHARS:
            raise ValueError(f"vocabulary: at most {MAX_VOCABULARY_CHARS} characters")


def from_settings(
    values: Mapping[str, Any], models: Collection[str], language_code: Callable[[object], str | None]
) -> Choices:
    """A user's defaults from their settings (repo/user_settings.py): what an upload that leaves a choice out gets,
    what the upload page starts with, and how a file stored without choices (a URL import, a file from before) is
    processed. A default naming a model not among `models` (no longer on the server) falls back to the configured
    one, a language `language_code` does not know to detection, rather than failing every upload."""
    model, vocabulary = values["transcription.model"], values["transcription.vocabulary"]
    return Choices(
        model=model if model in models else None,
        language=language_code(values["transcription.language"]),
        task=values["transcription.task"],
        vocabulary=vocabulary or None,
        diarization=values["diarization.enabled"],
        summary=values["summary.auto"],
    )
