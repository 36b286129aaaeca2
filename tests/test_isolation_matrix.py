"""Isolation matrix (issue 7 item 7): two users, every route of `web.api.all_endpoints()`, every resource of the other.

(a) every route with auth=True answers 401 without a token, with a garbage token and with a revoked one;
(b) user B calls every route that addresses a resource by uuid/id with user A's identifiers → 404 every time. Each
    route that names several resources (a path and body fields) is also called with B's own resources everywhere
    but one slot that holds A's. Bodies are generated from the route's pydantic model and validated locally, and the
    same call with B's own identifiers must succeed (2xx), so neither a 422 nor an unmatched route can pass for 404;
(c) every admin route answers 403 to a non-administrator (and works for an administrator);
(d) afterwards every row of A's (and the system prompts) and A's stored media are byte-for-byte unchanged.

The test fails when a route is added without being classified: it is either exercised by (b), listed in OWN_SCOPE
(routes that do not address another user's resource), or an admin route; unknown path parameters and unknown
identifier fields in bodies or queries fail too, until they are added to the tables below.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pydantic import BaseModel

from config.settings import Settings
from repo.notifications import NotificationRepository
from repo.rows import Actor
from repo.user_settings import SETTINGS
from tests import factories
from tests.fuzz_support import private_redis
from tests.web import a_file, actor_of, make_admin, register
from tests.workers_support import wav
from web.api import all_endpoints
from web.endpoint import Endpoint

Key = tuple[str, str]
Ids = dict[str, str]
PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")

# Routes that address nothing of another user's: they act on the caller, the caller's own lists, or global names.
OWN_SCOPE: dict[Key, str] = {
    ("GET", "/api/health"): "public",
    ("POST", "/api/auth/register"): "creates an account",
    ("POST", "/api/auth/token"): "signs in",
    ("POST", "/api/auth/logout"): "revokes the token it carries",
    ("GET", "/api/auth/providers"): "lists the configured sign-in providers, the same for everyone",
    ("GET", "/api/users/me"): "the caller",
    ("PUT", "/api/users/me"): "the caller",
    ("DELETE", "/api/users/me"): "the caller's own account",
    ("POST", "/api/users/me/export"): "creates an export of the caller's",
    ("GET", "/api/users/me/exports"): "the caller's exports",
    ("GET", "/api/users/me/llm-usage"): "the caller's LLM requests today",
    ("GET", "/api/files/management/stuck"): "the caller's files",
    ("POST", "/api/files"): "creates a file of the caller's",
    ("GET", "/api/files"): "the caller's files; ?collection= and ?profile_uuid= filter by one of theirs",
    ("GET", "/api/files/filters"): "counts over the caller's files",
    ("POST", "/api/files/export"): "the caller's files; another's uuid is 404",
    ("POST", "/api/files/bulk"): "the caller's files; another's are reported not found and left alone",
    ("GET", "/api/tags"): "tags on the caller's files, or global names no file carries",
    ("POST", "/api/files/from-url"): "creates an import of the caller's",
    ("POST", "/api/tags"): "a global name",
    ("GET", "/api/collections"): "the caller's collections",
    ("POST", "/api/collections"): "creates one of the caller's",
    ("GET", "/api/search"): "the caller's files",
    ("GET", "/api/speakers"): "the caller's speakers; ?file= filters by one of their files or one shared with them",
    ("GET", "/api/speaker-profiles"): "the caller's profiles",
    ("POST", "/api/speaker-profiles"): "creates one of the caller's",
    ("GET", "/api/speaker-collections"): "the caller's speaker collections",
    ("POST", "/api/speaker-collections"): "creates one of the caller's",
    ("GET", "/api/settings"): "the caller's settings",
    ("PUT", "/api/settings"): "the caller's settings",
    ("GET", "/api/settings/{key}"): "the caller's setting, by key name",
    ("PUT", "/api/settings/{key}"): "the caller's setting, by key name",
    ("DELETE", "/api/settings/{key}"): "the caller's setting, by key name",
    **{(m, f"/api/settings/{key}"): "the caller's setting" for key in SETTINGS for m in ("GET", "PUT", "DELETE")},
    ("GET", "/api/llm-configs"): "the caller's configurations",
    ("POST", "/api/llm-configs"): "creates one of the caller's",
    ("POST", "/api/llm-configs/test"): "a server the caller names; only the caller's own stored key is lent",
    ("POST", "/api/llm-configs/models"): "a server the caller names; only the caller's own stored key is lent",
    ("GET", "/api/prompts"): "system prompts and the caller's",
    ("POST", "/api/prompts"): "creates one of the caller's",
    ("GET", "/api/prompts/active"): "the caller's choice",
    ("GET", "/api/notifications"): "the caller's; ?cursor= is a position among them",
    ("POST", "/api/notifications/read"): "marks the caller's; other uuids are ignored",
    ("GET", "/api/notifications/preferences"): "the caller's",
    ("PUT", "/api/notifications/preferences"): "the caller's",
    ("GET", "/api/tasks"): "the caller's tasks",
    ("GET", "/api/groups"): "the groups the caller is in",
    ("POST", "/api/groups"): "creates one the caller owns",
    ("GET", "/api/shared-with-me"): "what others shared with the caller",
    ("POST", "/api/ask"): "the caller's files; another's file_uuid or collection_uuid is 404",
    ("GET", "/api/questions"): "the caller's questions; ?cursor= is a position among them",
    ("DELETE", "/api/questions"): "the caller's questions",
    # Step 19: the caller's second factor and sessions; password resets address an account only by a mailed token.
    ("GET", "/api/users/me/two-factor"): "the caller's",
    ("POST", "/api/users/me/two-factor/start"): "the caller's",
    ("POST", "/api/users/me/two-factor/confirm"): "the caller's",
    ("POST", "/api/users/me/two-factor/recovery-codes"): "the caller's",
    ("POST", "/api/users/me/two-factor/disable"): "the caller's",
    ("GET", "/api/users/me/sessions"): "the caller's sessions",
    ("GET", "/api/users/me/identities"): "the providers and directories the caller signs in through",
    ("DELETE", "/api/users/me/sessions"): "the caller's other sessions",
    ("POST", "/api/auth/password-reset"): "mails the account of an address a link; the answer tells nothing",
    ("POST", "/api/auth/password-reset/confirm"): "the account of the mailed token",
}
# Public, token-scoped: no authentication, and nothing addressed but through a link's secret token (its one file, read
# as that file's owner); no path takes a file's, a user's or any other identifier. Checked below with A's link.
TOKEN_SCOPED: dict[Key, str] = {
    ("GET", "/api/public/{token}"): "a public link's one file, to whoever holds the link's token",
}
PUBLIC: set[Key] = {
    ("GET", "/api/health"),
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/token"),
    ("POST", "/api/auth/password-reset"),
    ("POST", "/api/auth/password-reset/confirm"),
    ("GET", "/api/auth/providers"),
    *TOKEN_SCOPED,
}

# What a path parameter names: `{uuid}` by the path's first segment, the others by their own name.
UUID_PATH_RESOURCE = {
    "files": "file",
    "comments": "comment",
    "collections": "collection",
    "speakers": "speaker",
    "speaker-profiles": "profile",
    "speaker-collections": "speaker_collection",
    "llm-configs": "llm_config",
    "prompts": "prompt",
    "summaries": "summary",
    "admin": "user",
    "groups": "group",
    "questions": "question",
    "llm-runs": "llm_run",
    "translations": "translation",  # /api/translations/{uuid}: a run of kind translation
    "speaker-names": "speaker_name",  # a proposed speaker name (step 21)
    "speaker-names/reject": "speaker_name2",  # another: a control accepts the first and rejects this one
    "topics": "topic",  # /api/topics/{uuid}/accept-tag: a topic of a file (step 21)
    "users": "data_export",  # /api/users/me/exports/{uuid}/download
    "users/me/sessions": "session",  # /api/users/me/sessions/{uuid}: a session of the caller's (step 19)
}
OTHER_PATH_RESOURCE = {
    "segment_uuid": "segment",
    "id": "task",
    "profile_uuid": "profile",
    "import_uuid": "url_import",
    "user_uuid": "group_member",  # /api/groups/{uuid}/members/{user_uuid}
    "share_uuid": "share",  # a share of the object the path names first: "file_share", "collection_share"...
    "link_uuid": "public_link",
    "hold_uuid": "hold",  # /api/admin/holds/{hold_uuid}: a legal hold (administrators only)
}
# values, not another user's identifiers (a link's token is the key itself: TOKEN_SCOPED routes)
VALUE_PATH_PARAM = {"name": "tag_name", "key": "setting_key", "token": "link_token"}

# Identifier fields of bodies and queries, and the resource each names.
UUID_FIELDS = {
    "file_uuids": "file",
    "profile_uuids": "profile",
    "profile_uuid": "profile",
    "source_uuid": "speaker2",
    "source_profile_uuid": "profile2",
    "target_uuid": "speaker",
    "speaker_uuid": "speaker",
    "move_segments_to": "speaker3",
    "file": "file",
    "file_uuid": "file",  # POST /api/ask
    "prompt_uuid": "prompt",
    "summary_prompt": "prompt",  # POST /api/files/{uuid}/rerun and /reprocess: a processing choice
    "llm_config_uuid": "llm_config",
    "uuids": "notification",
    "collection": "collection",
    "collection_uuid": "collection",
    "cursor": "notification",
    "summary.active_prompt": "prompt",  # PUT /api/settings
    "value": "prompt",  # PUT /api/settings/summary.active_prompt (the only setting whose value is a uuid)
    "group_uuid": "group",  # sharing with a group
}
# Body values a generated one would not do: an account that exists (INVITEE, registered by the test) for adding a
# member, and a share's one grantee (the group; user_email and group_uuid exclude each other).
INVITEE = "matrix-invitee@example.com"
SHARE_ROUTES = [("POST", f"/api/{kind}/{{uuid}}/shares") for kind in ("files", "collections", "speaker-profiles")]
BODY_VALUES: dict[Key, dict[str, Any]] = {
    ("POST", "/api/groups/{uuid}/members"): {"email": INVITEE},
    ("POST", "/api/admin/holds"): {"collection_uuid": None},  # a hold names one file or one collection
    **{route: {"user_email": None} for route in SHARE_ROUTES},
    # the instance's limit set as "none": a generated 0 would refuse the controls that request LLM work after it
    ("PUT", "/api/admin/llm-limit"): {"daily_tokens": None},
    # a prompt's schema goes with the json shape only
    **{route: {"output_format": "json"} for route in (("POST", "/api/prompts"), ("PUT", "/api/prompts/{uuid}"))},
}
# Optional body fields left out of the generated bodies, and why.
LEFT_OUT = {"expires_at": "a public link expires in `expires_in_days` or at `expires_at`, not both"}
# patterned fields
STRING_EXAMPLES = {
    "base_url": "http://127.0.0.1:9",
    "url": "http://127.0.0.1:9/a.wav",
    "api_key": "sk-hijack",
    "language": "de",
    "model": "",  # the configured speech model (the document's enum names those present when the app started)
}

# (route, slot) calls that do not answer 404 for A's identifier in that slot, and why that is no leak. They must answer
# exactly as they do for an identifier that exists nowhere, so B learns nothing about A's resource.
TOLERATED: dict[tuple[str, str, str], str] = {
    ("POST", "/api/collections/{uuid}/files/remove", "body.file_uuids"): (
        "files not in the collection are ignored (removed: 0), and B's collection can never hold A's file"
    ),
    ("PUT", "/api/files/{uuid}/transcript/segments/{segment_uuid}", "body.speaker_uuid"): (
        "409 'not a speaker of this file': only the file's own speakers are looked up"
    ),
    **{
        route: "409 naming the field: a body reference that resolves to nothing of B's, exactly as an unknown uuid"
        for route in [
            ("POST", "/api/collections/{uuid}/files", "body.file_uuids"),
            ("POST", "/api/speaker-collections/{uuid}/profiles", "body.profile_uuids"),
            ("POST", "/api/speaker-collections/{uuid}/profiles/remove", "body.profile_uuids"),
            ("POST", "/api/files/{uuid}/summaries", "body.prompt_uuid"),
            ("POST", "/api/files/{uuid}/rerun", "body.summary_prompt"),
            ("POST", "/api/files/{uuid}/summaries", "body.llm_config_uuid"),
            ("POST", "/api/files/{uuid}/speaker-names", "body.llm_config_uuid"),
            ("POST", "/api/files/{uuid}/topics", "body.llm_config_uuid"),
            ("POST", "/api/files/{uuid}/speakers/merge", "body.source_uuid"),
            ("POST", "/api/files/{uuid}/speakers/merge", "body.target_uuid"),
            ("POST", "/api/speaker-profiles/{uuid}/merge", "body.source_profile_uuid"),
            ("POST", "/api/files/{uuid}/translations", "body.llm_config_uuid"),
            ("POST", "/api/translations/{uuid}/redo", "body.llm_config_uuid"),
        ]
    },
    **{
        (*route, "body.group_uuid"): "409 naming group_uuid: a group B is not in answers exactly as an unknown one"
        for route in SHARE_ROUTES
    },
}

# Routes that read a multipart body (endpoint.body_parser): a well-formed one, so that only ownership is judged.
MULTIPART_BODIES: dict[Key, dict[str, tuple[str, bytes, str]]] = {
    ("PUT", "/api/files/{uuid}/transcript"): {
        "transcript": ("hijack.srt", b"1\n00:00:00,000 --> 00:00:01,000\nhijack\n", "application/x-subrip")
    },
}

# B's own calls (the controls) that must come after the others: state transitions, then destructive ones.
CONTROL_FIRST: list[Key] = [
    ("POST", "/api/files/{uuid}/reprocess"),  # completed → queued
    ("POST", "/api/files/{uuid}/cancel"),  # queued → cancelled
    ("POST", "/api/files/{uuid}/retry"),  # cancelled → queued
    ("POST", "/api/files/{uuid}/rerun"),  # queued → queued again, for one stage
]
CONTROL_DESTRUCTIVE: list[Key] = [
    ("POST", "/api/files/{uuid}/speakers/merge"),
    ("POST", "/api/speaker-profiles/{uuid}/merge"),  # profile2 goes
    # before the deletes of the objects and the group they name
    *[("DELETE", f"{path}/{{share_uuid}}") for _, path in SHARE_ROUTES],
    ("DELETE", "/api/groups/{uuid}/members/{user_uuid}"),
]
# B's own calls that must come after the other writes: "remember this voice" links the profile of the name it is
# given, which the rename of B's profile (PUT /api/speaker-profiles/{uuid}) gives that profile first.
CONTROL_AFTER_WRITES: list[Key] = [("POST", "/api/speakers/{uuid}/remember")]


@dataclass
class Owner:
    headers: dict[str, str]
    actor: Actor
    ids: Ids
    secrets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Slot:
    place: str  # "path", "body" or "query"
    name: str
    kind: str

    @property
    def label(self) -> str:
        return f"{self.place}.{self.name}"


# --- generating valid bodies and queries from the pydantic models --------------------------------------------------


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return _resolve(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [option for option in schema[key] if option.get("type") != "null"]
            return _resolve(options[0], defs)
    return schema


def _is_uuid(schema: dict[str, Any], defs: dict[str, Any]) -> bool:
    resolved = _resolve(schema, defs)
    if resolved.get("type") == "array":
        return _is_uuid(resolved.get("items", {}), defs)
    return resolved.get("format") == "uuid"


def identifier_fields(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    names = [name for name, prop in schema.get("properties", {}).items() if _is_uuid(prop, defs)]
    unknown = [name for name in names if name not in UUID_FIELDS]
    assert not unknown, f"{model.__name__}: classify identifier field(s) {unknown} in UUID_FIELDS"
    return names


def _value(name: str, schema: dict[str, Any], defs: dict[str, Any], uuid_of: Callable[[str], str]) -> Any:
    schema = _resolve(schema, defs)
    if schema.get("type") == "array":
        return [_value(name, schema.get("items", {}), defs, uuid_of)]
    if schema.get("format") == "uuid":
        return uuid_of(name)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "email" or name == "email":
            return f"hijack-{secrets.token_hex(4)}@example.com"
        if name in STRING_EXAMPLES:
            return STRING_EXAMPLES[name]
        text = f"hijack {name}"
        text = text[: schema.get("maxLength", len(text))].ljust(schema.get("minLength", 0), "x")
        pattern = schema.get("pattern")
        assert pattern is None or re.search(pattern, text), f"{name!r}: add an example matching its pattern"
        return text
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in schema else 1)
        value = min(low, schema.get("maximum", low))
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "object":
        return {}
    return "hijack"


def example_body(
    model: type[BaseModel], uuid_of: Callable[[str], str], given: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every field filled (optional ones too, so that a leak would change something, but for those that exclude
    another: LEFT_OUT), valid for the model; `given` values are taken as they are."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    given = given or {}
    properties = {name: prop for name, prop in schema.get("properties", {}).items() if name not in LEFT_OUT}
    body = {
        name: given[name] if name in given else _value(name, prop, defs, uuid_of) for name, prop in properties.items()
    }
    model.model_validate(body)  # a body the route would refuse with 422 proves nothing
    return body


def example_query(model: type[BaseModel] | None, uuid_of: Callable[[str], str], search: str) -> dict[str, Any]:
    """The required parameters and the identifier ones."""
    if model is None:
        return {}
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    required, wanted = set(schema.get("required", [])), set(identifier_fields(model))
    query = {
        name: search if name == "q" else _value(name, prop, defs, uuid_of)
        for name, prop in schema.get("properties", {}).items()
        if name in required or name in wanted
    }
    model.model_validate(query)
    return query


# --- classifying routes ------------------------------------------------------------------------------------------


def key_of(endpoint: Endpoint) -> Key:
    return endpoint.method, endpoint.path


def slots_of(endpoint: Endpoint) -> list[Slot]:
    slots = []
    for name in PATH_PARAM.findall(endpoint.path):
        if name in VALUE_PATH_PARAM:
            continue
        if name == "uuid":
            first = endpoint.path.split("/")[2]
            if endpoint.path.startswith("/api/users/me/sessions/"):  # the caller's, under /users like exports
                first = "users/me/sessions"
            if endpoint.path == "/api/speaker-names/{uuid}/reject":  # each proposal is decided once
                first = "speaker-names/reject"
            assert first in UUID_PATH_RESOURCE, f"{endpoint.path}: add {first!r} to UUID_PATH_RESOURCE"
            slots.append(Slot("path", name, UUID_PATH_RESOURCE[first]))
        else:
            assert name in OTHER_PATH_RESOURCE, f"{endpoint.path}: classify path parameter {name!r}"
            kind = OTHER_PATH_RESOURCE[name]
            if kind == "share":
                kind = f"{UUID_PATH_RESOURCE[endpoint.path.split('/')[2]]}_share"
            slots.append(Slot("path", name, kind))
    slots += [Slot("body", name, UUID_FIELDS[name]) for name in identifier_fields(endpoint.body)]
    slots += [Slot("query", name, UUID_FIELDS[name]) for name in identifier_fields(endpoint.query)]
    return slots


@dataclass
class Request:
    method: str
    path: str
    json: dict[str, Any] | None
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes, str]] | None = None


def build(endpoint: Endpoint, source: Callable[[Slot], Ids], values: Ids, search: str = "nothing") -> Request:
    """The request with each slot's identifier taken from `source(slot)`; value parameters from `values`."""
    slots = {(slot.place, slot.name): slot for slot in slots_of(endpoint)}

    def fill(place: str, name: str) -> str:
        slot = slots[(place, name)]
        ids = source(slot)
        assert slot.kind in ids, f"{endpoint.path}: own_everything() must create a {slot.kind} for each user"
        return ids[slot.kind]

    def path_value(match: re.Match[str]) -> str:
        name = match.group(1)
        return values[VALUE_PATH_PARAM[name]] if name in VALUE_PATH_PARAM else fill("path", name)

    path = PATH_PARAM.sub(path_value, endpoint.path)
    given = BODY_VALUES.get(key_of(endpoint))
    body = example_body(endpoint.body, lambda name: fill("body", name), given) if endpoint.body is not None else None
    params = example_query(endpoint.query, lambda name: fill("query", name), search)
    return Request(endpoint.method, path, body, params, MULTIPART_BODIES.get(key_of(endpoint)))


