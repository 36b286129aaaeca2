"""Schemathesis hooks for tests/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS in the `st` process).

- Every generated request carries a fresh bearer token of the test's user, issued straight into the database: a
  generated `POST /api/auth/logout` revokes only its own token, so it cannot turn the rest of the run into 401s.
- audio/* and video/* parts are sent as bytes. Links from a field that may be null (a URL import's task has no
  file) are the document's own, one value at a time (web/openapi.py). Schemathesis's resource pool, though, may
  still fill a positive case's path parameter with a field that was null earlier (filter_case drops those).
- In the example-based phases, half of the positive cases name one of the user's real resources in their path
  (from OPENTR_ST_POOLS), so the requests reach real data and not only 404s; the stateful phase follows its links.
"""

from __future__ import annotations

import json
import os
import random
import threading
from typing import Any

import psycopg
import schemathesis

from credentials import tokens
from tests.test_fuzz_api import _pool_kind

_local = threading.local()
POOLS: dict[str, list[str]] = json.loads(os.environ.get("OPENTR_ST_POOLS", "{}"))


def _connection() -> psycopg.Connection[Any]:
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(os.environ["OPENTR_ST_DATABASE"], autocommit=True)
        _local.conn = conn
    return conn


@schemathesis.auth(refresh_interval=None)
class FreshToken:
    def get(self, case: Any, ctx: schemathesis.AuthContext) -> str:
        token = tokens.new_token()
        _connection().execute(
            "INSERT INTO auth_tokens (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 hour')",
            [int(os.environ["OPENTR_ST_USER_ID"]), tokens.hash_token(token)],
        )
        return token

    def set(self, case: Any, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


# The upload's `file` part is declared audio/* or video/*: its bytes go as they are, like application/octet-stream.
schemathesis.serializer.alias(["audio/*", "video/*"], "application/octet-stream")


@schemathesis.hook
def filter_case(context: schemathesis.HookContext, case: Any) -> bool:
    """Schemathesis's resource pool can fill a path parameter of a *positive* case with a field that was null in an
    earlier response (a speaker's `profile_uuid` after an unlink), sends `.../suggestions/null/reject` and then
    judges the API's 422 a valid request refused (seed 20261201 did, once). A uuid parameter of "null" is no request
    the document allows, so such a case is not one to judge the API by. Negative cases keep their "null"s: the API
    must refuse those, and is checked to."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return True
    return all(value not in (None, "None", "null") for value in (case.path_parameters or {}).values())


def _kind(path: str, name: str) -> str:
    """The pool of a path parameter: tests/test_fuzz_api.py's kinds, and those of sharing (Step 17)."""
    if name == "share_uuid":
        return f"{path.split('/')[2]}-shares"
    if name == "link_uuid":
        return "links"
    if name == "user_uuid" and path.startswith("/api/groups/"):
        return "group-members"
    return _pool_kind(path, name)


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: Any) -> Any:
    meta = case.meta
    if meta is None or not case.path_parameters or meta.phase.name.value == "stateful":
        return case
    if not meta.generation.mode.is_positive:
        return case
    chooser = random.Random(repr(sorted(case.path_parameters.items())) + repr(case.body))
    if chooser.random() < 0.5:
        return case
    path = case.operation.path
    for name in list(case.path_parameters):
        pool = POOLS.get(_kind(path, name))
        if pool:
            case.path_parameters[name] = chooser.choice(pool)
    return case
