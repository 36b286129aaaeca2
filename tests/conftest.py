"""Real servers for the tests: the ones named by DATABASE_URL / REDIS_URL, else embedded ones started here.

Every test gets its own database state: `fresh_url` is a new database cloned from a template built once from
sql/init_db.sql, and `conn` is a connection inside a transaction that is rolled back after the test.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from config.settings import Settings
from embedded import servers as embedded
from repo import schema
from repo.database import Database
from tests.database_recycling import DatabaseRecycler
from tests.tiny_diarization import build_tiny_diarization
from tests.tiny_embedding import build_tiny_embedding
from tests.tiny_whisper import build_tiny_whisper

TEST_REDIS_DB = int(os.environ.get("OPENTR_TEST_REDIS_DB", "15"))
# CI runs the suite twice (.ci/run): on the embedded servers, then on the machine's own PostgreSQL and Redis. The
# second pass sets this and runs only what can differ between server kinds: it leaves out the tests marked
# `same_on_every_server` (they reach no server DATABASE_URL / REDIS_URL name: pure code, or servers they start
# themselves) and `renders_pages` (a browser's rendering), which the first pass has run.
SERVER_DEPENDENT_ONLY = os.environ.get("OPENTR_TEST_SERVER_DEPENDENT_ONLY") == "1"
SERVER_FIXTURES = frozenset({"server_url", "redis_url"})


def _create_database(admin: str, name: str, template: str | None = None) -> None:
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(query)


def _drop_database(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _without_durability(admin: str) -> None:
    """A server the tests started for themselves (never one DATABASE_URL names) forgoes durability: every test
    creates and drops a database and commits often, and waiting for the disk each time bought nothing here, where a
    crash loses only the test run (dropping a database went from 184 to 32 ms; creating one stays ~0.8 s). The tests
    that prove what survives a crash start servers of their own (tests/fault_support.py)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        for name, value in (("fsync", "off"), ("synchronous_commit", "off"), ("full_page_writes", "off")):
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin conninfo (database `postgres`) of the server the tests use."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield schema.with_database(external, "postgres")
        return
    # Not under pytest's basetemp: a concurrent pytest session may prune old basetemps while we run.
    home = Path(tempfile.mkdtemp(prefix="opentr-test-pg-"))
    url = embedded.start_postgres(home / "data", database="postgres")
    _without_durability(schema.with_database(url, "postgres"))
    yield schema.with_database(url, "postgres")
    embedded.stop_all()
    shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def _template(server: str, prefix: str) -> Iterator[str]:
    """A database with the whole schema (built from the init SQL, baselined), that tests' databases are copied from."""
    name = f"{prefix}_{secrets.token_hex(3)}"
    _create_database(server, name)
    url = schema.with_database(server, name)
    schema.build_from_init_sql(url)
    schema.baseline(url)
    yield name
    _drop_database(server, name)


@pytest.fixture(scope="session")
def template_name(server_url: str) -> Iterator[str]:
    with _template(server_url, "opentr_test_tmpl") as name:
        yield name


@pytest.fixture(scope="session")
def vector_server_url(server_url: str) -> Iterator[str]:
    """Admin conninfo of a server with pgvector: the configured one if it has it, else an embedded one started for
    the tests that need it (Debian 12 packages no pgvector for the machine's PostgreSQL 15; pgserver bundles it)."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        has_vector = admin.execute("SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector')")
        if (has_vector.fetchone() or (False,))[0]:
            yield server_url
            return
    home = Path(tempfile.mkdtemp(prefix="opentr-test-pgvector-"))
    started = schema.with_database(embedded.start_postgres(home / "data", database="postgres"), "postgres")
    _without_durability(started)
    yield started
    embedded.stop_all()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def vector_template_name(vector_server_url: str) -> Iterator[str]:
    with _template(vector_server_url, "opentr_test_vtmpl") as name:
        yield name


@pytest.fixture
def vector_url(vector_server_url: str, vector_template_name: str) -> Iterator[str]:
    """A new database with the whole schema and pgvector, dropped after the test."""
    name = f"opentr_test_v_{secrets.token_hex(4)}"
    _create_database(vector_server_url, name, vector_template_name)
    yield schema.with_database(vector_server_url, name)
    _drop_database(vector_server_url, name)


@pytest.fixture
def without_vector_url(fresh_url: str) -> str:
    """A new database with the whole schema as on a server without pgvector (the extension not in it)."""
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("DROP EXTENSION IF EXISTS vector CASCADE")  # and the passages' generated vector column
    return fresh_url


@pytest.fixture(scope="session")
def recycler(server_url: str, template_name: str) -> Iterator[DatabaseRecycler]:
    recycling = DatabaseRecycler(server_url, schema.with_database(server_url, template_name), template_name)
    yield recycling
    recycling.close()


@pytest.fixture
def fresh_url(server_url: str, recycler: DatabaseRecycler) -> Iterator[str]:
    """A database with the whole schema in the template's state: a new copy, or one an earlier test gave back and
    that was reset to exactly that state (tests/database_recycling.py); dropped when it cannot be."""
    name = recycler.take(f"opentr_test_{secrets.token_hex(4)}")
    url = schema.with_database(server_url, name)
    yield url
    recycler.give_back(name, url)


@pytest.fixture
def empty_url(server_url: str) -> Iterator[str]:
    """A new, empty database, dropped after the test."""
    name = f"opentr_test_empty_{secrets.token_hex(4)}"
    _create_database(server_url, name)
    yield schema.with_database(server_url, name)
    _drop_database(server_url, name)


@pytest.fixture(scope="session")
def shared_url(server_url: str, template_name: str) -> Iterator[str]:
    name = f"opentr_test_shared_{secrets.token_hex(3)}"
    _create_database(server_url, name, template_name)
    yield schema.with_database(server_url, name)
    _drop_database(server_url, name)


@pytest.fixture
def conn(shared_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose every change is rolled back after the test."""
    with psycopg.connect(shared_url, autocommit=True) as connection, connection.transaction(force_rollback=True):
        yield connection


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(opentr_home=tmp_path / "home", db_pool_min=1, db_pool_max=4, db_pool_timeout=5)