def only(chosen: Slot, theirs: Ids, own: Ids) -> Callable[[Slot], Ids]:
    """The other user's identifier in one slot, the caller's own everywhere else."""
    return lambda slot: theirs if slot == chosen else own


def replaced(source: Callable[[Slot], Ids], theirs: Ids, instead: Ids) -> Callable[[Slot], Ids]:
    """`source`, with identifiers that exist nowhere where it took the other user's."""
    return lambda slot: instead if source(slot) is theirs else source(slot)


# --- two users owning one of everything ---------------------------------------------------------------------------


def _one(conninfo: str, query: str, *params: Any) -> Any:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0] if len(row) == 1 else row


def own_everything(client: Any, conninfo: str, marker: str, seconds: float) -> Owner:
    """A user with a file (segments, two speakers, tag, comment), a collection, a speaker profile and collection,
    an LLM configuration (tested once), a prompt, a summary, tasks, notifications and settings."""
    email = f"{marker}-{secrets.token_hex(3)}@example.com"
    headers = register(client, email)
    user_id, user_uuid = _one(conninfo, "SELECT id, uuid FROM users WHERE email = %s", email)
    actor = Actor(user_id)

    def ok(response: Any, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    files = {"file": ("talk.wav", wav(seconds), "audio/wav")}
    uploaded = ok(client.post("/api/files", headers=headers, files=files, data={"title": f"{marker} title"}), 201)
    file_uuid = uploaded["uuid"]
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        file_id = conn.execute(
            "UPDATE media_files SET status = 'completed', progress = 1, completed_at = now(), "
            "thumbnail_path = storage_path || '.thumbnail.jpg' WHERE uuid = %s RETURNING id, thumbnail_path",
            [file_uuid],
        ).fetchone()
        assert file_id is not None
        (client.app.state.services.storage_dir / file_id[1]).write_bytes(f"{marker} thumbnail".encode())
        first = factories.speaker(conn, actor, file_id[0], "SPEAKER_00")
        second = factories.speaker(conn, actor, file_id[0], "SPEAKER_01")
        # the outcome a worker would have announced (the upload itself is a step, not a notification)
        NotificationRepository(conn).notify(
            user_id, "transcription", f"{marker} transcript ready", "", None, 1.0, file_id[0]
        )
        factories.segments(conn, file_id[0], [f"{marker} opening words", f"{marker} second thought"], first)
        passage = f"{marker} opening words {marker} second thought"  # as the embedding job would cut it
        factories.passage(conn, file_id[0], 0, 0.0, 1.9, passage, [1.0, 0.5, 0.25], "intfloat/multilingual-e5-small")
        conn.execute(
            "INSERT INTO speaker_matches (speaker1_id, speaker2_id, confidence) VALUES (%s, %s, 0.9)",
            [min(first, second), max(first, second)],
        )
        conn.execute("INSERT INTO analytics (media_file_id, speaker_stats) VALUES (%s, '{}')", [file_id[0]])
    ok(client.post(f"/api/files/{file_uuid}/speakers", headers=headers, json={"label": "SPEAKER_02"}), 201)
    speakers = {s["label"]: s["uuid"] for s in ok(client.get(f"/api/files/{file_uuid}/speakers", headers=headers))}
    segment = ok(client.get(f"/api/files/{file_uuid}/transcript", headers=headers))[0]["uuid"]
    ok(client.put(f"/api/speakers/{speakers['SPEAKER_00']}", headers=headers, json={"display_name": f"{marker} X"}))
    tag_name = f"{marker}-tag"
    ok(client.post(f"/api/files/{file_uuid}/tags", headers=headers, json={"name": tag_name}), 201)
    comment = ok(client.post(f"/api/files/{file_uuid}/comments", headers=headers, json={"text": f"{marker} c"}), 201)
    collection = ok(client.post("/api/collections", headers=headers, json={"name": f"{marker} coll"}), 201)
    ok(client.post(f"/api/collections/{collection['uuid']}/files", headers=headers, json={"file_uuids": [file_uuid]}))
    profile = ok(client.post("/api/speaker-profiles", headers=headers, json={"name": f"{marker} person"}), 201)
    link = {"profile_uuid": profile["uuid"]}
    ok(client.put(f"/api/speakers/{speakers['SPEAKER_00']}/profile", headers=headers, json=link))
    double = ok(client.post("/api/speaker-profiles", headers=headers, json={"name": f"{marker} twice"}), 201)
    group = ok(client.post("/api/speaker-collections", headers=headers, json={"name": f"{marker} group"}), 201)
    uuids = {"profile_uuids": [profile["uuid"]]}
    ok(client.post(f"/api/speaker-collections/{group['uuid']}/profiles", headers=headers, json=uuids))
    config_body = {
        "name": f"{marker} llm",
        "provider": "custom",
        "model_name": f"{marker}-model",
        "base_url": "http://127.0.0.1:9",
        "api_key": f"sk-{marker}-key",
    }
    config = ok(client.post("/api/llm-configs", headers=headers, json=config_body), 201)
    ok(client.post(f"/api/llm-configs/{config['uuid']}/activate", headers=headers))
    assert ok(client.post(f"/api/llm-configs/{config['uuid']}/test", headers=headers))["ok"] is False
    prompt_body = {"name": f"{marker} prompt", "prompt_text": f"{marker} {{transcript}}"}
    prompt = ok(client.post("/api/prompts", headers=headers, json=prompt_body), 201)
    ok(client.post(f"/api/prompts/{prompt['uuid']}/activate", headers=headers))
    summary = ok(client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={}), 202)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE file_summaries SET status = 'completed', bluf = %s, brief_summary = %s WHERE uuid = %s",
            [f"{marker} bottom line", f"{marker} brief", summary["uuid"]],
        )
    # A newer version still pending (its marker written as if answered), which a control may cancel, then delete;
    # the completed one above stays searchable.
    pending = ok(client.post(f"/api/files/{file_uuid}/summaries", headers=headers, json={}), 202)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE file_summaries SET markdown = %s, bluf = %s WHERE uuid = %s",
            [f"{marker} notes", f"{marker} bottom line", pending["uuid"]],
        )
    with psycopg.connect(conninfo, autocommit=True) as conn:  # a question asked (asking needs an LLM and pgvector)
        question = conn.execute(
            "INSERT INTO questions (user_id, scope, media_file_id, question, answer, provider, model_name) "
            "VALUES (%s, 'file', %s, %s, %s, 'custom', %s) RETURNING uuid",
            [user_id, file_id[0], f"{marker} question", f"{marker} answer [1]", f"{marker}-model"],
        ).fetchone()
        assert question is not None
    # A run over the transcript, still pending (its jobs are tested apart): a control may cancel it, then delete it.
    with psycopg.connect(conninfo, autocommit=True) as conn:
        llm_run = conn.execute(
            "INSERT INTO llm_runs (kind, media_file_id, user_id, llm_configuration_id, provider, model_name) "
            "SELECT 'topics', %s, %s, c.id, 'custom', c.model_name "
            "FROM user_llm_configurations c WHERE c.uuid = %s RETURNING uuid",
            [file_id[0], user_id, config["uuid"]],
        ).fetchone()
        assert llm_run is not None
        topic = conn.execute(  # a topic of that run, with what it proposes (step 21)
            "INSERT INTO file_topics (run_id, media_file_id, position, label, relevance, proposed_tag, "
            "proposed_collection) SELECT r.id, r.media_file_id, 0, %s, 0.7, %s, %s FROM llm_runs r WHERE r.uuid = %s "
            "RETURNING uuid",
            [f"{marker} topic", f"{marker}-topic-tag", f"{marker} topic collection", llm_run[0]],
        ).fetchone()
        assert topic is not None
        conn.execute(
            "INSERT INTO llm_usage (user_id, purpose, subject, provider, model_name, input_tokens, output_tokens, "
            "reported, latency_ms) VALUES (%s, 'topics', %s, 'custom', %s, 300, 50, true, 120)",
            [user_id, llm_run[0], f"{marker}-model"],
        )
        # A completed translation of the transcript (migration 0025): read, exported, re-done.
        translation = conn.execute(
            "INSERT INTO llm_runs (kind, media_file_id, user_id, llm_configuration_id, provider, model_name, "
            "language, status, progress, started_at, completed_at) "
            "SELECT 'translation', %s, %s, c.id, 'custom', c.model_name, 'ja', 'completed', 1, now(), now() "
            "FROM user_llm_configurations c WHERE c.uuid = %s RETURNING id, uuid",
            [file_id[0], user_id, config["uuid"]],
        ).fetchone()
        assert translation is not None
        conn.execute(
            "INSERT INTO translated_segments (run_id, segment_id, text) "
            "SELECT %s, ts.id, %s || ' 翻訳 ' || ts.text FROM transcript_segments ts WHERE ts.media_file_id = %s",
            [translation[0], marker, file_id[0]],
        )
    # A completed speaker_names run that proposed a name for each of two speakers, both open.
    names_run = _one(
        conninfo,
        "INSERT INTO llm_runs (kind, media_file_id, user_id, provider, model_name, status, completed_at) "
        "VALUES ('speaker_names', %s, %s, 'custom', %s, 'completed', now()) RETURNING id",
        file_id[0],
        user_id,
        f"{marker}-model",
    )
    name_proposals = [
        str(
            _one(
                conninfo,
                "INSERT INTO speaker_name_proposals (run_id, speaker_id, name, confidence) "
                "VALUES (%s, %s, %s, 0.7) RETURNING uuid",
                names_run,
                speaker_id,
                f"{marker} name {n}",
            )
        )
        for n, speaker_id in enumerate((first, second))
    ]
    ok(client.put("/api/settings/ui.theme", headers=headers, json={"value": "dark"}))
    # a second API token of the owner's, whose session a control may end (the one in `headers` stays)
    ok(client.post("/api/auth/token", data={"username": email, "password": "correct horse 1"}))
    spare_session = str(
        _one(conninfo, "SELECT uuid FROM auth_tokens WHERE user_id = %s ORDER BY id DESC LIMIT 1", user_id)
    )
    team = ok(client.post("/api/groups", headers=headers, json={"name": f"{marker} team"}), 201)["uuid"]
    member_email = f"{marker}-member-{secrets.token_hex(3)}@example.com"
    member = client.get("/api/users/me", headers=register(client, member_email)).json()["uuid"]
    ok(client.post(f"/api/groups/{team}/members", headers=headers, json={"email": member_email}), 201)
    object_shares = {
        kind: ok(client.post(f"/api/{path}/{uuid}/shares", headers=headers, json={"group_uuid": team, "role": role}))[
            "uuid"
        ]
        for kind, path, uuid, role in [
            ("file_share", "files", file_uuid, "editor"),
            ("collection_share", "collections", collection["uuid"], "commenter"),
            ("profile_share", "speaker-profiles", profile["uuid"], "viewer"),
        ]
    }
    ok(client.put("/api/notifications/preferences", headers=headers, json={"system": False}))
    notification = ok(client.get("/api/notifications", headers=headers))["items"][0]["uuid"]
    url_import = ok(
        client.post("/api/files/from-url", headers=headers, json={"url": f"http://93.184.216.34/{marker}"}), 202
    )
    public_link = ok(client.post(f"/api/files/{file_uuid}/links", headers=headers, json={"expires_in_days": 7}), 201)
    with psycopg.connect(conninfo, autocommit=True) as conn:  # an export ready to download (its job is tested apart)
        archive = f"{user_id}/exports/{secrets.token_hex(16)}.zip"
        (client.app.state.services.storage_dir / archive).parent.mkdir(parents=True, exist_ok=True)
        (client.app.state.services.storage_dir / archive).write_bytes(f"{marker} archive".encode())
        data_export = conn.execute(
            "INSERT INTO data_exports (user_id, status, progress, storage_key, size, files, ready_at, expires_at) "
            "VALUES (%s, 'ready', 1, %s, 20, 1, now(), now() + interval '1 day') RETURNING uuid",
            [user_id, archive],
        ).fetchone()
        assert data_export is not None
    ids = {
        "user": str(user_uuid),
        "file": file_uuid,
        "segment": segment,
        "speaker": speakers["SPEAKER_00"],
        "speaker2": speakers["SPEAKER_01"],
        "speaker3": speakers["SPEAKER_02"],  # takes over the segments of a deleted speaker
        "comment": comment["uuid"],
        "collection": collection["uuid"],
        "profile": profile["uuid"],
        "profile2": double["uuid"],  # merged into the first
        "speaker_collection": group["uuid"],
        "llm_config": config["uuid"],
        "prompt": prompt["uuid"],
        "summary": pending["uuid"],
        "question": str(question[0]),
        "llm_run": str(llm_run[0]),
        "translation": str(translation[1]),
        "speaker_name": name_proposals[0],
        "speaker_name2": name_proposals[1],
        "topic": str(topic[0]),
        "task": summary["task_id"],
        "notification": notification,
        "url_import": url_import["uuid"],
        "group": team,
        "group_member": member,
        **object_shares,
        "public_link": public_link["uuid"],
        "data_export": str(data_export[0]),
        "link_token": public_link["token"],
        "tag_name": tag_name,
        "setting_key": "ui.theme",
        "hold": str(uuid.uuid4()),  # legal holds are administrators' (admin routes only): one that exists nowhere
        "session": spare_session,
    }
    upload_task = _one(conninfo, "SELECT active_task_id FROM media_files WHERE uuid = %s", file_uuid)
    return Owner(headers, actor, ids, [marker, upload_task, *(v for k, v in ids.items() if k != "setting_key")])


