"""Hostile input: property-based fuzzing of every route in the OpenAPI document, and explicit injection tests.

Every operation of /api/openapi.json gets `EXAMPLES_PER_OPERATION` generated requests: path parameters drawn from the
user's own resources, a bystander's resources, random uuids and garbage; query parameters and JSON bodies generated
from the operation's schemas with hostile strings (SQL injection, quotes, NUL bytes, 10 kB strings, unicode, path
traversal) mixed into every text field; sometimes no token or a garbage one. No answer may be a 500, every 4xx is JSON
with "detail", and afterwards: the tables all exist, the bystander's rows are byte-identical, the user's own resources
still answer (or a 2xx request explains why not), and the number of users is exactly what the 2xx answers explain.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import socket
import string
import wave
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from config.settings import Settings
from repo.notifications import NotificationRepository
from repo.rows import Actor
from repo.user_settings import SETTINGS
from repo.users import UserRepository
from tests import factories
from tests.fuzz_support import private_redis
from tests.web import make_admin, register

# x 89 operations: about 2,000 generated requests per run; OPENTR_FUZZ_EXAMPLES=500 for a deeper search.
EXAMPLES_PER_OPERATION = int(os.environ.get("OPENTR_FUZZ_EXAMPLES", "24"))
SQL_INJECTION = "'); DROP TABLE users; --"
HOSTILE: list[str] = [
    SQL_INJECTION,
    "' OR '1'='1",
    '" OR ""="',
    "1; SELECT pg_sleep(10); --",
    "%(actor_id)s",
    "%s",
    "$1",
    "{uuid}",
    "'",
    '"',
    "''''",
    "`",
    "\\",
    "%",
    "_",
    "\x00",
    "a\x00b",
    "x" * 10_000,
    "ünïcødé 🎙️ 中文 עברית \u202e",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "<script>alert(1)</script>",
    "${jndi:ldap://127.0.0.1/x}",
    "\r\nSet-Cookie: x=y",
    "   ",
    "",
    "NaN",
    "-1",
    "1e309",
    "null",
    "[]",
    "{}",
]
CONTROL = st.characters(codec="utf-8")  # every code point but surrogates: what a URL or a header can carry
OUTBOUND = {"/api/llm-configs/test", "/api/llm-configs/models"}  # routes that call the server a body names
GARBAGE_TOKENS = ["Bearer ' OR 1=1 --", "Bearer " + "x" * 5000, "Basic YWxpY2U6cGFzc3dvcmQ=", "Bearer", "bearer \t"]


@dataclass
class Resources:
    """What a user owns, by the kind of path parameter that names it."""

    pools: dict[str, list[str]]
    files: dict[str, str] = field(default_factory=dict)  # resource uuid -> the file it belongs to


@dataclass
class Journal:
    """What the fuzzer saw: per operation counts, statuses, and the uuids named by successful writes."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    touched: set[str] = field(default_factory=set)
    users_created: int = 0
    users_deleted: int = 0


