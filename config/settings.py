"""One validated settings object, read from the environment; a bad value is one line naming the variable.

Validated at start means true at start: a value that could only fail later (in every job, at every upload) is
refused by `load_settings`, and the command exits 2 with that line."""

from __future__ import annotations

import json
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from config.directories import LdapDirectory, unique_names
from outbound import addresses
from outbound.mail import MailServer


class ConfigError(Exception):
    """The settings are wrong; the message is one line meant for the operator."""


PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "database_direct_url": "DATABASE_DIRECT_URL",
    "database_replica_urls": "DATABASE_REPLICA_URLS",
    "redis_url": "REDIS_URL",
    "opentr_secret_key": "OPENTR_SECRET_KEY",
    "opentr_storage_dir": "OPENTR_STORAGE_DIR",
    "opentr_home": "OPENTR_HOME",
    "opentr_env": "OPENTR_ENV",
}

ComputeType = Literal[
    "default",
    "auto",
    "int8",
    "int8_float16",
    "int8_float32",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
]

SWITCH_ON = frozenset({"on", "1", "true", "yes"})
SWITCH_OFF = frozenset({"off", "0", "false", "no"})

# The speech engines asr/ builds (asr.speech_engine); any other name would fail every job, so it fails the start.
ASR_ENGINES = ("faster-whisper", "openai")


def _postgres_url(value: str | None) -> str | None:
    if value in (None, ""):
        return None
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URL")
    return value


# Between the URLs of a list, a comma is followed by the next URL's scheme; inside a multi-host URL
# (postgresql://u@h1:5432,h2:5432/db) it is followed by a host.
_URL_LIST_COMMA = re.compile(r",(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")
READS_FROM_A_STANDBY = frozenset({"any", "read-only", "standby", "prefer-standby"})


def split_urls(value: str | None) -> list[str]:
    return [url.strip().rstrip(",").strip() for url in _URL_LIST_COMMA.split(value or "") if url.strip(" ,")]


def _primary_url(value: str | None) -> str | None:
    """A URL of the primary. Naming several hosts (a failover pair), it must make libpq pick the writable one:
    `target_session_attrs=read-write` is added when the URL says nothing of it, and a value that may pick a standby
    is refused. Otherwise writes, LISTEN and the jobs' advisory locks would land on whichever host answered first --
    after a failover, possibly a standby, where an advisory lock is taken without conflicting with the primary's."""
    url = _postgres_url(value)
    if url is None:
        return None
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"is not a valid PostgreSQL URL ({str(exc).strip().splitlines()[0]})") from None
    if "," not in str(params.get("host") or params.get("hostaddr") or ""):
        return url
    attrs = params.get("target_session_attrs")
    if attrs is None:
        return url + ("&" if "?" in url else "?") + "target_session_attrs=read-write"
    if attrs in READS_FROM_A_STANDBY:
        raise ValueError(f"names several hosts with target_session_attrs={attrs}: use read-write (or primary)")
    return url


