"""`cleanup()`: storage files no row points at, rows whose media vanished, abandoned partial uploads, sign-in
tokens that expired more than a week ago, and the archives of data exports whose download link has expired (their
rows stay, marked `expired`, so an old link answers 410).

Without `apply` it only reports; with it, stray files and those tokens are deleted and rows without media are
marked orphaned (their transcripts stay: the media may come back from a backup). A file written in the last hour is
never stray: an upload moves its file into storage just before its row commits. A storage directory that does not
exist is refused rather than taken as "every media file is missing" (and then nothing at all is changed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from repo.data_exports import DataExportRepository
from repo.database import Database
from repo.file_processing import FileProcessingRepository
from repo.users import UserRepository
from storage import layout
from storage.backend import LocalStorage, Storage

PARTIAL_UPLOAD_AGE_SECONDS = 24 * 3600
STRAY_FILE_AGE_SECONDS = 3600


@dataclass
class CleanupReport:
    stray_files: list[str] = field(default_factory=list)
    missing_media: list[int] = field(default_factory=list)
    stale_partials: list[str] = field(default_factory=list)
    expired_tokens: int = 0
    expired_exports: list[str] = field(default_factory=list)  # their archives' storage keys
    applied: bool = False

    def summary(self) -> str:
        verb = "removed" if self.applied else "found"
        return (
            f"{verb} {len(self.stray_files)} stray file(s), {len(self.stale_partials)} abandoned partial "
            f"upload(s); {len(self.missing_media)} row(s) whose media is missing"
            f"{' (marked orphaned)' if self.applied else ''}; {self.expired_tokens} sign-in token(s) expired more "
            f"than a week ago{' (deleted)' if self.applied else ''}; {len(self.expired_exports)} expired data "
            f"export(s){' (removed)' if self.applied else ''}"
        )


def cleanup(db: Database, storage: Storage | Path, apply: bool = False, spool: Path | None = None) -> CleanupReport:
    """`storage`: the backend (a directory stands for its LocalStorage); `spool`: where uploads are received
    (default: the local storage directory's `incoming/`)."""
    if isinstance(storage, Path):
        storage = LocalStorage(storage)
    if spool is None and isinstance(storage, LocalStorage):
        spool = layout.incoming_dir(storage.root)
    report = CleanupReport(applied=apply)
    with db.transaction() as conn:
        inventory = FileProcessingRepository(conn).storage_inventory()
        report.expired_tokens = UserRepository(conn).long_expired_tokens()
        exports = DataExportRepository(conn)
        expired = exports.expired()
        archives = exports.stored_keys()
    report.expired_exports = [e.storage_key for e in expired if e.storage_key is not None]
    if inventory and isinstance(storage, LocalStorage) and not storage.root.is_dir():
        raise FileNotFoundError(f"the storage directory {storage.root} does not exist; check OPENTR_STORAGE_DIR")
    known = {row.storage_path for row in inventory}
    known |= {companion for path in list(known) for companion in layout.companions(path)}
    known |= archives  # an archive is no stray file while its export's row points at it
    now = time.time()
    if spool is not None and spool.is_dir():
        for path in sorted(p for p in spool.rglob("*") if p.is_file()):
            if path.stat().st_mtime < now - PARTIAL_UPLOAD_AGE_SECONDS:  # younger ones may be uploads in progress
                report.stale_partials.append(f"{layout.INCOMING}/{path.relative_to(spool).as_posix()}")
    present = set()
    for stored in storage.objects():
        present.add(stored.key)
        if stored.key not in known and stored.modified < now - STRAY_FILE_AGE_SECONDS:
            report.stray_files.append(stored.key)
    report.missing_media = [row.id for row in inventory if row.status != "orphaned" and row.storage_path not in present]
    if apply:
        for key in report.stray_files:
            storage.delete(key)
        for relative in report.stale_partials:
            if spool is not None:
                (spool / relative.removeprefix(f"{layout.INCOMING}/")).unlink(missing_ok=True)
        with db.transaction() as conn:
            if report.missing_media:
                FileProcessingRepository(conn).mark_orphaned(report.missing_media)
            report.expired_tokens = UserRepository(conn).purge_long_expired_tokens()  # the count deleted, exactly
        # The rows first: once committed, no download can start on an archive about to go (one already running
        # keeps its open file on local storage).
        with db.transaction() as conn:
            DataExportRepository(conn).mark_expired([e.id for e in expired])
        for key in report.expired_exports:
            storage.delete(layout.object_key(key))
    return report