# Mail configured (a password reset answers 202, not 503: no mail server), to a closed port: the mail a reset sends
# after its answer fails there and is logged.
MAIL_NOWHERE: dict[str, Any] = {
    "opentr_smtp_host": "127.0.0.1",
    "opentr_smtp_port": 9,
    "opentr_smtp_starttls": False,
    "opentr_public_url": "http://opentr.invalid",
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wav(seconds: float = 0.3) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(secrets.token_bytes(2) * int(seconds * 8000))
    return buffer.getvalue()


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _user_id(url: str, client: Any, headers: dict[str, str]) -> int:
    email = _ok(client.get("/api/users/me", headers=headers))["email"]
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchone()
    assert row is not None
    return int(row[0])


def arrange(client: Any, url: str, headers: dict[str, str], closed_port: int) -> Resources:
    """One of every kind of resource, made through the API (and factories for a transcribed recording)."""
    actor = Actor(_user_id(url, client, headers))
    files = {"file": ("talk.wav", _wav(), "audio/wav")}
    uploaded = _ok(client.post("/api/files", headers=headers, files=files), 201)["uuid"]
    with psycopg.connect(url, autocommit=True) as conn:
        file_id, file_uuid = factories.media_file(conn, actor, filename="done.wav", status="completed")
        ann = factories.speaker(conn, actor, file_id, "SPEAKER_00")
        bob = factories.speaker(conn, actor, file_id, "SPEAKER_01")
        factories.segments(conn, file_id, ["hello there", "how are you"], speaker_id=ann)
        factories.segments(conn, file_id, ["fine thanks"], speaker_id=bob)
        # the outcome a worker would have announced (an upload is a step, not a notification)
        NotificationRepository(conn).notify(
            actor.id, "transcription", "talk.wav: transcript ready", media_file_id=file_id
        )
        speakers = [r[0] for r in conn.execute("SELECT uuid::text FROM speakers WHERE media_file_id = %s", [file_id])]
        segments = [
            r[0] for r in conn.execute("SELECT uuid::text FROM transcript_segments WHERE media_file_id = %s", [file_id])
        ]
    recorded = str(file_uuid)
    tag = f"tag-{secrets.token_hex(3)}"
    _ok(client.post(f"/api/files/{recorded}/tags", headers=headers, json={"name": tag}), 201)
    comment = _ok(client.post(f"/api/files/{recorded}/comments", headers=headers, json={"text": "nice"}), 201)["uuid"]
    collection = _ok(client.post("/api/collections", headers=headers, json={"name": "talks"}), 201)["uuid"]
    _ok(client.post(f"/api/collections/{collection}/files", headers=headers, json={"file_uuids": [recorded]}))
    profile = _ok(client.post("/api/speaker-profiles", headers=headers, json={"name": "Ann"}), 201)["uuid"]
    group = _ok(client.post("/api/speaker-collections", headers=headers, json={"name": "team"}), 201)["uuid"]
    _ok(client.post(f"/api/speaker-collections/{group}/profiles", headers=headers, json={"profile_uuids": [profile]}))
    local = {"provider": "openai", "model_name": "m", "base_url": f"http://127.0.0.1:{closed_port}/v1"}
    config = _ok(
        client.post("/api/llm-configs", headers=headers, json={"name": "local", "api_key": "sk-x", **local}), 201
    )["uuid"]
    tester = _ok(client.post("/api/llm-configs", headers=headers, json={"name": "tester", **local}), 201)["uuid"]
    _ok(client.post(f"/api/llm-configs/{config}/activate", headers=headers))
    prompt_body = {"name": "short", "prompt_text": "Summarise {transcript}"}
    prompt = _ok(client.post("/api/prompts", headers=headers, json=prompt_body), 201)["uuid"]
    summary = _ok(client.post(f"/api/files/{recorded}/summaries", headers=headers, json={}), 202)["uuid"]
    task_files = {t["task_id"]: t["file_uuid"] for t in _ok(client.get("/api/tasks", headers=headers))["items"]}
    url_import = {"url": "http://93.184.216.34/talk.mp3"}
    imported = _ok(client.post("/api/files/from-url", headers=headers, json=url_import), 202)["uuid"]
    notifications = [item["uuid"] for item in _ok(client.get("/api/notifications", headers=headers))["items"]]
    pools = {
        "files": [uploaded, recorded],
        "comments": [comment],
        "collections": [collection],
        "speakers": speakers,
        "segments": segments,
        "speaker-profiles": [profile],
        "speaker-collections": [group],
        "llm-configs": [config],
        "llm-test": [tester],  # the only configuration a connection test may reach: its address is a closed port
        "prompts": [prompt],
        "summaries": [summary],
        "tasks": list(task_files),
        "notifications": notifications,
        "url-imports": [imported],
        "tags": [tag],
        "settings": list(SETTINGS),
    }
    children = {c: recorded for c in [comment, summary, *speakers, *segments]} | task_files
    return Resources(pools, children)


def _pool_kind(path: str, name: str) -> str:
    if name == "segment_uuid":
        return "segments"
    if name == "profile_uuid":
        return "speaker-profiles"
    if name == "id":
        return "tasks"
    if name == "import_uuid":
        return "url-imports"
    if name == "key":
        return "settings"
    if name == "name":
        return "tags"
    if path.endswith("/test"):
        return "llm-test"
    kind = path.split("/")[2]
    return "users" if kind == "admin" else kind


# --- strategies -----------------------------------------------------------------------------------------------------


def hostile_text(max_size: int = 60) -> st.SearchStrategy[str]:
    """Strings a URL can carry: hostile ones, and generated unicode (no surrogates)."""
    return st.one_of(st.sampled_from(HOSTILE), st.text(CONTROL, max_size=max_size))


def json_text(max_size: int = 60) -> st.SearchStrategy[str]:
    """Strings a JSON body can carry: also lone surrogates, which json.dumps escapes as \\udXXX."""
    return st.one_of(hostile_text(max_size), st.text(max_size=max_size))


def any_json() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), json_text(20)
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=4), st.dictionaries(json_text(10), children, max_size=4)
        ),
        max_leaves=10,
    )