# --- A's data, for comparing before and after ---------------------------------------------------------------------

OWNED_BY = "user_id = %(u)s"
FILES = "SELECT id FROM media_files WHERE user_id = %(u)s"
OF_FILES = f"media_file_id IN ({FILES})"
A_ROWS: dict[str, str] = {
    "users": "id = %(u)s",
    "auth_tokens": OWNED_BY,
    "media_files": OWNED_BY,
    "speaker_profiles": OWNED_BY,
    "speakers": OWNED_BY,
    "speaker_collections": OWNED_BY,
    "speaker_collection_members": "collection_id IN (SELECT id FROM speaker_collections WHERE user_id = %(u)s) "
    "OR profile_id IN (SELECT id FROM speaker_profiles WHERE user_id = %(u)s)",
    "speaker_matches": "speaker1_id IN (SELECT id FROM speakers WHERE user_id = %(u)s) "
    "OR speaker2_id IN (SELECT id FROM speakers WHERE user_id = %(u)s)",
    "speaker_profile_suggestions": "speaker_id IN (SELECT id FROM speakers WHERE user_id = %(u)s) "
    "OR profile_id IN (SELECT id FROM speaker_profiles WHERE user_id = %(u)s)",
    "transcript_segments": OF_FILES,
    "passages": OF_FILES,
    "segment_words": f"segment_id IN (SELECT id FROM transcript_segments WHERE {OF_FILES})",
    "transcript_versions": OF_FILES,
    "tags": f"id IN (SELECT tag_id FROM file_tags WHERE {OF_FILES})",
    "file_tags": OF_FILES,
    "comments": f"{OWNED_BY} OR {OF_FILES}",
    "collections": OWNED_BY,
    "collection_members": f"collection_id IN (SELECT id FROM collections WHERE user_id = %(u)s) OR {OF_FILES}",
    "tasks": f"{OWNED_BY} OR {OF_FILES}",
    "transcript_staging": f"task_id IN (SELECT id FROM tasks WHERE {OWNED_BY} OR {OF_FILES})",
    "analytics": OF_FILES,
    "processing_choices": OF_FILES,
    "user_settings": OWNED_BY,
    "user_llm_configurations": OWNED_BY,
    "llm_connection_tests": "configuration_id IN (SELECT id FROM user_llm_configurations WHERE user_id = %(u)s)",
    "summary_prompts": "user_id = %(u)s OR user_id IS NULL",  # the system prompts too: no user may change them
    "file_summaries": f"{OWNED_BY} OR {OF_FILES}",
    "notifications": OWNED_BY,
    "notification_preferences": OWNED_BY,
    "questions": OWNED_BY,
    "url_imports": OWNED_BY,
    "import_origins": "FALSE",  # written only by `opentr import`, never through the API
    # Step 17: what A created or is a member of, and what is shared on A's objects, with A or with A's groups.
    "groups": "created_by = %(u)s OR id IN (SELECT group_id FROM group_members WHERE user_id = %(u)s)",
    "group_members": "user_id = %(u)s OR group_id IN (SELECT group_id FROM group_members WHERE user_id = %(u)s) "
    "OR group_id IN (SELECT id FROM groups WHERE created_by = %(u)s)",
    "shares": f"shared_by = %(u)s OR {OWNED_BY} OR {OF_FILES} "
    "OR collection_id IN (SELECT id FROM collections WHERE user_id = %(u)s) "
    "OR speaker_profile_id IN (SELECT id FROM speaker_profiles WHERE user_id = %(u)s) "
    "OR group_id IN (SELECT group_id FROM group_members WHERE user_id = %(u)s)",
    "public_links": f"created_by = %(u)s OR {OF_FILES}",
    # Step 19: A's sign-ins from elsewhere, and what the trail says A did (others' actions are written as theirs).
    "user_identities": OWNED_BY,
    # A's own downloads (the owner's baseline calls in the matrix) are recorded as they happen: not a change by others.
    "audit_log": "actor_id = %(u)s AND action NOT IN ('export.transcript', 'export.media', 'account.export')",
    # Step 19: A's second factor, recovery codes and reset links; the instance's settings A changed.
    "user_two_factor": OWNED_BY,
    "recovery_codes": OWNED_BY,
    "password_resets": OWNED_BY,
    "instance_settings": "updated_by = %(u)s",
    "data_exports": OWNED_BY,
    # Step 19 retention: holds on A's files or collections (administrators place them), notices about A's files.
    "legal_holds": f"{OF_FILES} OR collection_id IN (SELECT id FROM collections WHERE user_id = %(u)s)",
    "retention_notices": OF_FILES,
    "retention_settings": "FALSE",  # the instance's one row, an administrator's
    # Step 21: runs of an LLM over A's files or requested by A, what A's requests cost, the limit set for A.
    "llm_runs": f"{OWNED_BY} OR {OF_FILES}",
    "llm_usage": OWNED_BY,
    "llm_token_limits": "user_id = %(u)s OR set_by = %(u)s",
    "translated_segments": f"run_id IN (SELECT id FROM llm_runs WHERE {OWNED_BY} OR {OF_FILES})",
    "speaker_name_proposals": "speaker_id IN (SELECT id FROM speakers WHERE user_id = %(u)s) "
    "OR run_id IN (SELECT id FROM llm_runs WHERE user_id = %(u)s) OR decided_by = %(u)s",
    "file_topics": OF_FILES,  # step 21: the topics of A's files
}


