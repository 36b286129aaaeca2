"""`build_export(export_id, task_id)`, the `data_export` kind (jobs/data_exports.py): everything of one person in one
zip, run by the skeleton of workers/jobrun.py.

The archive (README.txt, account.json, files/<uuid>.json per owned file, media/<original name> per original) is
written to a file in the local spool and moved into storage only once complete, so no half archive is ever offered.
Memory stays bounded whatever the recordings weigh: each original is copied into the zip in chunks straight from the
storage backend (`read_range`), stored as it is (audio and video are compressed already), and each file's JSON is
read in a transaction of its own, one file at a time. Names keep every script (`会議.wav` comes out as `会議.wav`,
marked UTF-8 in the zip); two originals of one name are both kept (`talk.wav`, `talk (2).wav`).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from jobs.data_exports import DATA_EXPORT
from jobs.registry import ignoring_gone
from repo.data_exports import DataExportRepository, archive_key
from repo.database import Connection
from repo.errors import Conflict, NotFound
from repo.my_data import MyDataRepository, OwnedFile
from repo.tasks import TaskRepository
from storage import layout
from storage.backend import Storage
from storage.names import clean_filename
from workers.jobrun import Failure, JobBody, JobRun, job_function

FORMAT_VERSION = 1
README = """Everything of yours on this transcription server, as of {at}.

account.json            your profile, sign-ins from elsewhere, settings, notification preferences, LLM
                        configurations (their API keys are never exported), prompts, collections, speaker
                        profiles, groups, the shares you made, the questions you asked, your comments on
                        other people's files
files/<uuid>.json       one per file you own: its details, speakers, transcript segments (with word timings
                        where stored), tags, comments, summaries, analytics and public links
media/<name>            the recordings as you uploaded them, under their original names ("media" in each
                        file's JSON names its one)

Times are UTC (ISO 8601). Other people, groups and objects are named by their uuid, e-mail or name.
"""


@dataclass
class ExportJob:
    owner: int
    uuid: UUID
    taken: set[str] = field(default_factory=set)


class BuildExport(JobBody[ExportJob]):
    """Ends the export and its task in a final state whatever happens; only a dead worker leaves them to recovery."""

    kind = DATA_EXPORT
    expected = {OSError: "storage"}  # the spool or the storage full or unreachable: the person may ask again
    acts_as_file_owner = False  # the task has no file: it acts for the person who asked

    def claim(self, run: JobRun, conn: Connection) -> ExportJob:
        export = DataExportRepository(conn).start(run.subject_id)
        return ExportJob(export.user_id, export.uuid)

    def started(self, run: JobRun, conn: Connection, job: ExportJob) -> None:
        run.report(conn, job.owner, 0.0, "exporting your data")

    def work(self, run: JobRun, job: ExportJob) -> None:
        job.taken = set()  # run again from its start after an outage: a new archive, names taken afresh
        spool = layout.incoming_dir(run.context.storage_dir)
        spool.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="export-", suffix=".zip.part", dir=spool)
        os.close(handle)
        path = Path(name)
        try:
            files = self._write(run, job, path)
            size = path.stat().st_size
            key = archive_key(job.owner, job.uuid)
            run.context.storage.put_file(path, key)
        finally:
            path.unlink(missing_ok=True)
        with run.db.transaction() as conn:
            export = DataExportRepository(conn).complete(run.subject_id, key, size, files)
            with ignoring_gone():  # recovery may have closed a task it took for dead: the archive still counts
                TaskRepository(conn).complete(run.task_id)
            run.notify(
                conn,
                job.owner,
                "Your data export is ready",
                f"{files} file(s), {size} bytes; download it from your settings page before its link expires",
                data={"task_id": run.task_id, "export_uuid": str(export.uuid), "expires_at": str(export.expires_at)},
            )

    def _write(self, run: JobRun, job: ExportJob, path: Path) -> int:
        """The whole archive into `path`; how many files it holds."""
        db, storage = run.db, run.context.storage
        with db.transaction() as conn:
            mine = MyDataRepository(conn)
            account = mine.account(job.owner)
            owned = mine.files(job.owner)
            at = conn.execute("SELECT now()").fetchone()
        account = {"format_version": FORMAT_VERSION, "exported_at": str(at[0] if at else ""), **account}
        total = sum(f.file_size for f in owned) or 1
        done, written = 0, 0
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            archive.writestr("README.txt", README.format(at=account["exported_at"]))
            archive.writestr("account.json", _json(account))
            for owned_file in owned:
                try:
                    with db.transaction() as conn:
                        data = MyDataRepository(conn).file(job.owner, owned_file.id)
                except NotFound:
                    continue  # deleted since the list was read
                data["media"] = self._media(archive, storage, job, owned_file)
                archive.writestr(f"files/{owned_file.uuid}.json", _json(data))
                written += 1
                done += owned_file.file_size
                with db.transaction() as conn:
                    DataExportRepository(conn).progress(run.subject_id, done / total * 0.99)
                    run.report(conn, job.owner, done / total * 0.99, "exporting your data")
        return written

    def _media(self, archive: zipfile.ZipFile, storage: Storage, job: ExportJob, owned: OwnedFile) -> str | None:
        """Copy the original into the archive in chunks; its name in the archive, None when it is missing."""
        key = owned.storage_path
        try:
            size = storage.size(key)
        except FileNotFoundError:
            return None
        entry = f"media/{_unique(clean_filename(owned.filename, 'recording'), job.taken)}"
        info = zipfile.ZipInfo(entry, date_time=_now_tuple())
        info.compress_type = zipfile.ZIP_STORED
        info.file_size = size
        with archive.open(info, "w") as out:  # Zip64 when the size needs it: zipfile decides from file_size
            for chunk in storage.read_range(key, 0, size - 1) if size else ():
                out.write(chunk)
        return entry

    def fail(self, run: JobRun, job: ExportJob, failure: Failure) -> None:
        message = failure.message[:2000]
        with run.db.transaction() as conn:
            try:
                DataExportRepository(conn).fail(run.subject_id, message)
            except (Conflict, NotFound):  # deleted meanwhile, with its account perhaps: nobody to tell
                failed = False
            else:
                failed = True
            with ignoring_gone():
                TaskRepository(conn).fail(run.task_id, message)
            if failed:
                run.notify(conn, job.owner, "export of your data failed", message[:500], kind="error")


build_export = job_function(BuildExport())


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `stem (2).ext`, `stem (3).ext`…: unique ignoring case, as the file systems it is unpacked on do."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, dot, extension = name, "", ""
    candidate, n = name, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{stem} ({n}){dot}{extension}"
    taken.add(candidate.casefold())
    return candidate


def _now_tuple() -> tuple[int, int, int, int, int, int]:
    now = time.localtime()
    return now.tm_year, now.tm_mon, now.tm_mday, now.tm_hour, now.tm_min, now.tm_sec