# --- Single sign-on with OpenID Connect (web/oidc_client.py, web/ui/oidc.py) ---------------------------------------
class OidcProvider(BaseModel):
    """One OpenID provider of OPENTR_OIDC_PROVIDERS (a JSON list of these objects)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")  # in addresses (/signin/oidc/<name>) and in `oidc:<name>`
    label: str = Field(min_length=1, max_length=80)  # the button's text: "Sign in with <label>", any script
    issuer: str  # exactly as the provider's discovery document and ID tokens say it
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    scopes: str = "openid email profile"
    groups_claim: str = Field(default="groups", min_length=1)
    group_map: dict[str, str] = Field(default_factory=dict)  # provider group -> platform group name
    admin_groups: list[str] = Field(default_factory=list)  # empty: the provider does not decide who is admin
    create_accounts: bool = True
    link_by_email: bool = True

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or "?" in value or "#" in value:
            raise ValueError("issuer must be an http:// or https:// URL without query or fragment")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("scopes must include openid")
        return value

    @field_validator("group_map")
    @classmethod
    def _group_map(cls, value: dict[str, str]) -> dict[str, str]:
        for target in value.values():
            if not target.strip() or len(target) > 200:
                raise ValueError("group_map: each platform group name must be 1 to 200 characters")
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    database_url: str | None = None
    # Behind a transaction pooler: session features (advisory locks, LISTEN, migrations) need a real session.
    database_direct_url: str | None = None
    # comma-separated (a multi-host URL among them keeps its own commas); read-only work goes there (repo/replicas.py)
    database_replica_urls: str | None = None
    db_replica_max_lag: float = Field(default=10.0, gt=0, le=3600)  # seconds behind the primary before skipped
    # auto: off when DATABASE_DIRECT_URL names another server than DATABASE_URL (a pooler such as PgBouncer < 1.21
    # in transaction mode, where a prepared statement may meet another server connection); on: PgBouncer >= 1.21
    # with max_prepared_statements set.
    db_prepared_statements: Literal["auto", "on", "off"] = "auto"
    opentr_storage_url: str | None = None  # s3://bucket/prefix; unset: the local OPENTR_STORAGE_DIR
    opentr_s3_endpoint_url: str | None = None  # MinIO, Garage, SeaweedFS…; unset: AWS
    opentr_s3_region: str = "us-east-1"
    opentr_s3_access_key: str | None = None  # unset: boto3's own chain (AWS_ACCESS_KEY_ID, instance roles…)
    opentr_s3_secret_key: SecretStr | None = None
    redis_url: str | None = None
    opentr_secret_key: str | None = None
    opentr_env: Literal["dev", "production"] = "dev"
    opentr_home: Path = Field(default_factory=lambda: Path.cwd() / ".opentr")
    opentr_storage_dir: Path | None = None
    opentr_max_upload_mb: int = Field(default=2048, ge=1)
    # one of ASR_ENGINES, in any case; used when an upload comes without a transcript sidecar
    opentr_asr_engine: str = "faster-whisper"
    opentr_job_keepalive_seconds: int = Field(default=10, ge=1, le=3600)
    opentr_maintenance_seconds: float = Field(default=10.0, gt=0, le=3600)
    opentr_progress_seconds: float = Field(default=2.0, gt=0, le=600)  # how often a long step writes progress
    opentr_schema_wait_seconds: float = Field(default=300.0, ge=0, le=86400)
    opentr_llm_timeout_seconds: float = Field(default=120.0, gt=0)
    # Imports from a URL never reach loopback/private/link-local addresses unless allowed: 1, or a list of networks.
    opentr_allow_private_urls: str = ""
    # LLM servers on the private network (a self-hosted Ollama) stay allowed unless the deployment says 0.
    opentr_llm_allow_private: bool = True
    # Public links (web/public_links.py): requests per minute (a fixed window in Redis) from one client address, and
    # to one link from everywhere; over either, 429 with Retry-After. A video player's range requests count too.
    opentr_public_link_rate_per_address: int = Field(default=120, ge=1, le=1_000_000)
    opentr_public_link_rate_per_link: int = Field(default=600, ge=1, le=1_000_000)
    db_pool_min: int = Field(default=1, ge=0, le=100)
    db_pool_max: int = Field(default=10, ge=1, le=200)
    db_pool_timeout: float = Field(default=10.0, gt=0)
    db_max_lifetime: float = Field(default=3600.0, gt=0)
    db_max_idle: float = Field(default=600.0, gt=0)
    db_statement_timeout: int = Field(default=30_000, ge=0, description="milliseconds; 0 disables")
    db_slow_query_ms: float = Field(default=500.0, ge=0)
    opentr_asr_model: str = Field(default="small", min_length=1)  # a size name, a hub id or a model directory
    opentr_asr_device: Literal["auto", "cpu", "cuda"] = "auto"
    opentr_asr_compute_type: ComputeType | None = None  # None: int8 on CPU, float16 on GPU
    opentr_asr_models_dir: Path | None = None
    opentr_asr_beam_size: int = Field(default=5, ge=1, le=20)
    opentr_asr_vad: bool = True  # accepts on/off, true/false, 1/0
    # Re-decode a window at higher temperatures when greedy output looks wrong (faster-whisper's default); off is
    # faster on a slow CPU, at some cost in quality on hard audio.
    opentr_asr_temperature_fallback: bool = True
    # faster-whisper's batched pipeline: each window cut into chunks of at most 30 s of speech (voice activity; fixed
    # 30 s pieces with OPENTR_ASR_VAD off), OPENTR_ASR_BATCH_SIZE chunks decoded at once. auto: on when the model
    # runs on a GPU. Also accepts true/false, 1/0, yes/no.
    opentr_asr_batched: Literal["auto", "on", "off"] = "auto"
    opentr_asr_batch_size: int = Field(default=8, ge=1, le=64)  # bounds GPU memory: chunks decoded together
    opentr_asr_remote_url: str | None = None
    opentr_asr_remote_model: str = Field(default="whisper-1", min_length=1)
    opentr_asr_remote_key: SecretStr | None = None
    opentr_asr_remote_max_upload_mb: float = Field(default=24.0, gt=0, le=1024)
    opentr_asr_remote_timeout_seconds: float = Field(default=600.0, gt=0)
    # Search by meaning and questions (embeddings/): a known model name, a Hugging Face id of an ONNX export, or a
    # directory holding model.onnx (or onnx/model.onnx) and tokenizer.json. Multilingual by default: people write in
    # every script. `opentr models pull embedding` fetches it into <models dir>/embedding/.
    opentr_embedding_model: str = Field(default="intfloat/multilingual-e5-small", min_length=1)
    opentr_embedding_threads: int = Field(default=1, ge=1, le=64)  # ONNX Runtime threads per process
    opentr_diarization: Literal["auto", "off"] = "auto"
    opentr_diarization_segmentation_model: Path | None = None  # default: <models dir>/diarization/segmentation.onnx
    opentr_diarization_embedding_model: Path | None = None  # default: <models dir>/diarization/embedding.onnx
    opentr_diarization_threshold: float = Field(default=0.5, gt=0, lt=2)  # cosine distance: one speaker below it
    opentr_diarization_block_seconds: float = Field(default=600.0, ge=1, le=86400)
    # Step 19, mail and password resets (outbound/mail.py, web/password_reset.py): the SMTP server mail goes out
    # through (no host: no mail, and a reset request answers 503), and the address links in mails point at.
    opentr_smtp_host: str | None = None
    opentr_smtp_port: int = Field(default=587, ge=1, le=65535)
    opentr_smtp_username: str | None = None
    opentr_smtp_password: SecretStr | None = None
    opentr_smtp_starttls: bool = True  # upgrade a plain connection with STARTTLS (ignored with SSL)
    opentr_smtp_ssl: bool = False  # TLS from the first byte (port 465)
    opentr_smtp_from: str = Field(default="opentr@localhost", min_length=3, max_length=320)
    opentr_smtp_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    opentr_public_url: str | None = None  # e.g. https://transcripts.example.org; unset: the request's own origin
    opentr_password_reset_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 86400)
    # Directory sign-in (web/directory_signin.py): a JSON list of directories (config/directories.py), tried in
    # order for a name that is not a local password account; empty: passwords only.
    opentr_ldap_providers: Annotated[list[LdapDirectory], NoDecode] = Field(default_factory=list)

    @field_validator("opentr_ldap_providers", mode="before")
    @classmethod
    def _ldap_json(cls, value: Any) -> Any:
        """JSON from the environment, read here so a malformed value is a line naming the setting."""
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else []
            except ValueError as exc:
                raise ValueError(f"not valid JSON ({exc})") from None
            if not isinstance(value, list):
                raise ValueError("expected a JSON list of directories")
        return value

    @field_validator("opentr_ldap_providers")
    @classmethod
    def _ldap_names(cls, value: list[LdapDirectory]) -> list[LdapDirectory]:
        return unique_names(value)

    # Single sign-on: a JSON list of OpenID providers (OidcProvider above); each gets a button on the sign-in page.
    opentr_oidc_providers: list[OidcProvider] = Field(default_factory=list)
    opentr_oidc_timeout_seconds: float = Field(default=10.0, gt=0, le=120)  # each request to a provider

    # Retention (README: Retention and legal hold): how often maintenance queues a retention run, how many days
    # before deletion an owner is told (0: no notice, deleted when due), how many files one transaction deletes, and
    # how long the audit log keeps its rows (0: forever).
    opentr_retention_interval_seconds: float = Field(default=3600.0, gt=0, le=7 * 86400)
    opentr_retention_notice_days: int = Field(default=7, ge=0, le=365)
    opentr_retention_batch: int = Field(default=200, ge=1, le=10000)
    opentr_audit_retention_days: int = Field(default=365, ge=0, le=36500)

    @field_validator("database_url", "database_direct_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return _primary_url(value)

    @field_validator("database_replica_urls")
    @classmethod
    def _replica_urls(cls, value: str | None) -> str | None:
        for url in split_urls(value):
            _postgres_url(url)
        return value or None

    @field_validator("opentr_storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith("s3://") or not value[5:].split("/")[0]:
            raise ValueError("must be an s3://bucket[/prefix] URL")
        return value.rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("opentr_allow_private_urls")
    @classmethod
    def _allowance(cls, value: str) -> str:
        addresses.parse_allowance(value)  # raises naming the bad part
        return value

    @property
    def url_allowance(self) -> addresses.Allowance:
        return addresses.parse_allowance(self.opentr_allow_private_urls)

    @property
    def llm_allowance(self) -> addresses.Allowance:
        return addresses.parse_allowance(self.opentr_llm_allow_private or self.opentr_allow_private_urls)

    @field_validator("opentr_asr_engine", mode="before")
    @classmethod
    def _asr_engine(cls, value: Any) -> Any:
        name = value.strip().lower() if isinstance(value, str) else value
        if name not in ASR_ENGINES:
            raise ValueError(f"expected one of {', '.join(ASR_ENGINES)}; got {value!r}")
        return name

    @field_validator("opentr_asr_batched", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        """auto | on | off, in any case, with the spellings a boolean setting accepts (OPENTR_ASR_VAD=1)."""
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        return "on" if word in SWITCH_ON else "off" if word in SWITCH_OFF else word

    @field_validator("opentr_asr_remote_url", "opentr_s3_endpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("opentr_oidc_providers")
    @classmethod
    def _oidc_names(cls, value: list[OidcProvider]) -> list[OidcProvider]:
        names = [provider.name for provider in value]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"the provider name {name!r} is used twice")
        return value

    def oidc_provider(self, name: str) -> OidcProvider | None:
        return next((provider for provider in self.opentr_oidc_providers if provider.name == name), None)

    @property
    def replica_urls(self) -> list[str]:
        return split_urls(self.database_replica_urls)

    @property
    def direct_url(self) -> str | None:
        """Where session-level features go: DATABASE_DIRECT_URL, else DATABASE_URL itself (no pooler)."""
        return self.database_direct_url or self.database_url

    @property
    def behind_pooler(self) -> bool:
        """DATABASE_DIRECT_URL names another server than DATABASE_URL: the latter is a (transaction) pooler."""
        return bool(self.database_direct_url) and self.database_direct_url != self.database_url

    @property
    def prepared_statements(self) -> bool:
        if self.db_prepared_statements == "auto":
            return not self.behind_pooler
        return self.db_prepared_statements == "on"

    @property
    def asr_models_dir(self) -> Path:
        return self.opentr_asr_models_dir or self.opentr_home / "models"

    @property
    def diarization_segmentation_model(self) -> Path:
        return self.opentr_diarization_segmentation_model or self.asr_models_dir / "diarization" / "segmentation.onnx"

    @property
    def diarization_embedding_model(self) -> Path:
        return self.opentr_diarization_embedding_model or self.asr_models_dir / "diarization" / "embedding.onnx"

    @property
    def embedding_models_dir(self) -> Path:
        return self.asr_models_dir / "embedding"

    @property
    def storage_dir(self) -> Path:
        return self.opentr_storage_dir or self.opentr_home / "storage"

    @property
    def mail_server(self) -> MailServer | None:
        """Where mail goes out (outbound/mail.py); None: no SMTP host configured, no mail sent."""
        if not self.opentr_smtp_host:
            return None
        return MailServer(
            host=self.opentr_smtp_host,
            port=self.opentr_smtp_port,
            username=self.opentr_smtp_username or None,
            password=self.opentr_smtp_password.get_secret_value() if self.opentr_smtp_password else None,
            starttls=self.opentr_smtp_starttls,
            ssl=self.opentr_smtp_ssl,
            sender=self.opentr_smtp_from,
            timeout=self.opentr_smtp_timeout_seconds,
        )

    @property
    def is_production(self) -> bool:
        return self.opentr_env == "production"

    def secret_key(self) -> bytes:
        """The master key; dev keeps a generated one under OPENTR_HOME, production must be given one."""
        if self.opentr_secret_key:
            return self.opentr_secret_key.encode()
        if self.is_production:
            raise ConfigError("OPENTR_SECRET_KEY: required when OPENTR_ENV=production")
        path = self.opentr_home / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip().encode()


def load_settings() -> Settings:
    """Read the environment; a bad value becomes one ConfigError line naming the variable."""
    try:
        settings = Settings()
    except SettingsError as exc:  # a JSON setting that is not JSON: pydantic-settings' message names the field
        field = str(exc).partition('field "')[2].partition('"')[0]
        raise ConfigError(f"{ENV_NAMES.get(field, field.upper())}: not valid JSON") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        name = ENV_NAMES.get(field, field.upper())
        inside = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"][1:])
        raise ConfigError(f"{name}{inside}: {first['msg']}") from None
    if settings.db_pool_min > settings.db_pool_max:
        raise ConfigError("DB_POOL_MIN: must not exceed DB_POOL_MAX")
    if settings.is_production and not settings.opentr_secret_key:
        raise ConfigError("OPENTR_SECRET_KEY: required when OPENTR_ENV=production")
    for provider in settings.opentr_oidc_providers:  # an ID token's keys and a client secret never cross in clear
        loopback = urlsplit(provider.issuer).hostname in ("127.0.0.1", "localhost", "::1")
        if settings.is_production and provider.issuer.startswith("http://") and not loopback:
            raise ConfigError(f"OPENTR_OIDC_PROVIDERS: {provider.name}: the issuer must be https:// in production")
    # Settings that only fail together, and only later (every job, every upload), fail the start instead.
    if settings.opentr_asr_engine == "openai" and not settings.opentr_asr_remote_url:
        raise ConfigError("OPENTR_ASR_REMOTE_URL: required when OPENTR_ASR_ENGINE=openai")
    if bool(settings.opentr_s3_access_key) != bool(settings.opentr_s3_secret_key):
        given, missing = (
            ("OPENTR_S3_ACCESS_KEY", "OPENTR_S3_SECRET_KEY")
            if settings.opentr_s3_access_key
            else ("OPENTR_S3_SECRET_KEY", "OPENTR_S3_ACCESS_KEY")
        )
        raise ConfigError(f"{missing}: required with {given} (or unset both: boto3's own credentials apply)")
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