def snapshot(conninfo: str, user_id: int, storage: Path) -> dict[str, Any]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '%%yoyo%%'"
            )
        }
        assert tables == set(A_ROWS), f"classify the rows of a user in table(s) {tables ^ set(A_ROWS)} in A_ROWS"
        rows = {
            table: conn.execute(
                sql.SQL(
                    "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {} t WHERE "
                ).format(sql.Identifier(table))
                + sql.SQL(condition),
                {"u": user_id},
            ).fetchone()
            for table, condition in A_ROWS.items()
        }
    media = {str(p.relative_to(storage)): p.read_bytes() for p in (storage / str(user_id)).rglob("*") if p.is_file()}
    assert media, "A's stored media is part of the snapshot"
    return {"rows": rows, "media": media}


# --- the test -----------------------------------------------------------------------------------------------------


@pytest.fixture
def client(app_settings: Settings) -> Iterator[Any]:
    """The app on the test PostgreSQL with a Redis of its own: the jobs it enqueues stay out of the shared one."""
    from starlette.testclient import TestClient

    from web.app import create_app

    with (
        private_redis() as url,
        TestClient(create_app(app_settings.model_copy(update={"redis_url": url}))) as test_client,
    ):
        yield test_client


def test_every_route_isolates_users(client: Any, fresh_url: str, app_settings: Settings) -> None:
    endpoints = all_endpoints()
    keys = [key_of(e) for e in endpoints]
    assert len(keys) == len(set(keys))

    # Every route is classified; the tables hold no stale entries.
    stale = set(OWN_SCOPE) - set(keys)
    assert not stale, f"OWN_SCOPE names routes that do not exist: {stale}"
    stale_public = set(TOKEN_SCOPED) - set(keys)
    assert not stale_public, f"TOKEN_SCOPED names routes that do not exist: {stale_public}"
    addressing = [e for e in endpoints if not e.admin and key_of(e) not in OWN_SCOPE and key_of(e) not in TOKEN_SCOPED]
    for endpoint in endpoints:
        key, slots = key_of(endpoint), slots_of(endpoint)
        assert endpoint.admin == endpoint.path.startswith("/api/admin/"), f"{key}: admin routes live under /api/admin"
        assert not (endpoint.admin and key in OWN_SCOPE), f"{key} is an admin route: remove it from OWN_SCOPE"
        if key in TOKEN_SCOPED:
            assert PATH_PARAM.findall(endpoint.path) == ["token"] and not slots, f"{key}: the token and nothing else"
        elif key in OWN_SCOPE:
            assert not [s for s in slots if s.place == "path"], f"{key} addresses a resource by path: not OWN_SCOPE"
        elif not endpoint.admin:
            assert any(s.place == "path" for s in slots), (
                f"{key} is not classified: add it to OWN_SCOPE (with why) if it addresses nothing of another user's"
            )
        assert endpoint.auth == (key not in PUBLIC), f"{key}: only {sorted(PUBLIC)} may be called without a token"
    for missing in {s for s in CONTROL_FIRST + CONTROL_DESTRUCTIVE if s not in keys}:
        raise AssertionError(f"the control order names a route that does not exist: {missing}")

    a = own_everything(client, fresh_url, "alphasecret", 1.0)
    b = own_everything(client, fresh_url, "bravo", 1.5)
    register(client, INVITEE)  # the account the controls add to B's group
    assert set(a.ids.values()) & set(b.ids.values()) == {"ui.theme"}, "distinct resources, the same setting key"
    nowhere = {kind: str(uuid.uuid4()) for kind in a.ids} | {"task": f"summary-{uuid.uuid4()}"}
    # Token-scoped routes (before the snapshot: a view counts a use of A's link): A's link shows its one file to
    # anyone, and nothing that identifies A or A's rows; a token that is no link (B's changed by a character) is 404.
    for endpoint in endpoints:
        if key_of(endpoint) not in TOKEN_SCOPED:
            continue
        shown = client.get(build(endpoint, lambda _slot: a.ids, a.ids).path)
        assert shown.status_code == 200 and "alphasecret title" in shown.text, shown.text
        hidden = [a.ids[k] for k in ("file", "user", "comment", "collection", "segment", "speaker", "public_link")]
        assert not [v for v in hidden if v in shown.text], f"{key_of(endpoint)} shows A's identifiers"
        assert "alphasecret c" not in shown.text, "comments are not public"
        forged = {**b.ids, "link_token": b.ids["link_token"][:-1] + ("A" if b.ids["link_token"][-1] != "A" else "B")}
        assert client.get(build(endpoint, lambda _slot: b.ids, forged).path).status_code == 404

    storage = app_settings.storage_dir
    before = snapshot(fresh_url, a.actor.id, storage)
    calls: list[str] = []

    def call(request: Request, headers: dict[str, str]) -> Any:
        calls.append(f"{request.method} {request.path}")
        response = client.request(
            request.method,
            request.path,
            headers=headers,
            json=request.json,
            params=request.params,
            files=request.files,
        )
        assert response.status_code < 500, f"{request.method} {request.path}: {response.status_code} {response.text}"
        if 200 <= response.status_code < 300 and headers is b.headers:
            sent = f"{request.path} {request.params} {request.json}"  # echoing what B sent tells B nothing
            leaked = [s for s in a.secrets if s in response.text and s not in sent]
            assert not leaked, f"{request.method} {request.path} showed B {leaked}: {response.text[:500]}"
        return response

    def all_of(owner: Owner) -> Callable[[Slot], Ids]:
        return lambda _slot: owner.ids

    # (a) no token, a garbage token, a revoked token: 401 on every route that needs one.
    revoked = register(client)
    assert client.post("/api/auth/logout", headers=revoked).status_code == 204
    for endpoint in endpoints:
        if not endpoint.auth:
            continue
        request = build(endpoint, all_of(a), a.ids)
        for headers in ({}, {"Authorization": "Bearer not-a-real-token"}, revoked):
            response = call(request, headers)
            assert response.status_code == 401, f"{key_of(endpoint)} with {headers}: {response.text}"
            assert response.headers.get("www-authenticate") == "Bearer"

    # (b) B with A's identifiers: all of them, then one slot at a time among B's own.
    exercised: set[Key] = set()
    for endpoint in addressing:
        slots = slots_of(endpoint)
        variants: dict[str, Callable[[Slot], Ids]] = {"all": all_of(a)}
        if len(slots) > 1:
            for chosen in slots:
                variants[chosen.label] = only(chosen, a.ids, b.ids)
        for label, source in variants.items():
            values = a.ids if source(slots[0]) is a.ids else b.ids  # a tag name goes with its file
            response = call(build(endpoint, source, values), b.headers)
            if (*key_of(endpoint), label) in TOLERATED:
                unknown = call(build(endpoint, replaced(source, a.ids, nowhere), values), b.headers)
                assert (response.status_code, response.text) == (unknown.status_code, unknown.text), (
                    f"{key_of(endpoint)} tells A's {label} from an unknown one"
                )
                continue
            assert response.status_code == 404, (
                f"{endpoint.method} {endpoint.path} with A's {label} answered B {response.status_code}: "
                f"{response.text[:300]}"
            )
        exercised.add(key_of(endpoint))

    # Own-scope routes: B's reads show nothing of A's; A's identifiers in their queries and bodies change nothing.
    for endpoint in endpoints:
        if key_of(endpoint) not in OWN_SCOPE or not endpoint.auth:
            continue
        if endpoint.method == "GET" or slots_of(endpoint):
            response = call(build(endpoint, all_of(a), b.ids, search="alphasecret"), b.headers)
            # 409 is a body reference to nothing of B's (a setting naming A's prompt), refused naming the field.
            assert response.status_code in (200, 404, 409), f"{key_of(endpoint)}: {response.text}"
    searches = [("/api/search", {"q": "alphasecret", "mode": mode}) for mode in ("words", "meaning", "both")]
    for path, params in [*searches, ("/api/files", {"q": "alphasecret"})]:
        assert "alphasecret" not in call(Request("GET", path, None, params), b.headers).text

    # (c) admin routes refuse a non-administrator, and serve an administrator.
    admin_headers = register(client)
    make_admin(fresh_url, admin_headers, client)
    victim = register(client)
    victim_uuid = client.get("/api/users/me", headers=victim).json()["uuid"]
    # What the admin routes that name an object act on (legal holds): a third user's file, and a hold on their
    # collection (not the victim's: the victim is deleted first).
    holder = register(client)
    held_file = a_file(fresh_url, actor_of(client, fresh_url, holder), title="held")
    held_collection = client.post("/api/collections", headers=holder, json={"name": "held"}).json()["uuid"]
    hold = client.post(
        "/api/admin/holds", headers=admin_headers, json={"collection_uuid": held_collection, "reason": "matrix"}
    ).json()["uuid"]
    victim_ids = {"user": victim_uuid, "file": held_file, "hold": hold}
    for endpoint in sorted(endpoints, key=lambda e: e.method == "DELETE"):  # the victim's deletion comes last
        if not endpoint.admin:
            continue
        response = call(build(endpoint, all_of(a), a.ids), b.headers)
        assert response.status_code == 403, f"{key_of(endpoint)} answered a non-admin {response.status_code}"
        as_admin = call(build(endpoint, lambda _slot: victim_ids, {}), admin_headers)
        assert 200 <= as_admin.status_code < 300, f"{key_of(endpoint)} as admin: {as_admin.text}"

    # Controls: the very same requests with B's own identifiers succeed, so each 404 above was about ownership.
    def order(endpoint: Endpoint) -> tuple[int, int]:
        key = key_of(endpoint)
        if key in CONTROL_FIRST:
            return 1, CONTROL_FIRST.index(key)
        if key in CONTROL_AFTER_WRITES:
            return 2, 1
        if key in CONTROL_DESTRUCTIVE:
            return 3, 0
        if endpoint.method == "DELETE":
            return (5, 0) if endpoint.path == "/api/files/{uuid}" else (4, 0)
        return (0 if endpoint.method == "GET" else 2), 0

    for endpoint in sorted(addressing, key=order):
        response = call(build(endpoint, all_of(b), b.ids), b.headers)
        assert 200 <= response.status_code < 300, (
            f"control {endpoint.method} {endpoint.path} with B's own resources: {response.status_code} {response.text}"
        )
    assert client.get(f"/api/files/{b.ids['file']}", headers=b.headers).status_code == 404, "B's own delete worked"

    # (d) nothing of A's changed.
    after = snapshot(fresh_url, a.actor.id, storage)
    for table in A_ROWS:
        assert after["rows"][table] == before["rows"][table], f"A's rows in {table} changed"
    assert after["media"] == before["media"], "A's stored media changed"
    assert exercised == {key_of(e) for e in addressing}
    assert len(calls) > 3 * len(endpoints)
    for path in (f"/api/files/{a.ids['file']}", f"/api/summaries/{a.ids['summary']}", f"/api/tasks/{a.ids['task']}"):
        assert client.get(path, headers=a.headers).status_code == 200, path


