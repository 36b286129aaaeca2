"""OpenTranscribe's rows mapped to ours: one writer per table that needs nothing but the row's values and its
parents' ids here (importers/opentranscribe.py declares which table each writes, and copies the rest), and the
small checks they share, each refusal said in words (importers/copying.py `Skip`).
"""

from __future__ import annotations

from typing import Any

from importers.copying import Parents, Row, Skip
from importers.opentranscribe_summaries import OldSummary
from repo.imports import ImportRepository, Line, Written

SOURCE = "opentranscribe"  # import_origins' name for this platform; a task keeps it in its id
TASK_TYPES = {"transcription": "transcription", "summarization": "summarization", "summary": "summarization",
              "analytics": "analytics"}  # fmt: skip
TASK_STATUSES = {"completed": "completed", "failed": "failed", "error": "failed", "cancelled": "cancelled"}
CONTENT_TYPES = {"general", "meeting", "interview", "podcast", "documentary", "lecture", "speaker_identification"}
UNFINISHED = "was not finished in OpenTranscribe when it was imported; reprocess it"


def email_address(value: str | None) -> str:
    """Our schema's idea of an address (something, "@", something; at most 320 characters), said in words."""
    email = (value or "").strip()
    local, at, domain = email.rpartition("@")
    if not (at and local and domain):
        raise Skip("not an email address", attention=True)
    if len(email) > 320:
        raise Skip("an email address longer than 320 characters", attention=True)
    return email


def need(parents: Parents, column: str) -> int:
    found = parents[column]
    assert found is not None, column  # a required parent is resolved or the row was skipped
    return found


def required_name(value: str | None, limit: int) -> str:
    kept = (value or "").strip()[:limit].strip()
    if not kept:
        raise Skip("without a name")
    return kept


def required_text(value: str | None, limit: int) -> str:
    kept = (value or "").strip()
    if not kept:
        raise Skip("with no text")
    return kept[:limit]


def as_float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


LINE_COLUMNS = ["id", "speaker_id", "start_time", "end_time", "text", "words"]  # words: later versions only


def to_line(row: Row, speaker_id: int | None) -> Line:
    """A source transcript line as the repository writes it: the one place that knows both shapes."""
    words = row["words"] if isinstance(row["words"], list) else None
    return str(row["id"]), speaker_id, max(row["start_time"], 0.0), row["end_time"], row["text"], words


def speaker_profile(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    name = (row["name"] or "").strip()[:200].strip() or "unnamed"
    return repo.speaker_profile(user_id=need(parents, "user_id"), name=name, description=row["description"],
                                created_at=row["created_at"])  # fmt: skip


def speaker(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    confidence, display = row["confidence"], (row["display_name"] or "").strip()[:200].strip()
    return repo.speaker(
        media_file_id=need(parents, "media_file_id"), user_id=need(parents, "user_id"),
        label=(row["name"] or "").strip()[:100].strip() or f"SPEAKER_{row['id']}", display_name=display or None,
        suggested_name=row["suggested_name"], profile_id=parents["profile_id"], verified=bool(row["verified"]),
        confidence=None if confidence is None else min(max(confidence, 0.0), 1.0), created_at=row["created_at"],
    )  # fmt: skip


def tag(repo: ImportRepository, row: Row, _: Parents) -> Written:
    return repo.tag(name=required_name(row["name"], 100), created_at=row["created_at"])


def file_tag(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.file_tag(media_file_id=need(parents, "media_file_id"), tag_id=need(parents, "tag_id"),
                         created_at=row["created_at"])  # fmt: skip


def speaker_collection(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.speaker_collection(user_id=need(parents, "user_id"), name=required_name(row["name"], 200),
                                   description=row["description"], created_at=row["created_at"])  # fmt: skip


def speaker_collection_member(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.speaker_collection_member(
        collection_id=need(parents, "collection_id"), profile_id=need(parents, "speaker_profile_id"),
        added_at=row["added_at"],
    )  # fmt: skip


def comment(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.comment(
        media_file_id=need(parents, "media_file_id"), user_id=need(parents, "user_id"),
        text=required_text(row["text"], 10_000),
        timestamp=row["timestamp"] if (row["timestamp"] or 0) >= 0 else None, created_at=row["created_at"],
    )  # fmt: skip


def task(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    status = TASK_STATUSES.get(row["status"] or "", "failed")
    message = row["error_message"] if row["status"] in TASK_STATUSES else f"this task {UNFINISHED}"
    return repo.task(
        id=f"{SOURCE}-{row['id']}"[:200], user_id=need(parents, "user_id"), media_file_id=parents["media_file_id"],
        task_type=TASK_TYPES.get(row["task_type"] or "", "maintenance"), status=status,
        progress=min(max(row["progress"] or 0.0, 0.0), 1.0) if status != "completed" else 1.0, error_message=message,
        created_at=row["created_at"],
        completed_at=row["completed_at"] or (row["created_at"] if status != "completed" else None),
    )  # fmt: skip


def analytics(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.analytics(media_file_id=need(parents, "media_file_id"), speaker_stats=row["speaker_stats"] or {},
                          keywords=row["keywords"] or [], sentiment=row["sentiment"])  # fmt: skip


def collection(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.collection(user_id=need(parents, "user_id"), name=required_name(row["name"], 200),
                           description=row["description"], created_at=row["created_at"])  # fmt: skip


def collection_member(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.collection_member(collection_id=need(parents, "collection_id"),
                                  media_file_id=need(parents, "media_file_id"), added_at=row["added_at"])  # fmt: skip


def speaker_match(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    a, b = need(parents, "speaker1_id"), need(parents, "speaker2_id")
    if a == b:
        raise Skip("a speaker matched with itself")
    return repo.speaker_match(a=a, b=b, confidence=min(max(row["confidence"] or 0.0, 0.0), 1.0),
                              created_at=row["created_at"])  # fmt: skip


def prompt(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    if row["is_system_default"] or parents["user_id"] is None:
        raise Skip("a system prompt (ours apply)")
    content_type = row["content_type"] if row["content_type"] in CONTENT_TYPES else "general"
    return repo.prompt(
        user_id=parents["user_id"], name=required_name(row["name"], 200), description=row["description"],
        prompt_text=required_text(row["prompt_text"], 100_000), content_type=content_type,
        is_active=row["is_active"] is not False, created_at=row["created_at"],
    )  # fmt: skip


def summary(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    old: OldSummary = row["summary"]
    return repo.file_summary(
        media_file_id=need(parents, "id"), provider=old.provider, model_name=old.model_name, bluf=old.bluf,
        brief_summary=old.brief_summary, major_topics=old.major_topics, action_items=old.action_items,
        key_decisions=old.key_decisions, follow_up_items=old.follow_up_items, raw_response=old.raw_response,
        completed_at=row["completed_at"],
    )  # fmt: skip