class SchemaStrategies:
    """A small JSON-schema -> hypothesis strategy translation, with hostile values mixed into every field."""

    def __init__(self, components: dict[str, Any], uuids: list[str]) -> None:
        self.components = components
        self.uuids = uuids

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    def uuid_string(self) -> st.SearchStrategy[str]:
        return st.one_of(st.sampled_from(self.uuids), st.sampled_from(self.uuids), st.uuids().map(str), hostile_text())

    def string(self, schema: dict[str, Any], text: Callable[[int], st.SearchStrategy[str]]) -> st.SearchStrategy[str]:
        fmt = schema.get("format")
        if fmt == "uuid":
            return self.uuid_string()
        if fmt == "date-time":
            return st.one_of(st.datetimes().map(lambda d: d.isoformat()), text(40))
        if fmt == "email":
            local = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
            return st.one_of(local.map(lambda name: f"fuzz-{name}@example.com"), text(40))
        low, high = int(schema.get("minLength", 0)), int(schema.get("maxLength", 80))
        fitting = st.text(CONTROL, min_size=low, max_size=min(high, max(low, 80)))
        return st.one_of(fitting, fitting, text(60))

    def value(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        schema = self.resolve(schema)
        if "anyOf" in schema or "oneOf" in schema:
            return st.one_of([self.value(s, depth) for s in schema.get("anyOf", schema.get("oneOf", []))])
        if "enum" in schema:
            return st.one_of(st.sampled_from(schema["enum"]), json_text())
        kind = schema.get("type")
        if kind == "string":
            return self.string(schema, json_text)
        if kind == "integer":
            low, high = schema.get("minimum"), schema.get("maximum")
            return st.one_of(st.integers(low, high), st.integers(), json_text(10))
        if kind == "number":
            finite = st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
            return st.one_of(finite, st.floats(allow_nan=False, allow_infinity=False), st.integers())
        if kind == "boolean":
            return st.one_of(st.booleans(), st.booleans(), st.sampled_from(["true", 1, None]))
        if kind == "null":
            return st.none()
        if kind == "array" and depth < 3:  # a recursive schema (any JSON without NUL) ends in any_json()
            items = self.value(schema.get("items", {}), depth + 1)
            low = int(schema.get("minItems", 0))
            return st.one_of(st.lists(items, min_size=low, max_size=low + 4), any_json())
        if kind == "object" and depth < 3:
            return self.obj(schema, depth)
        return any_json()

    def obj(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        properties: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        if not properties:
            extra = schema.get("additionalProperties")
            values = self.value(extra, depth + 1) if isinstance(extra, dict) else any_json()
            keys = st.one_of(st.sampled_from([*SETTINGS, "general", "upload"]), json_text(20))
            return st.dictionaries(keys, values, max_size=6)
        fixed = {name: self.value(prop, depth + 1) for name, prop in properties.items() if name in required}
        optional = {name: self.value(prop, depth + 1) for name, prop in properties.items() if name not in required}
        base = st.fixed_dictionaries(fixed, optional=optional)
        unknown = st.dictionaries(json_text(10), any_json(), min_size=1, max_size=2)
        return st.one_of(base, base, base, st.tuples(base, unknown).map(lambda t: {**t[1], **t[0]}))

    def query_value(self, schema: dict[str, Any]) -> st.SearchStrategy[str]:
        """A query parameter: always text, from the schema's type or hostile."""
        schema = self.resolve(schema)
        options = schema.get("anyOf", [schema])
        typed: list[st.SearchStrategy[str]] = []
        for option in options:
            kind = option.get("type")
            if "enum" in option:
                typed.append(st.sampled_from([str(v) for v in option["enum"]]))
            elif kind == "integer":
                typed.append(st.integers(option.get("minimum"), option.get("maximum")).map(str))
                typed.append(st.integers().map(str))
            elif kind == "boolean":
                typed.append(st.sampled_from(["true", "false", "1", "0", "yes"]))
            elif kind == "string":
                typed.append(self.string(option, hostile_text))
        return st.one_of(*typed, hostile_text())


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.method.upper()} {self.path}"

    def params(self, where: str) -> list[dict[str, Any]]:
        return [p for p in self.spec.get("parameters", []) if p["in"] == where]

    def body_content(self) -> dict[str, Any]:
        content: dict[str, Any] = self.spec.get("requestBody", {}).get("content", {})
        return content


@dataclass(frozen=True)
class Case:
    identity: str
    path: str
    path_values: list[str]
    query: dict[str, str]
    kind: str  # "json", "raw", "multipart", "form", "none"
    body: Any


def case_strategy(op: Operation, strategies: SchemaStrategies, pools: dict[str, list[str]]) -> st.SearchStrategy[Case]:
    path_parts: list[st.SearchStrategy[str]] = []
    for param in op.params("path"):
        pool = pools.get(_pool_kind(op.path, param["name"]), []) + pools.get("bystander", [])
        own = st.sampled_from(pool) if pool else st.uuids().map(str)
        path_parts.append(st.one_of(own, own, own, st.uuids().map(str), hostile_text(40)))
    query_parts = {p["name"]: strategies.query_value(p["schema"]) for p in op.params("query")}
    extra: st.SearchStrategy[dict[str, str]] = st.one_of(
        st.just({}), st.just({}), st.dictionaries(hostile_text(20), hostile_text(), max_size=2)
    )
    query = st.tuples(st.fixed_dictionaries({}, optional=query_parts), extra).map(lambda t: {**t[1], **t[0]})
    content = op.body_content()
    bodies: list[st.SearchStrategy[tuple[str, Any]]] = [st.tuples(st.just("none"), st.none())]
    if "application/json" in content:
        generated = strategies.value(content["application/json"]["schema"])
        bodies = [
            st.tuples(st.just("json"), generated),
            st.tuples(st.just("json"), generated),
            st.tuples(st.just("json"), generated),
            st.tuples(st.just("json"), any_json()),
            st.tuples(st.just("raw"), st.binary(max_size=200)),
        ]
        if op.path == "/api/auth/token":
            form = st.dictionaries(st.sampled_from(["username", "password", "x"]), hostile_text(), max_size=3)
            bodies.append(st.tuples(st.just("form"), form))
    elif "multipart/form-data" in content:
        fields = st.dictionaries(
            st.sampled_from(
                ["title", "author", "description", "language", "source_url", "min_speakers", "num_speakers", "bogus"]
            ),
            hostile_text(),
            max_size=4,
        )
        media = st.tuples(
            hostile_text(40),
            st.binary(min_size=0, max_size=2000),
            st.sampled_from(["audio/wav", "video/mp4", "application/octet-stream", "text/plain", 'audio/x; a="b"']),
        )
        bodies = [
            st.tuples(st.just("multipart"), st.tuples(media, st.one_of(st.none(), st.binary(max_size=300)), fields)),
            st.tuples(st.just("multipart"), st.tuples(media, st.none(), fields)),
            st.tuples(st.just("json"), any_json()),
            st.tuples(st.just("raw"), st.binary(max_size=200)),
        ]
    admin_route = op.path.startswith("/api/admin/")
    strangers = ["anonymous", *(f"garbage{i}" for i in range(len(GARBAGE_TOKENS)))]
    identities = ["admin", "admin", "user"] if admin_route else ["user"] * 30 + strangers
    return st.builds(
        lambda identity, values, q, body: Case(identity, _fill(op.path, values), values, q, body[0], body[1]),
        st.sampled_from(identities),
        st.tuples(*path_parts).map(list),
        query,
        st.one_of(bodies),
    )


def _fill(template: str, values: list[str]) -> str:
    parts = iter(values)
    return re.sub(r"{\w+}", lambda _: quote(next(parts), safe=""), template)


class Fuzzer:
    def __init__(self, client: Any, tokens: dict[str, str], user_ids: dict[str, int], closed_url: str) -> None:
        self.client, self.tokens, self.user_ids, self.closed_url = client, tokens, user_ids, closed_url
        self.journal = Journal()

    def headers(self, identity: str) -> dict[str, str]:
        if identity == "anonymous":
            return {}
        if identity.startswith("garbage"):
            return {"Authorization": GARBAGE_TOKENS[int(identity.removeprefix("garbage"))]}
        return {"Authorization": f"Bearer {self.tokens[identity]}"}

    def send(self, op: Operation, case: Case) -> Any:
        headers = self.headers(case.identity)
        request: dict[str, Any] = {"headers": headers, "params": case.query}
        if case.kind == "json":
            body = case.body
            if op.path in OUTBOUND and isinstance(body, dict):
                body = {**body, "base_url": self.closed_url}  # the provider's default would leave the machine
            request["content"] = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif case.kind == "raw":
            request["content"] = case.body
            headers["Content-Type"] = "application/json"
        elif case.kind == "form":
            request["data"] = case.body
        elif case.kind == "multipart":
            (name, data, content_type), sidecar, fields = case.body
            files: dict[str, Any] = {"file": (name, data, content_type)}
            if sidecar is not None:
                files["transcript"] = ("t.srt", sidecar, "application/x-subrip")
            request["files"] = files
            request["data"] = fields
        return self.client.request(op.method.upper(), case.path, **request)

    def check(self, op: Operation, case: Case, response: Any) -> None:
        status = response.status_code
        self.journal.cases[op.key] += 1
        self.journal.statuses[status] += 1
        assert status < 500, f"{op.key} {case!r:.2000} -> {status} {response.text[:500]}"
        if 400 <= status < 500:
            assert response.headers.get("content-type", "").startswith("application/json"), (op.key, response.text)
            assert "detail" in response.json(), (op.key, response.text)
        elif response.headers.get("content-type", "").startswith("application/json"):
            response.json()
        if 200 <= status < 300 and op.method != "get":
            self.journal.touched.update(case.path_values)
            self.journal.touched.update(re.findall(r"[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", repr(case.body)))
            if op.path in ("/api/auth/register", "/api/admin/users"):
                self.journal.users_created += 1
            if op.path == "/api/admin/users/{uuid}" and op.method == "delete":
                self.journal.users_deleted += 1

    def restore_tokens(self) -> None:
        """A logout or a password change revokes the fuzzing token: issue a new one, as a sign-in would."""
        for identity, user_id in self.user_ids.items():
            if self.client.get("/api/users/me", headers=self.headers(identity)).status_code == 401:
                with self.client.app.state.services.db.transaction() as conn:
                    users = UserRepository(conn)
                    self.tokens[identity] = users.issue_token(users.get_by_id(user_id))

    def fuzz(self, op: Operation, strategies: SchemaStrategies, pools: dict[str, list[str]]) -> None:
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case_strategy(op, strategies, pools))
        def run(case: Case) -> None:
            response = self.send(op, case)
            self.check(op, case, response)
            if op.path in ("/api/auth/logout", "/api/users/me") and op.method != "get":
                self.restore_tokens()

        run()