# --- roles (Step 17): every file route x every kind of principal --------------------------------------------------

# The rank each route that addresses a file (or a row of one) by path needs (repo/access.py): 1 viewer, 2 commenter,
# 3 editor, 4 owner; "author": only the comment's author. A route addressing a file by path that is missing here
# fails the test below; other helpers' routes (shares, public links) are classified in the tables above.
FILE_ROUTE_RANK: dict[Key, int | str] = {
    ("GET", "/api/files/{uuid}"): 1,
    ("PUT", "/api/files/{uuid}"): 3,
    ("DELETE", "/api/files/{uuid}"): 4,
    ("GET", "/api/files/{uuid}/status"): 1,
    ("POST", "/api/files/{uuid}/cancel"): 3,
    ("POST", "/api/files/{uuid}/retry"): 3,
    ("POST", "/api/files/{uuid}/reprocess"): 3,
    ("POST", "/api/files/{uuid}/rerun"): 3,
    ("PUT", "/api/files/{uuid}/transcript"): 3,
    ("GET", "/api/files/{uuid}/content"): 1,
    ("GET", "/api/files/{uuid}/thumbnail"): 1,
    ("GET", "/api/files/{uuid}/transcript"): 1,
    ("GET", "/api/files/{uuid}/transcript/segments/{segment_uuid}"): 1,
    ("PUT", "/api/files/{uuid}/transcript/segments/{segment_uuid}"): 3,
    ("GET", "/api/files/{uuid}/subtitles"): 1,
    ("GET", "/api/files/{uuid}/waveform"): 1,
    ("GET", "/api/files/{uuid}/export"): 1,
    ("GET", "/api/files/{uuid}/analytics"): 1,
    ("POST", "/api/files/{uuid}/tags"): 3,
    ("DELETE", "/api/files/{uuid}/tags/{name}"): 3,
    ("GET", "/api/files/{uuid}/comments"): 1,
    ("POST", "/api/files/{uuid}/comments"): 2,
    ("PUT", "/api/comments/{uuid}"): "author",
    ("DELETE", "/api/comments/{uuid}"): 4,  # its author too (tests/test_access.py); here the owner wrote it
    ("GET", "/api/files/{uuid}/speakers"): 1,
    ("POST", "/api/files/{uuid}/speakers"): 3,
    ("POST", "/api/files/{uuid}/speakers/merge"): 3,
    ("PUT", "/api/speakers/{uuid}"): 3,
    ("DELETE", "/api/speakers/{uuid}"): 3,
    ("POST", "/api/speakers/{uuid}/verify"): 3,
    ("PUT", "/api/speakers/{uuid}/profile"): 3,
    ("GET", "/api/speakers/{uuid}/matches"): 1,
    ("GET", "/api/speakers/{uuid}/suggestions"): 1,
    ("POST", "/api/speakers/{uuid}/suggestions/{profile_uuid}/accept"): 3,
    ("POST", "/api/speakers/{uuid}/suggestions/{profile_uuid}/reject"): 3,
    ("POST", "/api/speakers/{uuid}/remember"): 3,
    ("POST", "/api/files/{uuid}/summaries"): 3,
    ("GET", "/api/files/{uuid}/summaries"): 1,
    ("GET", "/api/summaries/{uuid}"): 1,
    ("DELETE", "/api/summaries/{uuid}"): 3,
    ("POST", "/api/summaries/{uuid}/cancel"): 3,
    ("GET", "/api/files/{uuid}/llm-runs"): 1,
    ("GET", "/api/llm-runs/{uuid}"): 1,
    ("POST", "/api/llm-runs/{uuid}/cancel"): 3,  # its requester too, whatever their rank now
    ("DELETE", "/api/llm-runs/{uuid}"): 3,
    ("POST", "/api/files/{uuid}/translations"): 3,
    ("GET", "/api/files/{uuid}/translations"): 1,
    ("GET", "/api/translations/{uuid}"): 1,
    ("GET", "/api/translations/{uuid}/export"): 1,
    ("POST", "/api/translations/{uuid}/redo"): 3,
    ("POST", "/api/files/{uuid}/speaker-names"): 3,
    ("GET", "/api/files/{uuid}/speaker-names"): 1,
    ("POST", "/api/speaker-names/{uuid}/accept"): 3,
    ("POST", "/api/speaker-names/{uuid}/reject"): 3,
    # a file's topics (web/topics.py): read by its readers, asked for and decided on by its editors; a collection
    # holds its owner's files, so an editor's accept-collection is a 409 naming collection (tests/test_topics.py)
    ("GET", "/api/files/{uuid}/topics"): 1,
    ("POST", "/api/files/{uuid}/topics"): 3,
    ("POST", "/api/topics/{uuid}/accept-tag"): 3,
    ("POST", "/api/topics/{uuid}/accept-collection"): 3,
    ("POST", "/api/topics/{uuid}/dismiss"): 3,
    # sharing is the owner's (web/shares.py)
    ("GET", "/api/files/{uuid}/shares"): 4,
    ("POST", "/api/files/{uuid}/shares"): 4,
    ("DELETE", "/api/files/{uuid}/shares/{share_uuid}"): 4,
    ("POST", "/api/files/{uuid}/links"): 4,  # public links are the owner's (repo/public_links.py)
    ("GET", "/api/files/{uuid}/links"): 4,
    ("GET", "/api/files/{uuid}/retention"): 4,  # its due date and hold are its owner's (web/retention.py)
    ("DELETE", "/api/files/{uuid}/links/{link_uuid}"): 4,
}
FILE_KINDS = {
    "file",
    "segment",
    "speaker",
    "comment",
    "summary",
    "llm_run",
    "translation",
    "speaker_name",
    "speaker_name2",
    "topic",
}
# Each principal's rank on A's file (None: no credentials); the admin's view=all acts with the owner's rank but is
# not the author of A's comment.
PRINCIPAL_RANK: dict[str, int | None] = {
    "owner": 4,
    "editor": 3,
    "commenter": 2,
    "viewer via user share": 1,
    "viewer via group share": 1,
    "viewer via collection share": 1,
    "non-member": 0,
    "admin": 0,
    "admin with view=all": 4,
    "anonymous": None,
    # A's public link's token, sent as the bearer token: the link grants its file to the public pages only, never a
    # way into the API (or the signed-in pages)
    "public-link holder": None,
}