@pytest.fixture
def db(fresh_url: str, settings: Settings) -> Iterator[Database]:
    with Database(fresh_url, settings, application_name="opentr-test") as database:
        yield database


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    external = os.environ.get("REDIS_URL")
    if external:
        from redis import Redis

        base = external.split("?")[0].rstrip("/")
        if base.startswith(("redis://", "rediss://")) and base.count("/") > 2:
            base = base.rsplit("/", 1)[0]
        url = f"{base}/{TEST_REDIS_DB}"
        Redis.from_url(url).flushdb()
        yield url
        Redis.from_url(url).flushdb()
        return
    home = Path(tempfile.mkdtemp(prefix="opentr-test-redis-"))
    yield embedded.start_redis(home / "redis")  # a folder inside: its lock files, beside it, go with `home`
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def app_settings(fresh_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=schema.to_url(fresh_url),
        redis_url=redis_url,
        opentr_home=tmp_path / "home",
        db_pool_min=1,
        db_pool_max=4,
        db_pool_timeout=5,
    )


@pytest.fixture
def client(app_settings: Settings) -> Iterator[Any]:
    """An HTTP client driving the whole app (lifespan included) on the test's own database."""
    from starlette.testclient import TestClient

    from web.app import create_app

    with TestClient(create_app(app_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~2 MB random-weight Whisper model in CTranslate2 format, built offline once (tests/tiny_whisper.py)."""
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper"))


@pytest.fixture(scope="session")
def tiny_multilingual_whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same with Whisper's language tokens, so faster-whisper detects a language (a random one)."""
    return build_tiny_whisper(tmp_path_factory.mktemp("tiny-whisper-multi"), multilingual=True)


@pytest.fixture(scope="session")
def tiny_embedding_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ~440 KB random-weight sentence-embedding model (64-d), built offline once (tests/tiny_embedding.py); point
    OPENTR_EMBEDDING_MODEL (settings.opentr_embedding_model) at this directory to use it."""
    return build_tiny_embedding(tmp_path_factory.mktemp("tiny-embedding") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_diarization_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(segmentation, embedding): two ~20 KB ONNX models sherpa-onnx diarizes tones with (tests/tiny_diarization.py)."""
    return build_tiny_diarization(tmp_path_factory.mktemp("tiny-diarization"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that says it reaches no configured server must not ask for one; the second pass leaves such tests out."""
    wrong = [
        item.nodeid
        for item in items
        if item.get_closest_marker("same_on_every_server") and SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
    ]
    if wrong:
        raise pytest.UsageError(f"marked same_on_every_server but uses the configured servers: {', '.join(wrong)}")
    if not SERVER_DEPENDENT_ONLY:
        return
    kept: list[pytest.Item] = []
    left: list[pytest.Item] = []
    for item in items:
        same = item.get_closest_marker("same_on_every_server") or item.get_closest_marker("renders_pages")
        (left if same else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say where the browser tests put their screenshots (CI keeps that folder)."""
    browser = sys.modules.get("tests.browser_support")
    taken = getattr(browser, "TAKEN", [])
    if taken:
        terminalreporter.write_line(f"screenshots ({len(taken)}): {taken[0].parent}")
