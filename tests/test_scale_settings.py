"""The settings of a deployment past one machine: bad values name their variable; a pooler in front turns off
prepared statements and the `options` startup parameter PgBouncer refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ConfigError, Settings, load_settings
from repo.database import connection_kwargs

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

POOLER = "postgresql://opentr@127.0.0.1:6432/opentr"
DIRECT = "postgresql://opentr@127.0.0.1:5432/opentr"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_REPLICA_URLS": f"{DIRECT},mysql://x"}, "DATABASE_REPLICA_URLS: Value error, must be a postgresql"),
        ({"DATABASE_DIRECT_URL": "localhost:5432"}, "DATABASE_DIRECT_URL: Value error, must be a postgresql"),
        ({"OPENTR_STORAGE_URL": "minio://bucket"}, "OPENTR_STORAGE_URL: Value error, must be an s3://bucket"),
        ({"OPENTR_STORAGE_URL": "s3:///prefix"}, "OPENTR_STORAGE_URL: Value error, must be an s3://bucket"),
        ({"DB_REPLICA_MAX_LAG": "0"}, "DB_REPLICA_MAX_LAG: Input should be greater than 0"),
        ({"DB_PREPARED_STATEMENTS": "maybe"}, "DB_PREPARED_STATEMENTS: Input should be 'auto', 'on' or 'off'"),
        (
            {"OPENTR_S3_ENDPOINT_URL": "minio:9000"},
            "OPENTR_S3_ENDPOINT_URL: Value error, must be an http:// or https://",
        ),
        ({"OPENTR_S3_ACCESS_KEY": "AKIA-only"}, "OPENTR_S3_SECRET_KEY: required with OPENTR_S3_ACCESS_KEY"),
        ({"OPENTR_S3_SECRET_KEY": "s3cret-only"}, "OPENTR_S3_ACCESS_KEY: required with OPENTR_S3_SECRET_KEY"),
    ],
)
def test_bad_scale_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    monkeypatch.setenv("OPENTR_HOME", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value).startswith(message), str(raised.value)


def test_replica_urls_are_a_comma_separated_list(tmp_path: Path) -> None:
    settings = Settings(opentr_home=tmp_path, database_replica_urls=f" {DIRECT} , {POOLER},")
    assert settings.replica_urls == [DIRECT, POOLER]


def test_behind_a_pooler_no_prepared_statements_and_no_options_parameter(tmp_path: Path) -> None:
    pooled = Settings(opentr_home=tmp_path, database_url=POOLER, database_direct_url=DIRECT)
    kwargs = connection_kwargs(pooled, "opentr-web")
    assert kwargs["prepare_threshold"] is None and "options" not in kwargs
    assert pooled.direct_url == DIRECT

    newer_pgbouncer = pooled.model_copy(update={"db_prepared_statements": "on"})
    assert "prepare_threshold" not in connection_kwargs(newer_pgbouncer, "opentr-web")

    direct = Settings(opentr_home=tmp_path, database_url=DIRECT)
    plain = connection_kwargs(direct, "opentr-web")
    assert "prepare_threshold" not in plain and plain["options"] == "-c statement_timeout=30000"
    assert direct.direct_url == DIRECT


FAILOVER_PAIR = "postgresql://opentr@db-a:5432,db-b:5433/opentr"


def test_a_multi_host_url_reaches_the_writable_host(tmp_path: Path) -> None:
    """Several hosts and no target_session_attrs: read-write is added, so the pool, LISTEN and the jobs' advisory
    locks never land on a standby (tests/test_fault_failover.py shows it on real servers)."""
    settings = Settings(
        opentr_home=tmp_path, database_url=FAILOVER_PAIR, database_direct_url=f"{FAILOVER_PAIR}?connect_timeout=3"
    )
    assert settings.database_url == f"{FAILOVER_PAIR}?target_session_attrs=read-write"
    assert settings.database_direct_url == f"{FAILOVER_PAIR}?connect_timeout=3&target_session_attrs=read-write"
    chosen = f"{FAILOVER_PAIR}?target_session_attrs=primary"
    assert Settings(opentr_home=tmp_path, database_url=chosen).database_url == chosen
    assert Settings(opentr_home=tmp_path, database_url=DIRECT).database_url == DIRECT  # one host: as given


@pytest.mark.parametrize("attrs", ["any", "standby", "prefer-standby", "read-only"])
def test_a_multi_host_url_that_may_pick_a_standby_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, attrs: str
) -> None:
    monkeypatch.setenv("OPENTR_HOME", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"{FAILOVER_PAIR}?target_session_attrs={attrs}")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(raised.value).startswith(
        f"DATABASE_URL: Value error, names several hosts with target_session_attrs={attrs}: use read-write"
    ), str(raised.value)


def test_replica_urls_may_name_several_hosts_each(tmp_path: Path) -> None:
    standbys = "postgresql://opentr@db-b:5432,db-c:5432/opentr?target_session_attrs=prefer-standby"
    settings = Settings(opentr_home=tmp_path, database_replica_urls=f"{standbys}, {DIRECT}")
    assert settings.replica_urls == [standbys, DIRECT]
