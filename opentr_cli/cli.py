"""The `opentr` command line."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import psycopg

from config.settings import ConfigError, Settings, load_settings
from embedded import servers as embedded
from repo import backup, schema
from repo.errors import DataError

Command = Callable[[argparse.Namespace, Settings], int]


def _database(settings: Settings) -> str:
    url = embedded.database_url(settings)
    try:
        with psycopg.connect(url, connect_timeout=10):
            pass
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"DATABASE_URL: cannot connect: {reason}") from None
    return url


def _direct(settings: Settings) -> str:
    """Where session-level work goes (migrations' advisory lock, pg_dump): DATABASE_DIRECT_URL when set."""
    if settings.database_direct_url:
        return _database(settings.model_copy(update={"database_url": settings.database_direct_url}))
    return _database(settings)


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        print(f"{question} -- refusing without --yes (no terminal to ask)", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def cmd_dev(args: argparse.Namespace, settings: Settings) -> int:
    from opentr_cli import devserver

    return devserver.run(settings, args.host, args.port, worker=not args.no_worker)


def cmd_reset(args: argparse.Namespace, settings: Settings) -> int:
    if settings.is_production:
        raise ConfigError("OPENTR_ENV: reset dev refuses to run in production")
    url = _database(settings)
    name = schema.database_name(url)
    if not _confirm(f"drop and rebuild database {name!r}?", args.yes):
        return 1
    admin = schema.with_database(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    schema.build_from_init_sql(url)
    schema.baseline(url)
    print(f"rebuilt {name} from sql/init_db.sql")
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from repo import pgtools

    url = _direct(settings)
    if not args.no_backup:
        target = backup.default_path(settings.opentr_home / "backups", url)
        try:
            backup.backup(url, target, pgtools.stderr_progress("backup"))
        except (RuntimeError, ConfigError, OSError) as exc:
            print(f"\nrefusing to migrate without a backup ({exc}); pass --no-backup to skip it", file=sys.stderr)
            return 1
        print(f"\nbackup written to {target}")
    applied = schema.migrate(url, lock_timeout=args.lock_timeout)
    print(f"applied {len(applied)} migration(s)" if applied else "nothing to migrate: the schema is up to date")
    if args.hold:
        _hold()
    return 0


def _hold() -> None:
    """Stay up until stopped: Procfile runners (honcho, foreman) stop every process as soon as one exits, so a
    `release:` that migrated and exited would take the web and the workers down with it."""
    import contextlib
    import signal

    print("migrations done; holding until stopped (--hold)", flush=True)
    for signum in (signal.SIGTERM, signal.SIGHUP):  # exit through atexit: our share of embedded servers goes back
        signal.signal(signum, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    for migration_id, applied in schema.status(_database(settings)):
        print(f"{'applied' if applied else 'PENDING'}  {migration_id}")
    return 0


def cmd_baseline(args: argparse.Namespace, settings: Settings) -> int:
    marked = schema.baseline(_database(settings))
    print(f"marked {len(marked)} migration(s) applied: {', '.join(marked)}" if marked else "already baselined")
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    from repo import querycheck, statements

    url = _database(settings)
    diff = schema.compare_schemas(url, say=lambda line: print(line, file=sys.stderr))
    if diff:
        print("the init SQL and the migrations build different schemas:")
        print("\n".join(diff))
        return 1
    print("schemas identical: sql/init_db.sql == migrations/")
    with schema.temporary_database(url, "opentr_check_queries") as scratch:
        schema.build_from_init_sql(scratch)
        problems = querycheck.check_all(scratch)
    for problem in problems:
        print(f"query problem: {problem}")
    if not problems:
        print(f"all {len(statements.BOUND)} named queries prepare and match their row types")
    return 1 if problems else 0


def cmd_inspect(args: argparse.Namespace, settings: Settings) -> int:
    from repo import inspect
    from repo.database import Database

    url = _database(settings)
    with Database(url, settings, application_name="opentr-inspect", min_size=1, max_size=1) as db:
        with db.transaction():
            pass
        print(inspect.report(url, db.stats()))
    return 0


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from repo import pgtools

    url = _direct(settings)
    target = Path(args.output) if args.output else backup.default_path(settings.opentr_home / "backups", url)
    backup.backup(url, target, pgtools.stderr_progress("backup"))
    print(f"\nbackup written to {target}")
    if settings.opentr_storage_url:  # off this machine too, next to the media it describes
        import shutil
        import tempfile

        from storage import layout
        from storage.backend import open_storage

        with tempfile.TemporaryDirectory() as spool:
            copy = Path(shutil.copy(target, Path(spool) / target.name))
            open_storage(settings).put_file(copy, layout.backup_key(target.name))
        print(f"and copied to {settings.opentr_storage_url}/{layout.backup_key(target.name)}")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from repo import pgtools

    url = _database(settings)
    if not args.into and not _confirm(f"overwrite database {schema.database_name(url)!r} from {args.file}?", args.yes):
        return 1
    target = backup.restore(url, Path(args.file), args.into, pgtools.stderr_progress("restore"))
    print(f"\nrestored into {schema.database_name(target)}")
    return 0


def cmd_user_create(args: argparse.Namespace, settings: Settings) -> int:
    from repo.database import Database
    from repo.users import UserRepository

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    with Database(_database(settings), settings, min_size=1, max_size=1) as db, db.transaction() as conn:
        user = UserRepository(conn).create(args.email, password, args.full_name, "admin" if args.admin else "user")
    print(f"created {user.role} {user.email} ({user.uuid})")
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from repo import capacity
    from workers.gpus import assign
    from workers.runner import run_worker

    url = _database(settings)
    assignment = assign(args.gpus, args.processes, settings)
    planned = capacity.worker_connections(assignment.processes)
    capacity.check(url, settings, planned, f"opentr worker --processes {assignment.processes}", _warn)
    run_worker(
        settings,
        url,
        embedded.redis_url(settings),
        burst=args.burst,
        recovery=not args.no_recovery,
        assignment=assignment,
    )
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """uvicorn with N processes; each builds its own pool after the fork (web/app.py's lifespan)."""
    import os
    import signal

    import uvicorn

    from opentr_cli import processes
    from repo import capacity

    processes.check_port_free(args.host, args.port)
    url = _database(settings)
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = url, embedded.redis_url(settings)
    planned = capacity.web_connections(settings, args.workers)
    capacity.check(url, settings, planned, f"opentr serve --workers {args.workers}", _warn)
    # A hangup (the terminal closed) stops the server as Ctrl-C does. uvicorn handles SIGINT/SIGTERM only, and its
    # multi-process supervisor takes SIGHUP as "restart the workers", which would keep it running with no terminal.
    # After its graceful shutdown uvicorn raises the stop signal again under the handler it found: exit 0 then.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGHUP, lambda *_: signal.raise_signal(signal.SIGTERM))
    from uvicorn.supervisors.multiprocess import Multiprocess

    setattr(Multiprocess, "handle_hup", Multiprocess.handle_term)  # noqa: B010 -- mypy refuses assigning a method
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level="warning",
        proxy_headers=True,
    )
    return 0


def _warn(message: str) -> None:
    logging.getLogger("opentr").warning(message)


def cmd_cleanup(args: argparse.Namespace, settings: Settings) -> int:
    from repo.database import Database
    from storage.backend import open_storage
    from storage.layout import incoming_dir
    from workers.cleanup import cleanup

    with Database(_database(settings), settings, min_size=0, max_size=1) as db:
        report = cleanup(db, open_storage(settings), args.yes, incoming_dir(settings.storage_dir))
    for path in report.stray_files:
        print(f"stray file: {path}")
    for path in report.stale_partials:
        print(f"abandoned partial upload: {path}")
    for file_id in report.missing_media:
        print(f"media missing for file id {file_id}")
    for key in report.expired_exports:
        print(f"expired data export: {key}")
    print(report.summary() + ("" if args.yes else "; run again with --yes to fix"))
    return 0


def cmd_retention_run(args: argparse.Namespace, settings: Settings) -> int:
    """One retention pass now, in this process (README: Retention and legal hold); --dry-run changes nothing."""
    from repo.database import Database
    from storage.backend import open_storage
    from workers.retention_job import run_pass

    with Database(_database(settings), settings, min_size=0, max_size=1) as db, db.acting_as_system():
        report = run_pass(db, open_storage(settings), settings, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for item in report.due:
        print(f"{verb}: {item.uuid} “{item.title}” of {item.owner_email}, due {item.due_at:%Y-%m-%d}")
        print(f"    under {item.policy_words()}")
    for item in report.held:
        print(f"held: {item.uuid} “{item.title}” of {item.owner_email}, due {item.due_at:%Y-%m-%d}")
        print(f"    hold: {item.hold_reason}")
    for item in report.waiting:
        print(f"due soon: {item.uuid} “{item.title}” of {item.owner_email}, due {item.due_at:%Y-%m-%d}")
    print(report.summary())
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    """Re-seal every stored api key: OPENTR_OLD_SECRET_KEY opens them, OPENTR_SECRET_KEY seals them again."""
    import os

    from credentials.sealing import DecryptionError
    from repo.database import Database
    from repo.llm_configs import rotate_keys
    from repo.two_factor import rotate_keys as rotate_two_factor_secrets

    new_key = settings.opentr_secret_key
    old_key = os.environ.get("OPENTR_OLD_SECRET_KEY")
    if not new_key:
        raise ConfigError("OPENTR_SECRET_KEY: required by keys rotate (the new master key)")
    if not old_key:
        raise ConfigError("OPENTR_OLD_SECRET_KEY: required by keys rotate (the master key the keys are sealed with)")
    if old_key == new_key:
        raise ConfigError("OPENTR_OLD_SECRET_KEY: is the same as OPENTR_SECRET_KEY; nothing to rotate")
    with Database(_database(settings), settings, min_size=1, max_size=1) as db:
        try:
            with db.transaction() as conn:
                count = rotate_keys(conn, old_key.encode(), new_key.encode())
                resealed = rotate_two_factor_secrets(conn, old_key.encode(), new_key.encode())  # step 19
        except DecryptionError as exc:
            print(f"opentr: nothing rotated: {exc}", file=sys.stderr)
            return 1
    print(f"re-sealed {count} api key(s) under the new master key")
    if resealed:
        print(f"re-sealed {resealed} two-factor secret(s) under the new master key")
    return 0


def cmd_import_opentranscribe(args: argparse.Namespace, settings: Settings) -> int:
    """Copy an OpenTranscribe database (and its media) into this one; a later run adds only what it never copied.
    The report goes to stdout in every case; exit 0: done, 3: done but rows marked ! need the operator, 1: stopped
    early (what was copied stays), 130/143: interrupted."""
    import os
    import signal

    from importers import copying, opentranscribe, opentranscribe_rows, opentranscribe_source, report, sources
    from repo.database import Database
    from storage.backend import open_storage

    if args.minio and not args.bucket:
        raise ConfigError("--bucket: required with --minio")
    objects: sources.ObjectSource | None = None
    if args.storage:
        objects = sources.DirectorySource(Path(args.storage))
    elif args.minio:
        objects = sources.MinioSource(args.minio, args.bucket)
    old_key = args.old_key or os.environ.get("OPENTRANSCRIBE_ENCRYPTION_KEY")
    try:
        old_keys = sources.OldKeys(old_key) if old_key else None
        source = opentranscribe_source.Source(args.database)
    except (ValueError, psycopg.OperationalError, opentranscribe_source.NotOpenTranscribe) as exc:
        raise ConfigError(str(exc).strip().splitlines()[-1]) from None

    class Terminated(KeyboardInterrupt):
        """SIGTERM (a service manager, `kill`): stop as Ctrl-C does, and still print the report."""

    def terminated(signum: int, _frame: object) -> None:
        raise Terminated(f"stopped by signal {signal.Signals(signum).name}")

    try:
        database, storage, master_key = _database(settings), open_storage(settings), settings.secret_key()
    except BaseException:
        source.close()
        raise
    previous = signal.signal(signal.SIGTERM, terminated)
    progress, outcome = report.Progress(), report.Report(source.version())
    try:
        with Database(database, settings, min_size=1, max_size=2) as db:
            copier = copying.Copier(db, opentranscribe_rows.SOURCE, outcome, progress)
            opentranscribe.Importer(source, copier, settings.storage_dir, storage, objects, master_key, old_keys).run()
    except (Exception, KeyboardInterrupt) as exc:
        progress.close()  # the report and the error start their own lines, never glued to a progress bar
        outcome.stopped = outcome.stopped or f"before the first table: {exc}"
        print(outcome.render(), flush=True)
        print(f"opentr: the import stopped {outcome.stopped}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130 if isinstance(exc, KeyboardInterrupt) else 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        source.close()
    progress.close()
    print(outcome.render())
    return 3 if outcome.needs_attention else 0


def cmd_models_pull(args: argparse.Namespace, settings: Settings) -> int:
    from asr import availability, models
    from embeddings.pull import EMBEDDING

    if args.name == EMBEDDING:
        return _pull_embedding(settings)
    try:
        path = models.pull(args.name, settings.asr_models_dir)
    except models.DownloadFailed as exc:
        ways = availability.ways_on_text()
        print(f"opentr: {exc}\nWithout the model hub, transcription can still run:\n{ways}", file=sys.stderr)
        return 1
    except models.PullFailed as exc:
        print(f"opentr: {exc}", file=sys.stderr)
        return 1
    print(f"speech model {args.name} is ready in {path}")
    return 0


def _pull_embedding(settings: Settings) -> int:
    from embeddings import pull

    try:
        path = pull.pull(settings)
    except pull.DownloadFailed as exc:
        print(
            f"opentr: {exc}\nWithout it, search by words works; search by meaning and questions stay off until the "
            "model is here (or OPENTR_EMBEDDING_MODEL names a directory holding model.onnx and tokenizer.json)",
            file=sys.stderr,
        )
        return 1
    except pull.PullFailed as exc:
        print(f"opentr: {exc}", file=sys.stderr)
        return 1
    print(f"embedding model {settings.opentr_embedding_model} is ready in {path}")
    return 0


def cmd_models_list(args: argparse.Namespace, settings: Settings) -> int:
    from asr import availability
    from embeddings import pull

    print(availability.listing(settings))
    print(pull.listing(settings))
    return 0


def cmd_embeddings_status(args: argparse.Namespace, settings: Settings) -> int:
    """What search by meaning has to work with: the model, pgvector, passages per model, the stale files."""
    from collections import Counter

    from embeddings.models import model_directory, model_name
    from repo import passages
    from repo.database import Database

    model, directory = model_name(settings), model_directory(settings)
    with Database(_database(settings), settings, min_size=0, max_size=1) as db, db.transaction() as conn:
        vector = passages.vector_search_available(conn)
        repo = passages.PassageRepository(conn)
        counts, stale = repo.counts_by_model(), repo.stale_files(model)
    here = "on this machine" if directory.is_dir() else "NOT on this machine: run `opentr models pull embedding`"
    print(f"model: {model} ({here}; {directory})")
    print("pgvector: yes, search by meaning is on" if vector else f"pgvector: no; {passages.SEARCH_BY_MEANING_OFF}")
    for count in counts:
        current = " (the configured model)" if count.model == model else ""
        print(f"passages of {count.model}{current}: {count.passages} in {count.files} file(s), {count.dimensions}-d")
    if not counts:
        print("passages: none yet")
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(Counter(f.reason for f in stale).items()))
    print(f"stale files: {len(stale)}" + (f" ({reasons}); `opentr embeddings rebuild` queues them" if stale else ""))
    return 0


def cmd_embeddings_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Queue an embedding job for every stale file: after a model change, or what a failed run left."""
    from embeddings.models import model_name
    from jobs.embeddings import enqueue_embedding, queue_stale
    from jobs.queues import redis_connection
    from repo.database import Database
    from repo.passages import PassageRepository, ensure_vector_index

    model = model_name(settings)
    with Database(_database(settings), settings, min_size=0, max_size=1) as db, db.transaction() as conn:
        queued, waiting = queue_stale(conn, model)
        # pgvector added since the passages were written: their dimensions' indexes are made now, not at the next job
        indexed = [
            c.dimensions for c in PassageRepository(conn).counts_by_model() if ensure_vector_index(conn, c.dimensions)
        ]
    redis = redis_connection(embedded.redis_url(settings))
    enqueued = sum(enqueue_embedding(redis, job) for job in queued)
    print(
        f"queued {len(queued)} file(s) to embed with {model}"
        + (f"; {waiting} had a job waiting already" if waiting else "")
        + (f"; {len(queued) - enqueued} wait for Redis (a worker enqueues them)" if enqueued < len(queued) else "")
    )
    if indexed:
        print(f"vector index (HNSW) ready for {', '.join(f'{n}-d' for n in sorted(set(indexed)))} passages")
    return 0


def _count(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 256:
        raise argparse.ArgumentTypeError(f"{raw!r}: a whole number from 1 to 256")
    return int(raw)


def _gpus(raw: str) -> str | tuple[str, ...]:
    from workers.gpus import GpuChoiceError, parse_gpus

    try:
        return parse_gpus(raw)
    except GpuChoiceError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r}: a port number from 1 to 65535")
    return int(raw)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="opentr", description="Self-hosted transcription platform")
    sub = top.add_subparsers(dest="command", required=True)
    dev = sub.add_parser(
        "dev",
        help="run PostgreSQL, Redis, the web app and a worker",
        description="Run everything on this machine: PostgreSQL and Redis (embedded ones under OPENTR_HOME unless "
        "DATABASE_URL / REDIS_URL are set), the schema on an empty database, the web app and one worker. Ctrl-C or "
        "closing the terminal stops all of it.",
    )
    dev.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the web app listens on (default: 127.0.0.1, this machine only; 0.0.0.0: every network)",
    )
    dev.add_argument("--port", type=_port, default=8000, help="port the web app listens on (default: 8000)")
    dev.add_argument("--no-worker", action="store_true", help="run no worker: uploads wait until one runs")
    dev.set_defaults(func=cmd_dev)
    reset = sub.add_parser("reset", help="reset dev: drop and rebuild the dev database")
    reset.add_argument("target", choices=["dev"], help="what to reset (only the dev database)")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(func=cmd_reset)

    db = sub.add_parser("db", help="schema and database tools").add_subparsers(dest="db_command", required=True)
    migrate = db.add_parser("migrate", help="back up, then apply pending migrations under an advisory lock")
    migrate.add_argument("--no-backup", action="store_true", help="migrate without taking a pg_dump backup first")
    migrate.add_argument(
        "--lock-timeout",
        type=float,
        default=600.0,
        help="seconds to wait for another migrator's lock before giving up (default: 600)",
    )
    migrate.add_argument("--hold", action="store_true", help="stay up after migrating (for Procfile runners)")
    migrate.set_defaults(func=cmd_migrate)
    db.add_parser("status", help="applied and pending migrations").set_defaults(func=cmd_status)
    db.add_parser("baseline", help="mark migrations applied on an init-SQL database").set_defaults(func=cmd_baseline)
    db.add_parser("check", help="init SQL == migrations; every query prepares").set_defaults(func=cmd_check)
    db.add_parser("inspect", help="tables, sizes, index use, slow queries, pool").set_defaults(func=cmd_inspect)
    dump = db.add_parser("backup", help="pg_dump the database")
    dump.add_argument("--output", "-o", help="the dump file (default: a dated file in OPENTR_HOME/backups)")
    dump.set_defaults(func=cmd_backup)
    restore = db.add_parser("restore", help="restore a backup")
    restore.add_argument("file", help="a dump written by `opentr db backup`")
    restore.add_argument("--into", help="restore into this new database instead of over the configured one")
    restore.add_argument("--yes", action="store_true", help="overwrite the configured database without asking")
    restore.set_defaults(func=cmd_restore)

    user = sub.add_parser("user", help="user accounts").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user (asks for the password)")
    create.add_argument("--email", required=True, help="the address the user signs in with")
    create.add_argument("--full-name", default="", help="the name shown in the interface")
    create.add_argument("--admin", action="store_true", help="make the user an administrator")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(func=cmd_user_create)

    worker = sub.add_parser("worker", help="an RQ worker on the project's queues")
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.add_argument("--no-recovery", action="store_true", help="do not look for stuck files at start")
    worker.add_argument(
        "--processes",
        type=_count,
        help="job processes under this supervisor (default: one per GPU --gpus assigns, else 1)",
    )
    worker.add_argument(
        "--gpus",
        type=_gpus,
        default="auto",
        help="the GPU of each job process, as its only visible one (CUDA_VISIBLE_DEVICES): auto (default: every GPU "
        "when OPENTR_ASR_DEVICE is auto or cuda), a list such as 0,1 (processes take them in turn), or none",
    )
    worker.set_defaults(func=cmd_worker)
    serve = sub.add_parser("serve", help="the web app under uvicorn, in N processes")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every network)",
    )
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000)")
    serve.add_argument(
        "--workers", type=_count, default=1, help="uvicorn processes, each with its own pool (default: 1)"
    )
    serve.set_defaults(func=cmd_serve)
    keys = sub.add_parser("keys", help="the master key that seals stored secrets").add_subparsers(
        dest="keys_command", required=True
    )
    rotate = keys.add_parser("rotate", help="re-seal every api key: OPENTR_OLD_SECRET_KEY -> OPENTR_SECRET_KEY")
    rotate.set_defaults(func=cmd_keys_rotate)
    speech = sub.add_parser("models", help="speech, diarization and embedding models").add_subparsers(
        dest="models_command", required=True
    )
    pull = speech.add_parser(
        "pull", help="download a faster-whisper model into OPENTR_ASR_MODELS_DIR, or the embedding model"
    )
    pull.add_argument(
        "name",
        help="a size name (tiny, small, large-v3, ...), a Hugging Face id (org/name), `diarization` for the "
        "speaker-diarization models, or `embedding` for the search-by-meaning model (OPENTR_EMBEDDING_MODEL)",
    )
    pull.set_defaults(func=cmd_models_pull)
    listed = speech.add_parser(
        "list",
        help="the speech, diarization and embedding models on this machine, and whether transcription can run",
    )
    listed.set_defaults(func=cmd_models_list)
    imports = sub.add_parser("import", help="bring data over from another platform").add_subparsers(
        dest="import_command", required=True
    )
    ot = imports.add_parser(
        "opentranscribe",
        help="copy an OpenTranscribe database and its media",
        description="Copy an OpenTranscribe database and its media. Run it again at any time: it adds only rows it "
        "never copied, never puts back what users deleted here, never overwrites what they changed. The report "
        "(stdout) comes at the end in every case; progress goes to stderr.",
        epilog="exit status: 0 done; 3 done, but lines marked ! in the report need you (correct those rows in "
        "OpenTranscribe, then run again); 1 stopped early (run again to go on); 130/143 interrupted",
    )
    ot.add_argument("--database", required=True, help="the OpenTranscribe PostgreSQL URL (read only)")
    objects = ot.add_mutually_exclusive_group()
    objects.add_argument("--storage", help="a directory holding its MinIO objects (a copy of the bucket)")
    objects.add_argument("--minio", help="its MinIO server, http://ACCESS:SECRET@host:9000 (needs `pip install minio`)")
    ot.add_argument("--bucket", help="the MinIO bucket (with --minio)")
    ot.add_argument("--old-key", help="its ENCRYPTION_KEY, to carry api keys over (or OPENTRANSCRIBE_ENCRYPTION_KEY)")
    ot.set_defaults(func=cmd_import_opentranscribe)
    clean = sub.add_parser(
        "cleanup",
        help="report (and with --yes fix) stray storage files, missing media and sign-in tokens long expired",
    )
    clean.add_argument(
        "--yes",
        action="store_true",
        help="remove stray files, mark rows with missing media, delete tokens expired over a week ago",
    )
    clean.set_defaults(func=cmd_cleanup)
    retention = sub.add_parser("retention", help="recordings deleted on schedule").add_subparsers(
        dest="retention_command", required=True
    )
    once = retention.add_parser("run", help="one retention pass now: notices, deletions, the audit log's own purge")
    once.add_argument("--dry-run", action="store_true", help="list what would be deleted and held; change nothing")
    once.set_defaults(func=cmd_retention_run)
    meaning = sub.add_parser("embeddings", help="search by meaning: passages and their vectors").add_subparsers(
        dest="embeddings_command", required=True
    )
    meaning.add_parser(
        "status", help="the embedding model, pgvector, passages per model and the files whose passages are stale"
    ).set_defaults(func=cmd_embeddings_status)
    meaning.add_parser(
        "rebuild", help="queue every stale file (no passages, another model, an older transcript) to be embedded"
    ).set_defaults(func=cmd_embeddings_rebuild)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("opentr").setLevel(logging.INFO)
    try:
        settings = load_settings()
        from repo.statements import set_slow_query_ms

        set_slow_query_ms(settings.db_slow_query_ms)
        code: int = args.func(args, settings)
    except ConfigError as exc:
        print(f"opentr: error: {exc}", file=sys.stderr)
        return 2
    except (DataError, FileNotFoundError, schema.MigrationLockTimeout, RuntimeError) as exc:
        print(f"opentr: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
