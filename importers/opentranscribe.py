"""`opentr import opentranscribe`: copy an OpenTranscribe PostgreSQL database (and its media) into this one.

The source is read, never written (importers/opentranscribe_source.py, which recognises its version from its
tables: the 18 of `database/init_db.sql` of 2025-09, or a later Alembic-managed schema). Each table is one `Kind`
(importers/copying.py; most rows are written by importers/opentranscribe_rows.py): every row copied is remembered
in `import_origins`, link rows and transcript lines included, so a later run adds only source rows it never
copied, never puts back what a user deleted or removed here, never overwrites what a user changed, and skips
(naming the reason) rows whose parent a user deleted.

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

from importers import opentranscribe_rows as rows
from importers.copying import COLLISIONS, Copier, Kind, Parent, Parents, Row, Skip, link_key
from importers.opentranscribe_rows import SOURCE
from importers.opentranscribe_source import Source
from importers.opentranscribe_summaries import read_summary
from importers.report import Report
from importers.sources import ObjectSource, OldKeys, copy_object
from repo.errors import Conflict, DataError, Unavailable
from repo.imports import ImportRepository, Line, Written
from repo.llm_configs import LlmConfigRepository
from repo.rows import Actor
from storage.backend import Storage
from storage.names import clean_filename

FILE_STATUSES = {"completed": "completed", "error": "error", "failed": "error", "cancelled": "cancelled",
                 "orphaned": "orphaned"}  # fmt: skip
PROVIDERS = {"openai": "openai", "vllm": "vllm", "ollama": "ollama", "claude": "anthropic", "anthropic": "anthropic",
             "openrouter": "openrouter", "custom": "custom"}  # fmt: skip
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
        after_speakers = [name for name, _ in steps].index("speakers") + 1  # a line needs its file and speaker
        steps.insert(after_speakers, ("transcript_segments", self._copy_segments))
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
        owner_if_any = Parent("user_id", "user", "user", optional=True)  # none: a system prompt
        return [
            (Kind("user", "users", self._user),
             ["id", "email", "hashed_password", "full_name", "is_active", "is_superuser", "role", "created_at"]),
            (Kind("media_file", "media_files", self._media_file, (USER,), batch=1), MEDIA_COLUMNS),
            (Kind("speaker_profile", "speaker_profiles", rows.speaker_profile, (USER,)),
             ["id", "user_id", "name", "description", "created_at"]),
            (Kind("speaker", "speakers", rows.speaker, (USER, FILE, profile)),
             ["id", "user_id", "media_file_id", "profile_id", "name", "display_name", "suggested_name", "verified",
              "confidence", "created_at"]),
            (Kind("tag", "tags", rows.tag), ["id", "name", "created_at"]),
            (Kind("file_tag", "file_tags", rows.file_tag, (FILE, Parent("tag_id", "tag", "tag")),
                  link_of("media_file_id", "tag_id"), link=True),
             ["media_file_id", "tag_id", "created_at"]),
            (Kind("speaker_collection", "speaker_collections", rows.speaker_collection, (USER,)),
             ["id", "user_id", "name", "description", "created_at"]),
            (Kind("speaker_collection_member", "speaker_collection_members", rows.speaker_collection_member,
                  (speaker_collection, Parent("speaker_profile_id", "speaker_profile", "speaker profile")),
                  link_of("collection_id", "speaker_profile_id"), link=True),
             ["collection_id", "speaker_profile_id", "added_at"]),
            (Kind("comment", "comments", rows.comment, (FILE, USER)),
             ["id", "media_file_id", "user_id", "text", "timestamp", "created_at"]),
            (Kind("task", "tasks", rows.task, (USER, Parent("media_file_id", "media_file", "file", optional=True))),
             ["id", "user_id", "media_file_id", "task_type", "status", "progress", "error_message", "created_at",
              "completed_at"]),
            (Kind("analytics", "analytics", rows.analytics, (FILE,)),
             ["id", "media_file_id", "speaker_stats", "keywords", "sentiment"]),
            (Kind("collection", "collections", rows.collection, (USER,)),
             ["id", "user_id", "name", "description", "created_at"]),
            (Kind("collection_member", "collection_members", rows.collection_member, (collection, FILE),
                  link_of("collection_id", "media_file_id"), link=True),
             ["collection_id", "media_file_id", "added_at"]),
            (Kind("speaker_match", "speaker_matches", rows.speaker_match, speakers,
                  lambda row: link_key(*sorted((row["speaker1_id"], row["speaker2_id"])))),
             ["speaker1_id", "speaker2_id", "confidence", "created_at"]),
            (Kind("summary_prompt", "summary_prompts", rows.prompt, (owner_if_any,)),
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
            email=rows.email_address(row["email"]),
            hashed_password=row["hashed_password"],
            full_name=(row["full_name"] or "").strip()[:200],
            is_active=row["is_active"] is not False,  # NULL: the old default, active
            role="admin" if admin else "user",
            created_at=row["created_at"],
        )

    def _media_file(self, repo: ImportRepository, row: Row, parents: Parents) -> Written:
        owner = rows.need(parents, "user_id")
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
            message, category = f"{row['filename']} {rows.UNFINISHED}", "import"
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
            found = self.source.rows(SEGMENTS, rows.LINE_COLUMNS, "WHERE media_file_id = %s", (old_file,))
            lines = [rows.to_line(row, self.copier.resolve(SPEAKER, row["speaker_id"])) for row in found]
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
        found = [
            {**row, "summary": summary}
            for row in self.source.rows("media_file", ["id", "summary", "summary_data", "completed_at"])
            if (summary := read_summary(row["summary_data"] if row["summary_data"] is not None else row["summary"]))
        ]
        kind = Kind(SUMMARIES, "file_summaries", rows.summary, (Parent("id", "media_file", "file"),))
        self.copier.copy(kind, found)

    # --- what needs the importer's state ---------------------------------------------------------------------------

    def _llm_config(self, repo: ImportRepository, row: Row, parents: Parents) -> Written:
        name, model = rows.required_name(row["name"], 200), (row["model_name"] or "").strip()[:200]
        if not model:
            raise Skip("without a model name")
        try:
            with repo.conn.transaction():  # a SAVEPOINT: a taken name skips this row only
                created = LlmConfigRepository(repo.conn, self.master_key).create(
                    Actor(rows.need(parents, "user_id")), name, PROVIDERS.get(row["provider"], "custom"), model,
                    base_url=row["base_url"] or None, api_key=self._open_key(row["api_key"]),
                    max_tokens=row["max_tokens"] if (row["max_tokens"] or 0) > 0 else 4096,
                    temperature=min(max(rows.as_float(row["temperature"], 0.3), 0.0), 2.0),
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
        written = repo.setting(
            user_id=rows.need(parents, "user_id"), key=key, value=value, created_at=row["created_at"]
        )
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


def link_of(first: str, second: str) -> Callable[[Row], str]:
    return lambda row: link_key(row[first], row[second])