def expected_status(needed: int | str, principal: str) -> int | None:
    """401 / 404 / 403 for a refusal; None when the principal may do it."""
    rank = PRINCIPAL_RANK[principal]
    if rank is None:
        return 401
    if rank == 0:
        return 404
    if needed == "author":
        return None if principal == "owner" else 403
    assert isinstance(needed, int)
    return None if rank >= needed else 403


def test_every_file_route_answers_each_role_by_the_rank_it_needs(
    client: Any, fresh_url: str, app_settings: Settings
) -> None:
    """Every file route x {owner, editor, commenter, viewer via a user / group / collection share, non-member,
    admin, admin with ?view=all, anonymous, holder of a public link}: a refusal is 401, 404 (cannot see the file) or
    403 (sees it, below the rank), and changes nothing of A's; a permitted read answers as it does to the owner.
    Permitted writes are not sent here (they would change the state the next calls need): tests/test_access.py
    makes them."""
    checks = role_matrix(client, fresh_url, app_settings)
    print(f"role matrix through the API: {checks} route x principal checks")


@dataclass
class Roles:
    """A (owner of one of everything) and one account per principal of PRINCIPAL_RANK, shared with as it says."""

    a: Owner
    headers_of: dict[str, dict[str, str]]
    emails: dict[str, str]
    other_title: str  # a second file of A's that no link names


