"""`opentr import opentranscribe`: copy an OpenTranscribe PostgreSQL database (and its media) into this one.

The source is read, never written (importers/opentranscribe_source.py, which recognises its version from its
tables: the 18 of `database/init_db.sql` of 2025-09, or a later Alembic-managed schema). Every copied row is
remembered in `import_origins` (repo/imports.py), and rows with a natural key (email, tag name, per-user names,
segment identity) match existing ones, so a second run adds only what is new. Each table is copied in one
transaction with its origins, a savepoint per row (a media file with its object, a transcript in its own), so an
interrupted run leaves nothing half-copied to confuse the next, and a row our schema refuses is skipped with the
reason.

What changes on the way: passwords stay bcrypt hashes (verified with bcrypt at the next sign-in, then replaced by
ours); api keys are opened with the old ENCRYPTION_KEY and sealed with ours; unfinished work (a file or task the
old platform was still processing) arrives as an error to reprocess; system prompts are not copied (ours apply);
settings keep their value under `opentranscribe.<key>`, and `active_llm_config_id` activates that configuration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importers.opentranscribe_source import Source
from importers.report import Report
from importers.sources import ObjectSource, OldKeys, copy_object
from repo.database import Connection, Database
from repo.errors import Conflict, DataError
from repo.imports import ImportRepository, Origins
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


@dataclass
class Importer:
    source: Source
    db: Database
    storage_dir: Path
    storage: Storage
    objects: ObjectSource | None
    master_key: bytes
    old_keys: OldKeys | None
    progress: Callable[[str, int, int], None]
    report: Report = field(init=False)

    def run(self) -> Report:
        self.report = Report(self.source.version())
        self.users = self._copy_users()
        self.files = self._copy_files()
        self._copy_segments()
        self._copy_simple()
        return self.report

    # --- helpers -------------------------------------------------------------------------------------------------

    def _each(self, table: str, target: str, wanted: list[str]) -> Iterator[dict[str, Any]]:
        report = self.report.table(target)
        report.source = self.source.count(table)
        rows = list(self.source.rows(table, wanted))
        for done, row in enumerate(rows, 1):
            yield row
            self.progress(target, done, len(rows))
        if not rows:
            self.progress(target, 0, 0)

    def _origins(self, conn: Connection, table: str) -> Origins:
        return ImportRepository(conn).origins(SOURCE, table)

    # --- users and media -----------------------------------------------------------------------------------------

    def _copy_users(self) -> dict[int, int]:
        wanted = ["id", "email", "hashed_password", "full_name", "is_active", "is_superuser", "role", "created_at"]

        def write(repo: ImportRepository, row: dict[str, Any]) -> int:
            admin = bool(row["is_superuser"]) or row["role"] == "admin"
            return repo.user(
                email=row["email"].strip(),
                hashed_password=row["hashed_password"],
                full_name=(row["full_name"] or "")[:200],
                is_active=bool(row["is_active"]),
                role="admin" if admin else "user",
                created_at=row["created_at"],
            )

        return self._keyed("user", "users", wanted, write)

    def _copy_files(self) -> dict[int, int]:
        wanted = ["id", "user_id", "filename", "storage_path", "file_size", "content_type", "duration", "language",
                  "title", "author", "description", "source_url", "is_public", "status", "upload_time",
                  "completed_at", "media_format", "codec", "frame_rate", "frame_count", "resolution_width",
                  "resolution_height", "aspect_ratio", "audio_channels", "audio_sample_rate", "audio_bit_depth",
                  "creation_date", "last_modified_date", "device_make", "device_model", "metadata_raw",
                  "metadata_important", "waveform_data", "last_error_message"]  # fmt: skip
        report = self.report.table("media_files")
        with self.db.transaction() as conn:
            files = self._origins(conn, "media_file").ids
        for row in self._each("media_file", "media_files", wanted):
            if str(row["id"]) in files:
                report.present += 1
                continue
            owner = self.users.get(row["user_id"])
            if owner is None:
                report.skipped["of a user not copied"] += 1
                continue
            try:
                with self.db.transaction() as conn:
                    files[str(row["id"])] = self._copy_file(conn, row, owner)
            except DataError as exc:
                report.skipped[f"refused: {exc.detail}"] += 1
                continue
            report.copied += 1
        return {int(k): v for k, v in files.items()}

    def _copy_file(self, conn: Connection, row: dict[str, Any], owner: int) -> int:
        copied = (
            copy_object(self.objects, row["storage_path"], self.storage_dir, owner, self.storage)
            if self.objects
            else None
        )
        status = FILE_STATUSES.get(row["status"] or "", "error")
        message, category = row["last_error_message"], None
        if status == "error" and row["status"] not in FILE_STATUSES:
            message, category = f"{row['filename']} {UNFINISHED}", "import"
        if copied is None:
            status, category = "orphaned", "import"
            message = "its media was not found in OpenTranscribe's storage"
            self.report.notes["media file(s) without their stored object (imported as orphaned)"] += 1
        positive = {k: row[k] if (row[k] or 0) > 0 else None
                    for k in ("resolution_width", "resolution_height", "audio_channels", "audio_sample_rate",
                              "audio_bit_depth")}  # fmt: skip
        try:
            file_id = ImportRepository(conn).media_file(
                **{
                    k: row[k]
                    for k in (
                        "language",
                        "title",
                        "author",
                        "description",
                        "source_url",
                        "completed_at",
                        "media_format",
                        "codec",
                        "frame_rate",
                        "frame_count",
                        "aspect_ratio",
                        "creation_date",
                        "last_modified_date",
                        "device_make",
                        "device_model",
                        "metadata_raw",
                        "metadata_important",
                        "waveform_data",
                    )
                },
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
            self._origins(conn, "media_file").remember(row["id"], file_id)
        except BaseException:
            if copied is not None:
                self.storage.delete(copied.storage_path)
            raise
        return file_id

    # --- transcripts ---------------------------------------------------------------------------------------------

    def _copy_segments(self) -> None:
        self._copy_speaker_profiles()
        self.speakers = self._copy_speakers()
        report = self.report.table("transcript_segments")
        report.source = self.source.count("transcript_segment")
        files = sorted(self.files.items())
        for done, (old_file, new_file) in enumerate(files, 1):
            wanted = ["speaker_id", "start_time", "end_time", "text", "words"]  # words: later versions only
            rows = self.source.rows("transcript_segment", wanted, "WHERE media_file_id = %s", (old_file,))
            segments = [
                (self.speakers.get(r["speaker_id"]), max(r["start_time"], 0.0), r["end_time"], r["text"], r["words"])
                for r in rows
            ]
            with self.db.transaction() as conn:
                added = ImportRepository(conn).segments(new_file, segments)
            report.copied += added
            report.present += len(segments) - added
            self.progress("transcript_segments", done, len(files))
        orphans = report.source - report.copied - report.present
        if orphans:
            report.skipped["of files not copied"] += orphans

    def _copy_speaker_profiles(self) -> None:
        self.profiles = self._keyed(
            "speaker_profile", "speaker_profiles", ["id", "user_id", "name", "description", "created_at"],
            lambda repo, row: repo.speaker_profile(
                user_id=self._owner(row), name=(row["name"] or "unnamed")[:200], description=row["description"],
                created_at=row["created_at"]),
        )  # fmt: skip

    def _copy_speakers(self) -> dict[int, int]:
        wanted = ["id", "user_id", "media_file_id", "profile_id", "name", "display_name", "suggested_name",
                  "verified", "confidence", "created_at"]  # fmt: skip

        def write(repo: ImportRepository, row: dict[str, Any]) -> int:
            confidence = row["confidence"]
            return repo.speaker(
                media_file_id=self._file(row), user_id=self._owner(row),
                label=(row["name"] or f"SPEAKER_{row['id']}")[:100],
                display_name=(row["display_name"] or None) and row["display_name"][:200],
                suggested_name=row["suggested_name"], profile_id=self.profiles.get(row["profile_id"]),
                verified=bool(row["verified"]),
                confidence=None if confidence is None else min(max(confidence, 0.0), 1.0),
                created_at=row["created_at"],
            )  # fmt: skip

        return self._keyed("speaker", "speakers", wanted, write)

    # --- everything else -----------------------------------------------------------------------------------------

    def _copy_simple(self) -> None:
        tags = self._keyed(
            "tag",
            "tags",
            ["id", "name", "created_at"],
            lambda repo, row: repo.tag(name=row["name"].strip()[:100], created_at=row["created_at"]),
        )
        self._joined(
            "file_tag",
            "file_tags",
            ["media_file_id", "tag_id", "created_at"],
            lambda repo, row: repo.file_tag(
                media_file_id=self._file(row), tag_id=_need(tags, row["tag_id"]), created_at=row["created_at"]
            ),
        )
        groups = self._keyed(
            "speaker_collection",
            "speaker_collections",
            ["id", "user_id", "name", "description", "created_at"],
            lambda repo, row: repo.speaker_collection(
                user_id=self._owner(row),
                name=row["name"][:200],
                description=row["description"],
                created_at=row["created_at"],
            ),
        )
        self._joined(
            "speaker_collection_member",
            "speaker_collection_members",
            ["collection_id", "speaker_profile_id", "added_at"],
            lambda repo, row: repo.speaker_collection_member(
                collection_id=_need(groups, row["collection_id"]),
                profile_id=_need(self.profiles, row["speaker_profile_id"]),
                added_at=row["added_at"],
            ),
        )
        self._keyed(
            "comment",
            "comments",
            ["id", "media_file_id", "user_id", "text", "timestamp", "created_at"],
            lambda repo, row: repo.comment(
                media_file_id=self._file(row),
                user_id=self._owner(row),
                text=_text(row["text"], 10_000),
                timestamp=row["timestamp"] if (row["timestamp"] or 0) >= 0 else None,
                created_at=row["created_at"],
            ),
        )
        self._joined(
            "task",
            "tasks",
            [
                "id",
                "user_id",
                "media_file_id",
                "task_type",
                "status",
                "progress",
                "error_message",
                "created_at",
                "completed_at",
            ],
            self._task,
        )
        self._joined(
            "analytics",
            "analytics",
            ["media_file_id", "speaker_stats", "keywords", "sentiment"],
            lambda repo, row: repo.analytics(
                media_file_id=self._file(row),
                speaker_stats=row["speaker_stats"] or {},
                keywords=row["keywords"] or [],
                sentiment=row["sentiment"],
            ),
        )
        collections = self._keyed(
            "collection",
            "collections",
            ["id", "user_id", "name", "description", "created_at"],
            lambda repo, row: repo.collection(
                user_id=self._owner(row),
                name=row["name"][:200],
                description=row["description"],
                created_at=row["created_at"],
            ),
        )
        self._joined(
            "collection_member",
            "collection_members",
            ["collection_id", "media_file_id", "added_at"],
            lambda repo, row: repo.collection_member(
                collection_id=_need(collections, row["collection_id"]),
                media_file_id=self._file(row),
                added_at=row["added_at"],
            ),
        )
        self._joined(
            "speaker_match",
            "speaker_matches",
            ["speaker1_id", "speaker2_id", "confidence", "created_at"],
            lambda repo, row: repo.speaker_match(
                a=_need(self.speakers, row["speaker1_id"]),
                b=_need(self.speakers, row["speaker2_id"]),
                confidence=min(max(row["confidence"] or 0.0, 0.0), 1.0),
                created_at=row["created_at"],
            ),
        )
        self._keyed(
            "summary_prompt",
            "summary_prompts",
            [
                "id",
                "user_id",
                "name",
                "description",
                "prompt_text",
                "content_type",
                "is_active",
                "is_system_default",
                "created_at",
            ],
            self._prompt,
        )
        configs = self._llm_configs()
        self._settings(configs)

    def _task(self, repo: ImportRepository, row: dict[str, Any]) -> int:
        status = TASK_STATUSES.get(row["status"] or "", "failed")
        message = row["error_message"] if row["status"] in TASK_STATUSES else f"this task {UNFINISHED}"
        return repo.task(
            id=f"opentranscribe-{row['id']}"[:200],
            user_id=self._owner(row),
            media_file_id=self.files.get(row["media_file_id"]),
            task_type=TASK_TYPES.get(row["task_type"] or "", "maintenance"),
            status=status,
            progress=min(max(row["progress"] or 0.0, 0.0), 1.0) if status != "completed" else 1.0,
            error_message=message,
            created_at=row["created_at"],
            completed_at=row["completed_at"] or (row["created_at"] if status != "completed" else None),
        )

    def _prompt(self, repo: ImportRepository, row: dict[str, Any]) -> int:
        if row["user_id"] is None or row["is_system_default"]:
            raise Skip("system prompts (ours apply)")
        content_type = row["content_type"] if row["content_type"] in CONTENT_TYPES else "general"
        return repo.prompt(
            user_id=self._owner(row), name=row["name"][:200], description=row["description"],
            prompt_text=_text(row["prompt_text"], 100_000), content_type=content_type,
            is_active=bool(row["is_active"]), created_at=row["created_at"],
        )  # fmt: skip

    def _llm_configs(self) -> dict[int, int]:
        wanted = ["id", "user_id", "name", "provider", "model_name", "api_key", "base_url", "max_tokens",
                  "temperature", "created_at"]  # fmt: skip

        def write(repo: ImportRepository, row: dict[str, Any]) -> int:
            key = self._open_key(row["api_key"])
            configs = LlmConfigRepository(repo.conn, self.master_key)
            try:
                with self.db.transaction():  # a SAVEPOINT: a name taken here skips this row only
                    created = configs.create(
                        Actor(self._owner(row)), row["name"][:200], PROVIDERS.get(row["provider"], "custom"),
                        row["model_name"][:200], base_url=row["base_url"] or None, api_key=key,
                        max_tokens=row["max_tokens"] if (row["max_tokens"] or 0) > 0 else 4096,
                        temperature=min(max(_float(row["temperature"], 0.3), 0.0), 2.0),
                    )  # fmt: skip
            except Conflict:
                raise Skip("with a name already used by that user here") from None
            return created.id

        return self._keyed("user_llm_settings", "user_llm_configurations", wanted, write)

    def _open_key(self, stored: str | None) -> str | None:
        if not stored:
            return None
        if self.old_keys is None:
            self.report.notes["api key(s) left behind: give --old-key (OpenTranscribe's ENCRYPTION_KEY)"] += 1
            return None
        opened = self.old_keys.open(stored)
        if opened is None:
            self.report.notes["api key(s) that --old-key does not open (left behind)"] += 1
        return opened

    def _settings(self, configs: dict[int, int]) -> None:
        def write(repo: ImportRepository, row: dict[str, Any]) -> int:
            key = "opentranscribe." + re.sub(r"[^a-z0-9_.]", "_", (row["setting_key"] or "").lower())
            if not re.fullmatch(r"[a-z][a-z0-9_.]{0,99}", key):
                raise Skip("with a key too long to keep")
            raw = row["setting_value"]
            try:
                value = json.loads(raw) if raw is not None else None
            except ValueError:
                value = raw
            if row["setting_key"] == "active_llm_config_id" and str(value).isdigit():
                chosen = configs.get(int(str(value)))
                if chosen is not None:
                    repo.activate_llm_config(chosen)
            return repo.setting(user_id=self._owner(row), key=key, value=value, created_at=row["created_at"])

        self._keyed("user_setting", "user_settings", ["id", "user_id", "setting_key", "setting_value", "created_at"],
                    write)  # fmt: skip

    # --- the two shapes of table: rows with an id (remembered), join rows (matched by their own key) -------------

    def _keyed(self, table: str, target: str, wanted: list[str],
               write: Callable[[ImportRepository, dict[str, Any]], int]) -> dict[int, int]:  # fmt: skip
        report = self.report.table(target)
        with self.db.transaction() as conn:
            origins, repo = self._origins(conn, table), ImportRepository(conn)
            for row in self._each(table, target, wanted):
                if row["id"] in origins:
                    report.present += 1
                    continue
                try:
                    with self.db.transaction():  # a SAVEPOINT: a row our schema refuses is skipped, not the table
                        origins.remember(row["id"], write(repo, row))
                    report.copied += 1
                except Skip as skip:
                    report.skipped[skip.reason] += 1
                except DataError as exc:
                    report.skipped[f"refused: {exc.detail}"] += 1
            return {int(k): v for k, v in origins.ids.items()}

    def _joined(self, table: str, target: str, wanted: list[str],
                write: Callable[[ImportRepository, dict[str, Any]], int]) -> None:  # fmt: skip
        report = self.report.table(target)
        with self.db.transaction() as conn:
            repo = ImportRepository(conn)
            for row in self._each(table, target, wanted):
                try:
                    with self.db.transaction():
                        added = write(repo, row)
                except Skip as skip:
                    report.skipped[skip.reason] += 1
                    continue
                except DataError as exc:
                    report.skipped[f"refused: {exc.detail}"] += 1
                    continue
                report.copied += added
                report.present += 1 - added

    def _owner(self, row: dict[str, Any]) -> int:
        return _need(self.users, row["user_id"], "of a user not copied")

    def _file(self, row: dict[str, Any]) -> int:
        return _need(self.files, row["media_file_id"], "of a file not copied")


class Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _need(ids: dict[int, int], key: Any, reason: str = "referring to a row not copied") -> int:
    found = ids.get(key) if key is not None else None
    if found is None:
        raise Skip(reason)
    return found


def _text(value: str | None, limit: int) -> str:
    text = (value or "").strip()
    if not text:
        raise Skip("empty")
    return text[:limit]


def _float(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
