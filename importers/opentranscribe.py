"""`opentr import opentranscribe`: copy an OpenTranscribe PostgreSQL database (and its media) into this one.

The source is read, never written (importers/opentranscribe_source.py, which recognises its version from its
tables: the 18 of `database/init_db.sql` of 2025-09, or a later Alembic-managed schema). Each table is one `Kind`
(importers/copying.py): every row copied is remembered in `import_origins`, link rows and transcript lines
included, so a later run adds only source rows it never copied, never puts back what a user deleted or removed
here, never overwrites what a user changed, and skips (naming the reason) rows whose parent a user deleted.

What changes on the way: passwords stay bcrypt hashes (verified with bcrypt at the next sign-in, then replaced by
ours); api keys are opened with the old ENCRYPTION_KEY and sealed with ours; unfinished work (a file or task the
old platform was still processing) arrives as an error to reprocess; system prompts are not copied (ours apply);
settings keep their value under `opentranscribe.<key>`, and `active_llm_config_id` activates that configuration;
a file's AI summary becomes its first summary version here (importers/opentranscribe_summaries.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from importers.copying import COLLISIONS, Copier, Kind, Parent, Parents, Row, Skip, link_key
from importers.opentranscribe_source import Source
from importers.opentranscribe_summaries import OldSummary, read_summary
from importers.report import Report
from importers.sources import ObjectSource, OldKeys, copy_object
from repo.errors import Conflict, DataError, Unavailable
from repo.imports import ImportRepository, Line, Written
from repo.llm_configs import LlmConfigRepository
from repo.rows import Actor
from storage.backend import Storage
from storage.names import clean_filename

SOURCE = "opentranscribe"
FILE_STATUSES = {"completed": "completed", "error": "error", "failed": "error", "cancelled": "cancelled",
                 "orphaned": "orphaned"}  # fmt: skip
TASK_TYPES = {"transcription": "transcription", "summarization": "summarization", "summary": "summarization",
              "analytics": "analytics"}  # fmt: skip
TASK_STATUSES = {"completed": "completed", "failed": "failed", "error": "failed", "cancelled": "cancelled"}
PROVIDERS = {"openai": "openai", "vllm": "vllm", "ollama": "ollama", "claude": "anthropic", "anthropic": "anthropic",
             "openrouter": "openrouter", "custom": "custom"}  # fmt: skip
CONTENT_TYPES = {"general", "meeting", "interview", "podcast", "documentary", "lecture", "speaker_identification"}
UNFINISHED = "was not finished in OpenTranscribe when it was imported; reprocess it"
SEGMENTS, SUMMARIES = "transcript_segment", "media_file.summary"  # origins' names for the two special tables

USER = Parent("user_id", "user", "user")
FILE = Parent("media_file_id", "media_file", "file")
# A line keeps its speaker when that was copied and is still here; otherwise it has none (as when one is deleted).
SPEAKER = Parent("speaker_id", "speaker", "speaker", optional=True, keep_if_lost=True)


@dataclass
class Importer:
    source: Source
    copier: Copier
    storage_dir: Path
    storage: Storage
    objects: ObjectSource | None
    master_key: bytes
    old_keys: OldKeys | None

    @property
    def report(self) -> Report:
        return self.copier.report

    def run(self) -> None:
        """Every step in order. Whatever stops the run (a lost connection, Ctrl-C) is written into the report, with
        the tables not reached, before it goes on up: the report is printed in every case."""
        steps = self.steps()
        for n, (name, step) in enumerate(steps):
            try:
                step()
            except BaseException as exc:
                said = str(exc).strip().splitlines()
                self.report.stopped = f"during {name}: {said[0] if said else type(exc).__name__}"
                table = self.report.table(name)
                table.skip("not reached: the run stopped here", attention=True, count=table.source - table.counted)
                self.report.not_reached = [later for later, _ in steps[n + 1 :]]
                raise

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        """Each table as (its line in the report, the step that copies it), parents before children."""
        steps: list[tuple[str, Callable[[], None]]] = [
            (kind.target, partial(self._copy, kind, columns)) for kind, columns in self._kinds()
        ]
        steps.insert(4, ("transcript_segments", self._copy_segments))  # after files and speakers
        steps.append(("file_summaries", self._copy_summaries))
        return steps

    def _copy(self, kind: Kind, columns: list[str]) -> None:
        self.copier.copy(kind, self.source.rows(kind.table, columns))

    def _kinds(self) -> list[tuple[Kind, list[str]]]:
        """Each source table: how its rows are written, and which columns the writer reads."""
        profile = Parent("profile_id", "speaker_profile", "speaker profile", optional=True, keep_if_lost=True)
        speaker_collection = Parent("collection_id", "speaker_collection", "speaker collection")
        collection = Parent("collection_id", "collection", "collection")
        speakers = (Parent("speaker1_id", "speaker", "speaker"), Parent("speaker2_id", "speaker", "speaker"))
        return [
            (Kind("user", "users", self._user),
             ["id", "email", "hashed_password", "full_name", "is_active", "is_superuser", "role", "created_at"]),
            (Kind("media_file", "media_files", self._media_file, (USER,), batch=1), MEDIA_COLUMNS),
            (Kind("speaker_profile", "speaker_profiles", _speaker_profile, (USER,)),
             ["id", "user_id", "name", "description", "created_at"]),
            (Kind("speaker", "speakers", _speaker, (USER, FILE, profile)),
             ["id", "user_id", "media_file_id", "profile_id", "name", "display_name", "suggested_name", "verified",
              "confidence", "created_at"]),
            (Kind("tag", "tags", _tag), ["id", "name", "created_at"]),
            (Kind("file_tag", "file_tags", _file_tag, (FILE, Parent("tag_id", "tag", "tag")),
                  link_of("media_file_id", "tag_id"), link=True),
             ["media_file_id", "tag_id", "created_at"]),
            (Kind("speaker_collection", "speaker_collections", _speaker_collection, (USER,)),
             ["id", "user_id", "name", "description", "created_at"]),
            (Kind("speaker_collection_member", "speaker_collection_members", _speaker_collection_member,
                  (speaker_collection, Parent("speaker_profile_id", "speaker_profile", "speaker profile")),
                  link_of("collection_id", "speaker_profile_id"), link=True),
             ["collection_id", "speaker_profile_id", "added_at"]),
            (Kind("comment", "comments", _comment, (FILE, USER)),
             ["id", "media_file_id", "user_id", "text", "timestamp", "created_at"]),
            (Kind("task", "tasks", _task, (USER, Parent("media_file_id", "media_file", "file", optional=True))),
             ["id", "user_id", "media_file_id", "task_type", "status", "progress", "error_message", "created_at",
              "completed_at"]),
            (Kind("analytics", "analytics", _analytics, (FILE,)),
             ["id", "media_file_id", "speaker_stats", "keywords", "sentiment"]),
            (Kind("collection", "collections", _collection, (USER,)),
             ["id", "user_id", "name", "description", "created_at"]),
            (Kind("collection_member", "collection_members", _collection_member, (collection, FILE),
                  link_of("collection_id", "media_file_id"), link=True),
             ["collection_id", "media_file_id", "added_at"]),
            (Kind("speaker_match", "speaker_matches", _speaker_match, speakers,
                  lambda row: link_key(*sorted((row["speaker1_id"], row["speaker2_id"])))),
             ["speaker1_id", "speaker2_id", "confidence", "created_at"]),
            (Kind("summary_prompt", "summary_prompts", _prompt, (Parent("user_id", "user", "user", optional=True),)),
             ["id", "user_id", "name", "description", "prompt_text", "content_type", "is_active",
              "is_system_default", "created_at"]),
            (Kind("user_llm_settings", "user_llm_configurations", self._llm_config, (USER,)),
             ["id", "user_id", "name", "provider", "model_name", "api_key", "base_url", "max_tokens", "temperature",
              "created_at"]),
            (Kind("user_setting", "user_settings", self._setting, (USER,)),
             ["id", "user_id", "setting_key", "setting_value", "created_at"]),
        ]  # fmt: skip

    # --- users and media -----------------------------------------------------------------------------------------

    def _user(self, repo: ImportRepository, row: Row, _: Parents) -> Written:
        admin = bool(row["is_superuser"]) or row["role"] == "admin"
        return repo.user(
            email=email_address(row["email"]),
            hashed_password=row["hashed_password"],
            full_name=(row["full_name"] or "").strip()[:200],
            is_active=row["is_active"] is not False,  # NULL: the old default, active
            role="admin" if admin else "user",
            created_at=row["created_at"],
        )

    def _media_file(self, repo: ImportRepository, row: Row, parents: Parents) -> Written:
        owner = _id(parents, "user_id")
        try:
            copied = (
                copy_object(self.objects, row["storage_path"], self.storage_dir, owner, self.storage)
                if self.objects and row["storage_path"]
                else None
            )
        except OSError as exc:
            raise Skip(f"its media could not be read or stored ({exc.strerror or exc})", attention=True) from None
        status = FILE_STATUSES.get(row["status"] or "", "error")
        message, category = row["last_error_message"], None
        if status == "error" and row["status"] not in FILE_STATUSES:
            message, category = f"{row['filename']} {UNFINISHED}", "import"
        if copied is None:
            status, category = "orphaned", "import"
            message = "its media was not found in OpenTranscribe's storage"
            self.report.note(
                "media file(s) whose stored object was not found (imported as orphaned: give --storage or --minio "
                "on the first run)"
                if self.objects
                else "media file(s) imported without media: no --storage or --minio was given (imported as orphaned)",
                attention=True,
            )
        positive = {k: row[k] if (row[k] or 0) > 0 else None for k in POSITIVE_COLUMNS}
        try:
            return repo.media_file(
                **{k: row[k] for k in KEPT_COLUMNS},
                **positive,
                user_id=owner,
                filename=clean_filename(row["filename"] or "", default="imported"),
                storage_path=copied.storage_path if copied else f"{owner}/missing-opentranscribe-{row['id']}",
                file_size=copied.size if copied else max(row["file_size"] or 0, 0),
                content_type=row["content_type"] or "application/octet-stream",
                file_hash=copied.sha256 if copied else None,
                duration=row["duration"] if (row["duration"] or 0) >= 0 else None,
                is_public=bool(row["is_public"]),
                status=status,
                upload_time=row["upload_time"],
                progress=1.0 if status == "completed" else 0.0,
                last_error_message=message,
                error_category=category,
            )
        except BaseException:
            if copied is not None:
                self.storage.delete(copied.storage_path)
            raise

    # --- transcripts and summaries -------------------------------------------------------------------------------

    def _copy_segments(self) -> None:
        """Per file, one statement (repo/imports.py); a file with a line our schema refuses goes line by line."""
        report = self.report.table("transcript_segments")
        per_file = self.source.count_by(SEGMENTS, "media_file_id")
        report.source = total = sum(per_file.values())
        done = 0
        for old_file, count in sorted(per_file.items()):
            done += count
            try:
                file_id = self.copier.resolve(FILE, old_file)
            except Skip as skip:
                report.skip(skip.reason, count=count)
                continue
            assert file_id is not None  # FILE is required: resolved, or skipped above
            rows = self.source.rows(SEGMENTS, LINE_COLUMNS, "WHERE media_file_id = %s", (old_file,))
            lines = [to_line(row, self.copier.resolve(SPEAKER, row["speaker_id"])) for row in rows]
            with self.copier.db.transaction() as conn:
                self._file_lines(ImportRepository(conn), file_id, lines)
            self.copier.progress("transcript_segments", done, total)
        if not per_file:
            self.copier.progress("transcript_segments", 0, 0)

    def _file_lines(self, repo: ImportRepository, file_id: int, lines: list[Line]) -> None:
        report = self.report.table("transcript_segments")
        try:
            with self.copier.db.transaction():
                outcomes = [repo.segments(SOURCE, SEGMENTS, file_id, lines)]
        except Unavailable:
            raise
        except (DataError, *COLLISIONS):  # one line our schema refuses: the others still go, one savepoint each
            found = (self.copier.attempt(report, line[0], partial(repo.segments, SOURCE, SEGMENTS, file_id, [line]))
                     for line in lines)  # fmt: skip
            outcomes = [outcome for outcome in found if outcome is not None]
        for outcome in outcomes:
            report.copied += outcome.copied
            report.present += outcome.present
            report.skip("deleted here after an earlier import", count=outcome.gone)
            report.skip("an identical line was written here at the same moment; run the import again",
                        attention=True, count=outcome.missed)  # fmt: skip

    def _copy_summaries(self) -> None:
        rows = [
            {**row, "summary": summary}
            for row in self.source.rows("media_file", ["id", "summary", "summary_data", "completed_at"])
            if (summary := read_summary(row["summary_data"] if row["summary_data"] is not None else row["summary"]))
        ]
        kind = Kind(SUMMARIES, "file_summaries", _summary, (Parent("id", "media_file", "file"),))
        self.copier.copy(kind, rows)

    # --- what needs the importer's state ---------------------------------------------------------------------------

    def _llm_config(self, repo: ImportRepository, row: Row, parents: Parents) -> Written:
        name, model = _name(row["name"], 200), (row["model_name"] or "").strip()[:200]
        if not model:
            raise Skip("without a model name")
        try:
            with repo.conn.transaction():  # a SAVEPOINT: a taken name skips this row only
                created = LlmConfigRepository(repo.conn, self.master_key).create(
                    Actor(_id(parents, "user_id")), name, PROVIDERS.get(row["provider"], "custom"), model,
                    base_url=row["base_url"] or None, api_key=self._open_key(row["api_key"]),
                    max_tokens=row["max_tokens"] if (row["max_tokens"] or 0) > 0 else 4096,
                    temperature=min(max(_float(row["temperature"], 0.3), 0.0), 2.0),
                )  # fmt: skip
        except Conflict:
            raise Skip("its name is taken by another configuration of that user here") from None
        return Written(created.id, True)

    def _open_key(self, stored: str | None) -> str | None:
        if not stored:
            return None
        if self.old_keys is None:
            self.report.note("api key(s) left behind: give --old-key (OpenTranscribe's ENCRYPTION_KEY)", attention=True)
            return None
        opened = self.old_keys.open(stored)
        if opened is None:
            self.report.note("api key(s) that --old-key does not open (left behind)", attention=True)
        return opened

    def _setting(self, repo: ImportRepository, row: Row, parents: Parents) -> Written:
        key = "opentranscribe." + re.sub(r"[^a-z0-9_.]", "_", (row["setting_key"] or "").lower())
        if not re.fullmatch(r"[a-z][a-z0-9_.]{0,99}", key):
            raise Skip("with a key longer than our settings allow (100 characters)")
        raw = row["setting_value"]
        try:
            value = json.loads(raw) if raw is not None else None
        except ValueError:
            value = raw
        written = repo.setting(user_id=_id(parents, "user_id"), key=key, value=value, created_at=row["created_at"])
        if written.created and row["setting_key"] == "active_llm_config_id" and str(value).isdigit():
            configs = self.copier.known.get("user_llm_settings")
            chosen = configs.target(value) if configs is not None and not configs.is_gone(value) else None
            if isinstance(chosen, int):
                repo.activate_llm_config(chosen)
        return written


MEDIA_COLUMNS = [
    "id", "user_id", "filename", "storage_path", "file_size", "content_type", "duration", "language", "title",
    "author", "description", "source_url", "is_public", "status", "upload_time", "completed_at", "media_format",
    "codec", "frame_rate", "frame_count", "resolution_width", "resolution_height", "aspect_ratio", "audio_channels",
    "audio_sample_rate", "audio_bit_depth", "creation_date", "last_modified_date", "device_make", "device_model",
    "metadata_raw", "metadata_important", "waveform_data", "last_error_message",
]  # fmt: skip
POSITIVE_COLUMNS = ("resolution_width", "resolution_height", "audio_channels", "audio_sample_rate", "audio_bit_depth")
KEPT_COLUMNS = (
    "language", "title", "author", "description", "source_url", "completed_at", "media_format", "codec", "frame_rate",
    "frame_count", "aspect_ratio", "creation_date", "last_modified_date", "device_make", "device_model",
    "metadata_raw", "metadata_important", "waveform_data",
)  # fmt: skip


def email_address(value: str | None) -> str:
    """Our schema's idea of an address (something, "@", something; at most 320 characters), said in words."""
    email = (value or "").strip()
    local, at, domain = email.rpartition("@")
    if not (at and local and domain):
        raise Skip("not an email address", attention=True)
    if len(email) > 320:
        raise Skip("an email address longer than 320 characters", attention=True)
    return email