def arrange_roles(client: Any, fresh_url: str) -> Roles:
    a = own_everything(client, fresh_url, "alphasecret", 1.0)
    people = {
        name: register(client) for name in PRINCIPAL_RANK if name not in ("owner", "anonymous", "public-link holder")
    }
    make_admin(fresh_url, people["admin"], client)
    make_admin(fresh_url, people["admin with view=all"], client)
    user_ids = {
        name: _one(
            fresh_url, "SELECT id FROM users WHERE email = %s", client.get("/api/users/me", headers=h).json()["email"]
        )
        for name, h in people.items()
    }
    file_id = _one(fresh_url, "SELECT id FROM media_files WHERE uuid = %s", a.ids["file"])
    collection_id = _one(fresh_url, "SELECT id FROM collections WHERE uuid = %s", a.ids["collection"])
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        for name, role in (("editor", "editor"), ("commenter", "commenter"), ("viewer via user share", "viewer")):
            conn.execute(
                "INSERT INTO shares (media_file_id, user_id, role, shared_by) VALUES (%s, %s, %s, %s)",
                [file_id, user_ids[name], role, a.actor.id],
            )
        group = conn.execute(
            "INSERT INTO groups (name, created_by) VALUES ('Redaktion 編集部', %s) RETURNING id", [a.actor.id]
        ).fetchone()
        assert group is not None
        conn.execute(
            "INSERT INTO group_members (group_id, user_id) VALUES (%s, %s)",
            [group[0], user_ids["viewer via group share"]],
        )
        conn.execute(
            "INSERT INTO shares (media_file_id, group_id, role, shared_by) VALUES (%s, %s, 'viewer', %s)",
            [file_id, group[0], a.actor.id],
        )
        conn.execute(
            "INSERT INTO shares (collection_id, user_id, role, shared_by) VALUES (%s, %s, 'viewer', %s)",
            [collection_id, user_ids["viewer via collection share"], a.actor.id],
        )
    other_title = "alphasecret ungeteilt 未共有 🔒"
    a_file(fresh_url, a.actor, title=other_title, status="completed")
    headers_of = {
        "owner": a.headers,
        "anonymous": {},
        "public-link holder": {"Authorization": f"Bearer {a.ids['link_token']}"},
        **people,
    }
    signed_in = {"owner": a.headers, **people}
    emails = {name: client.get("/api/users/me", headers=h).json()["email"] for name, h in signed_in.items()}
    return Roles(a, headers_of, emails, other_title)