# --- the state the fuzzer must not corrupt ---------------------------------------------------------------------------


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def rows_of_user(url: str, user_id: int) -> dict[str, str]:
    """md5 of every row that belongs to `user_id` (directly, or through one of their files), per table."""
    out: dict[str, str] = {}
    with psycopg.connect(url) as conn:
        columns: dict[str, set[str]] = {}
        for table, column in conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        ):
            columns.setdefault(table, set()).add(column)
        for table, names in sorted(columns.items()):
            if table == "users":
                where = "t.id = %(user)s"
            elif "user_id" in names:
                where = "t.user_id = %(user)s"
            elif "media_file_id" in names:
                where = "t.media_file_id IN (SELECT id FROM media_files WHERE user_id = %(user)s)"
            else:
                continue
            query = sql.SQL(
                "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                "FROM {} t WHERE {}"
            ).format(sql.Identifier(table), sql.SQL(where))
            row = conn.execute(query, {"user": user_id}).fetchone()
            assert row is not None
            out[table] = str(row[0])
    return out


def count_users(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
    assert row is not None
    return int(row[0])


GETTERS = {
    "files": "/api/files/{}",
    "collections": "/api/collections/{}",
    "speaker-profiles": "/api/speaker-profiles/{}",
    "speaker-collections": "/api/speaker-collections/{}",
    "llm-configs": "/api/llm-configs/{}",
    "llm-test": "/api/llm-configs/{}",
    "prompts": "/api/prompts/{}",
    "summaries": "/api/summaries/{}",
    "tasks": "/api/tasks/{}",
    "url-imports": "/api/files/from-url/{}",
}


@pytest.fixture
def fuzz_client(app_settings: Settings) -> Iterator[Any]:
    """The app on a Redis of its own: the uploads it accepts enqueue jobs no other session's worker must take."""
    from starlette.testclient import TestClient

    from web.app import create_app

    with private_redis() as redis_url:
        settings = app_settings.model_copy(update={"redis_url": redis_url, **MAIL_NOWHERE})
        with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
            yield test_client


@pytest.mark.slow
def test_fuzz_every_route_in_the_openapi_document(fuzz_client: Any, fresh_url: str) -> None:
    client, port = fuzz_client, _closed_port()
    alice = register(client)
    bystander = register(client)
    admin = register(client)
    make_admin(fresh_url, admin, client)
    own = arrange(client, fresh_url, alice, port)
    theirs = arrange(client, fresh_url, bystander, port)
    ids = {"user": _user_id(fresh_url, client, alice), "admin": _user_id(fresh_url, client, admin)}
    bystander_id = _user_id(fresh_url, client, bystander)
    spare_users = [_ok(client.get("/api/users/me", headers=register(client)))["uuid"] for _ in range(2)]
    pools = {**own.pools, "users": spare_users}
    pools["bystander"] = [u for kind, values in theirs.pools.items() if kind not in ("settings",) for u in values]
    everything = [u for values in pools.values() for u in values if len(u) == 36]

    before_tables, before_bystander = tables(fresh_url), rows_of_user(fresh_url, bystander_id)
    before_users = count_users(fresh_url)
    document = _ok(client.get("/api/openapi.json"))
    operations = [Operation(m, p, spec) for p, ops in document["paths"].items() for m, spec in ops.items()]
    strategies = SchemaStrategies(document["components"]["schemas"], everything)
    tokens = {"user": alice["Authorization"][7:], "admin": admin["Authorization"][7:]}
    fuzzer = Fuzzer(client, tokens, ids, f"http://127.0.0.1:{port}")

    for op in operations:
        fuzzer.fuzz(op, strategies, pools)

    journal = fuzzer.journal
    total = sum(journal.cases.values())
    print(f"\nfuzzed {len(operations)} operations, {total} requests; statuses {sorted(journal.statuses.items())}")
    assert total >= 1000 and all(journal.cases[op.key] >= EXAMPLES_PER_OPERATION for op in operations)
    # Nothing was dropped, the bystander's rows are byte-identical, and the user count adds up.
    assert tables(fresh_url) == before_tables
    assert rows_of_user(fresh_url, bystander_id) == before_bystander
    assert count_users(fresh_url) == before_users + journal.users_created - journal.users_deleted
    # The user's own resources still answer, unless a successful write named them (or the file they belong to).
    fuzzer.restore_tokens()
    headers = fuzzer.headers("user")
    for kind, template in GETTERS.items():
        for value in own.pools[kind]:
            response = client.get(template.format(value), headers=headers)
            if response.status_code == 404:
                assert value in journal.touched or own.files.get(value) in journal.touched, (kind, value)
            else:
                assert response.status_code == 200, (kind, value, response.text)


# --- explicit hostile-input tests ------------------------------------------------------------------------------------

INJECTIONS = [SQL_INJECTION, "' OR '1'='1", "Robert'); DELETE FROM media_files; --", "%(actor_id)s %s $1 \\ '' \""]


def test_sql_injection_strings_are_stored_and_read_back_verbatim(client: Any, fresh_url: str) -> None:
    headers = register(client)
    data = {"file": ("talk.wav", _wav(), "audio/wav")}
    file_uuid = _ok(client.post("/api/files", headers=headers, files=data, data={"title": "x"}), 201)["uuid"]
    for text in INJECTIONS:
        title = _ok(client.put(f"/api/files/{file_uuid}", headers=headers, json={"title": text}))["title"]
        assert title == text
        assert _ok(client.get(f"/api/files/{file_uuid}", headers=headers))["title"] == text
        comment = _ok(client.post(f"/api/files/{file_uuid}/comments", headers=headers, json={"text": text}), 201)
        assert comment["text"] == text
        tags = _ok(client.post(f"/api/files/{file_uuid}/tags", headers=headers, json={"name": text}), 201)
        assert text in [t["name"] for t in tags]
        listed = _ok(client.get("/api/files", headers=headers, params={"tag": text}))["items"]
        assert [item["uuid"] for item in listed] == [file_uuid]
        assert _ok(client.get("/api/files", headers=headers, params={"q": text}))["items"] is not None
        assert client.get("/api/search", headers=headers, params={"q": text}).status_code == 200
        removed = client.delete(f"/api/files/{file_uuid}/tags/{quote(text, safe='')}", headers=headers)
        assert removed.status_code == 204, removed.text
    comments = _ok(client.get(f"/api/files/{file_uuid}/comments", headers=headers))
    assert sorted(c["text"] for c in comments) == sorted(INJECTIONS)
    with psycopg.connect(fresh_url) as conn:
        stored = [r[0] for r in conn.execute("SELECT text FROM comments ORDER BY id")]
        assert stored == INJECTIONS
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM media_files").fetchone() == (1,)


def test_nul_bytes_and_lone_surrogates_are_refused_not_500(client: Any) -> None:
    headers = register(client)
    for text in ["a\x00b", "\ud800", "x\udfffy"]:
        body = json.dumps({"name": text}).encode()
        for path in ["/api/tags", "/api/collections", "/api/speaker-profiles"]:
            response = client.post(path, headers={**headers, "Content-Type": "application/json"}, content=body)
            assert response.status_code == 422, (path, text, response.text)
            assert "detail" in response.json()
    assert client.get("/api/files", headers=headers, params={"q": "a\x00b"}).status_code == 422
    searched = client.get("/api/search", headers=headers, params={"q": "a\x00b"})
    assert searched.status_code in (200, 422), searched.text


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_json_bodies_are_413(client: Any, chunked: bool) -> None:
    headers = {**register(client), "Content-Type": "application/json"}
    big = json.dumps({"name": "x" * (1024 * 1024 + 10)}).encode()
    content: Any = iter([big[i : i + 65536] for i in range(0, len(big), 65536)]) if chunked else big
    response = client.post("/api/tags", headers=headers, content=content)
    assert response.status_code == 413, response.text
    assert "detail" in response.json()
    token_body = json.dumps({"username": "a@example.com", "password": "x" * 70_000}).encode()
    assert client.post("/api/auth/token", headers=headers, content=token_body).status_code == 413


def test_an_oversized_upload_is_413_and_leaves_nothing_behind(app_settings: Settings, tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    from web.app import create_app

    small = app_settings.model_copy(update={"opentr_max_upload_mb": 1})
    with TestClient(create_app(small)) as client:
        headers = register(client)
        data = {"file": ("big.wav", b"\0" * (1024 * 1024 + 1), "audio/wav")}
        response = client.post("/api/files", headers=headers, files=data)
        assert response.status_code == 413, response.text
        assert "detail" in response.json()
    stored = [p for p in small.storage_dir.rglob("*") if p.is_file()]
    assert stored == []


@pytest.mark.parametrize(
    ("sent", "shown"),
    [("../../etc/passwd", "passwd"), ("..\\..\\..\\windows\\evil.wav", "evil.wav"), ("/etc/shadow", "shadow")],
)
def test_upload_filenames_never_reach_a_path(
    client: Any, fresh_url: str, app_settings: Settings, sent: str, shown: str
) -> None:
    headers = register(client)
    created = _ok(client.post("/api/files", headers=headers, files={"file": (sent, _wav(), "audio/wav")}), 201)
    assert created["filename"] == shown
    with psycopg.connect(fresh_url) as conn:
        row = conn.execute("SELECT storage_path FROM media_files WHERE uuid = %s", [created["uuid"]]).fetchone()
    assert row is not None
    storage_path = str(row[0])
    assert re.fullmatch(r"\d+/[0-9a-f]{32}", storage_path), storage_path
    storage = app_settings.storage_dir.resolve()
    stored = (storage / storage_path).resolve()
    assert stored.is_file() and stored.is_relative_to(storage)
    assert [p.name for p in storage.rglob("*") if p.name == shown] == []
    content = client.get(f"/api/files/{created['uuid']}/content", headers=headers)
    assert content.status_code == 200 and content.content == stored.read_bytes()
    for hostile in ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", "..", "%00"]:
        response = client.get(f"/api/files/{hostile}/content", headers=headers)
        assert response.status_code in (400, 404, 422), (hostile, response.text)
        assert "detail" in response.json()


def test_hostile_query_and_path_values_are_answered_with_json_errors(client: Any) -> None:
    headers = register(client)
    for value in HOSTILE:
        for path, params in [
            ("/api/files", {"status": value}),
            ("/api/files", {"cursor": value}),
            ("/api/files", {"uploaded_from": value}),
            ("/api/tasks", {"cursor": value}),
            ("/api/notifications", {"cursor": value}),
            ("/api/speaker-profiles", {"after": value}),
            (f"/api/settings/{quote(value, safe='')}", {}),
            (f"/api/tasks/{quote(value, safe='')}", {}),
            (f"/api/files/{quote(value, safe='')}", {}),
        ]:
            response = client.get(path, headers=headers, params=params)
            assert response.status_code < 500, (path, params, response.text)
            if response.status_code >= 400:
                assert "detail" in response.json(), (path, params, response.text)