def link_of(first: str, second: str) -> Callable[[Row], str]:
    return lambda row: link_key(row[first], row[second])


def _id(parents: Parents, column: str) -> int:
    found = parents[column]
    assert found is not None, column  # a required parent is resolved or the row was skipped
    return found


def _name(value: str | None, limit: int) -> str:
    name = (value or "").strip()[:limit].strip()
    if not name:
        raise Skip("without a name")
    return name


def _text(value: str | None, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise Skip("with no text")
    return text[:limit]


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


LINE_COLUMNS = ["id", "speaker_id", "start_time", "end_time", "text", "words"]  # words: later versions only


def to_line(row: Row, speaker_id: int | None) -> Line:
    """A source transcript line as the repository writes it: the one place that knows both shapes."""
    words = row["words"] if isinstance(row["words"], list) else None
    return str(row["id"]), speaker_id, max(row["start_time"], 0.0), row["end_time"], row["text"], words


# --- the rows that need nothing but their values and parents -----------------------------------------------------


def _speaker_profile(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    name = (row["name"] or "").strip()[:200].strip() or "unnamed"
    return repo.speaker_profile(user_id=_id(parents, "user_id"), name=name, description=row["description"],
                                created_at=row["created_at"])  # fmt: skip


def _speaker(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    confidence, display = row["confidence"], (row["display_name"] or "").strip()[:200].strip()
    return repo.speaker(
        media_file_id=_id(parents, "media_file_id"), user_id=_id(parents, "user_id"),
        label=(row["name"] or "").strip()[:100].strip() or f"SPEAKER_{row['id']}", display_name=display or None,
        suggested_name=row["suggested_name"], profile_id=parents["profile_id"], verified=bool(row["verified"]),
        confidence=None if confidence is None else min(max(confidence, 0.0), 1.0), created_at=row["created_at"],
    )  # fmt: skip


def _tag(repo: ImportRepository, row: Row, _: Parents) -> Written:
    return repo.tag(name=_name(row["name"], 100), created_at=row["created_at"])


def _file_tag(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.file_tag(media_file_id=_id(parents, "media_file_id"), tag_id=_id(parents, "tag_id"),
                         created_at=row["created_at"])  # fmt: skip


def _speaker_collection(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.speaker_collection(user_id=_id(parents, "user_id"), name=_name(row["name"], 200),
                                   description=row["description"], created_at=row["created_at"])  # fmt: skip


def _speaker_collection_member(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.speaker_collection_member(
        collection_id=_id(parents, "collection_id"), profile_id=_id(parents, "speaker_profile_id"),
        added_at=row["added_at"],
    )  # fmt: skip


def _comment(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.comment(
        media_file_id=_id(parents, "media_file_id"), user_id=_id(parents, "user_id"), text=_text(row["text"], 10_000),
        timestamp=row["timestamp"] if (row["timestamp"] or 0) >= 0 else None, created_at=row["created_at"],
    )  # fmt: skip


def _task(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    status = TASK_STATUSES.get(row["status"] or "", "failed")
    message = row["error_message"] if row["status"] in TASK_STATUSES else f"this task {UNFINISHED}"
    return repo.task(
        id=f"{SOURCE}-{row['id']}"[:200], user_id=_id(parents, "user_id"), media_file_id=parents["media_file_id"],
        task_type=TASK_TYPES.get(row["task_type"] or "", "maintenance"), status=status,
        progress=min(max(row["progress"] or 0.0, 0.0), 1.0) if status != "completed" else 1.0, error_message=message,
        created_at=row["created_at"],
        completed_at=row["completed_at"] or (row["created_at"] if status != "completed" else None),
    )  # fmt: skip


def _analytics(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.analytics(media_file_id=_id(parents, "media_file_id"), speaker_stats=row["speaker_stats"] or {},
                          keywords=row["keywords"] or [], sentiment=row["sentiment"])  # fmt: skip


def _collection(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.collection(user_id=_id(parents, "user_id"), name=_name(row["name"], 200),
                           description=row["description"], created_at=row["created_at"])  # fmt: skip


def _collection_member(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    return repo.collection_member(collection_id=_id(parents, "collection_id"),
                                  media_file_id=_id(parents, "media_file_id"), added_at=row["added_at"])  # fmt: skip


def _speaker_match(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    a, b = _id(parents, "speaker1_id"), _id(parents, "speaker2_id")
    if a == b:
        raise Skip("a speaker matched with itself")
    return repo.speaker_match(a=a, b=b, confidence=min(max(row["confidence"] or 0.0, 0.0), 1.0),
                              created_at=row["created_at"])  # fmt: skip


def _prompt(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    if row["is_system_default"] or parents["user_id"] is None:
        raise Skip("a system prompt (ours apply)")
    content_type = row["content_type"] if row["content_type"] in CONTENT_TYPES else "general"
    return repo.prompt(
        user_id=parents["user_id"], name=_name(row["name"], 200), description=row["description"],
        prompt_text=_text(row["prompt_text"], 100_000), content_type=content_type,
        is_active=row["is_active"] is not False, created_at=row["created_at"],
    )  # fmt: skip


def _summary(repo: ImportRepository, row: Row, parents: Parents) -> Written:
    old: OldSummary = row["summary"]
    return repo.file_summary(
        media_file_id=_id(parents, "id"), provider=old.provider, model_name=old.model_name, bluf=old.bluf,
        brief_summary=old.brief_summary, major_topics=old.major_topics, action_items=old.action_items,
        key_decisions=old.key_decisions, follow_up_items=old.follow_up_items, raw_response=old.raw_response,
        completed_at=row["completed_at"],
    )  # fmt: skip