def role_matrix(client: Any, fresh_url: str, app_settings: Settings, settle: Callable[[], None] | None = None) -> int:
    """The role matrix through the API; `settle` runs after the arrangement's writes (a replica catching up).
    Returns how many route x principal checks were made."""
    endpoints = [e for e in all_endpoints() if e.path.startswith("/api/") and not e.admin]
    keys = {key_of(e) for e in endpoints}
    stale = set(FILE_ROUTE_RANK) - keys
    assert not stale, f"FILE_ROUTE_RANK names routes that do not exist: {stale}"
    file_routes = []
    for endpoint in endpoints:
        if any(s.place == "path" and s.kind in FILE_KINDS for s in slots_of(endpoint)):
            assert key_of(endpoint) in FILE_ROUTE_RANK, (
                f"{key_of(endpoint)}: declare the rank it needs in FILE_ROUTE_RANK"
            )
            file_routes.append(endpoint)

    roles = arrange_roles(client, fresh_url)
    a, headers_of = roles.a, roles.headers_of
    if settle is not None:
        settle()
    # The link holder's way in (before the snapshot: a view counts a use of the link): the public route shows the
    # link's file, and no other file of A's; a token one character off is no link.
    checks = check_public_routes(client, roles)
    storage = app_settings.storage_dir
    before = snapshot(fresh_url, a.actor.id, storage)

    failures = []
    for endpoint in file_routes:
        request = build(endpoint, lambda _slot: a.ids, a.ids)
        needed = FILE_ROUTE_RANK[key_of(endpoint)]
        baseline: int | None = None
        for principal in PRINCIPAL_RANK:
            expected = expected_status(needed, principal)
            if expected is None and endpoint.method != "GET":
                continue  # a permitted write: tests/test_access.py
            params = {**request.params, **({"view": "all"} if principal == "admin with view=all" else {})}
            response = client.request(
                request.method,
                request.path,
                headers=headers_of[principal],
                json=request.json,
                params=params,
                files=request.files,
            )
            if principal == "owner":
                baseline = response.status_code
                assert baseline < 400, f"{key_of(endpoint)}: the owner got {baseline}: {response.text[:300]}"
            want = baseline if expected is None else expected
            checks += 1
            if response.status_code != want:
                failures.append(f"{endpoint.method} {endpoint.path} as {principal}: {response.status_code} not {want}")
    assert not failures, "\n".join(failures)
    assert snapshot(fresh_url, a.actor.id, storage) == before, "a refused call changed A's data"
    return checks


def forged(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def check_public_routes(client: Any, roles: Roles, paths: tuple[str, ...] = ("/api/public/{token}",)) -> int:
    """Each public route with the link's token shows the link's file (to anyone: no credentials sent) and not A's
    other file; with a forged token it is 404. Returns the number of checks."""
    token, checks = roles.a.ids["link_token"], 0
    for path in paths:
        shown = client.get(path.format(token=token))
        assert shown.status_code == 200 and "alphasecret title" in shown.text, f"{path}: {shown.text[:300]}"
        assert roles.other_title not in shown.text, f"{path} shows a file of A's the link does not name"
        assert client.get(path.format(token=forged(token))).status_code == 404, path
        checks += 2
    return checks
