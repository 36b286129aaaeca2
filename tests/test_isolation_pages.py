"""The role matrix through the pages (issue 22): every page that addresses a file (or a segment, speaker, comment,
share or link of one), a collection or a speaker profile x every principal of the API's role matrix
(tests/test_isolation_matrix.py: owner, editor, commenter, viewer via a user / group / collection share, non-member,
admin, admin with ?view=all, anonymous, holder of A's public link).

A page is read (200) by whoever may read the object; who cannot see it gets the not-found page (404), an
administrator too unless in the all-files view; who is not signed in (the link's token is no sign-in) is sent to sign
in (303 to /signin). A form post below the rank needed is refused (403 seen but not allowed, 404 unseen) and changes
nothing of A's. Permitted form posts are not sent (they would change what the next calls need): the page tests
(tests/test_ui_*.py) make them. A page route with a path parameter that is in none of the tables fails the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from config.settings import Settings
from tests.test_isolation_matrix import (
    PRINCIPAL_RANK,
    Key,
    Roles,
    arrange_roles,
    check_public_routes,
    forged,
    snapshot,
)
from tests.web import PAGE_PASSWORD, csrf_in
from transcript.choices import STAGES
from web.endpoint import Endpoint
from web.public_links import EXPORT_FORMATS
from web.ui import MODULES

# The object a page addresses first in its path, and the rank it needs on it (1 viewer, 2 commenter, 3 editor,
# 4 owner), as the API's routes for the same action (FILE_ROUTE_RANK).
PAGE_ROUTE_RANK: dict[Key, tuple[str, int]] = {
    ("GET", "/files/{uuid}"): ("file", 1),
    ("POST", "/files/{uuid}/tags"): ("file", 3),
    ("POST", "/files/{uuid}/tags/remove"): ("file", 3),
    ("POST", "/files/{uuid}/comments"): ("file", 2),
    ("POST", "/files/{uuid}/comments/{comment}/delete"): ("file", 4),  # its author too; here the owner wrote it
    ("POST", "/files/{uuid}/speakers/{speaker}"): ("file", 3),
    ("POST", "/files/{uuid}/speakers/{speaker}/profile"): ("file", 3),
    ("POST", "/files/{uuid}/speakers/{speaker}/suggestions/{profile}"): ("file", 3),
    ("POST", "/files/{uuid}/speakers-merge"): ("file", 3),
    ("POST", "/files/{uuid}/segments/{segment}"): ("file", 3),
    # into A's collection (the form names it): a person it is not shared with cannot see it (404), its viewer
    # sees it but may not add to it (403)
    ("POST", "/files/{uuid}/collections"): ("collection", 4),
    ("POST", "/files/{uuid}/rerun"): ("file", 3),
    ("POST", "/files/{uuid}/topics"): ("file", 3),  # step 21: as the API's (web/topics.py)
    ("POST", "/files/{uuid}/topics/cancel"): ("file", 3),
    ("POST", "/files/{uuid}/topics/{topic}/accept-tag"): ("file", 3),
    ("POST", "/files/{uuid}/topics/{topic}/accept-collection"): ("file", 3),
    ("POST", "/files/{uuid}/topics/{topic}/dismiss"): ("file", 3),
    ("POST", "/files/{uuid}/shares"): ("file", 4),
    ("POST", "/files/{uuid}/shares/{share}"): ("file", 4),
    ("POST", "/files/{uuid}/links"): ("file", 4),
    ("POST", "/files/{uuid}/links/{link}/revoke"): ("file", 4),
    ("POST", "/files/{uuid}/translations"): ("file", 3),  # step 21: as POST /api/files/{uuid}/translations
    ("POST", "/files/{uuid}/translations/{run}/redo"): ("file", 3),
    ("POST", "/files/{uuid}/translations/{run}/cancel"): ("file", 3),
    ("POST", "/files/{uuid}/translations/{run}/delete"): ("file", 3),
    ("POST", "/files/{uuid}/speaker-names"): ("file", 3),  # step 21: as POST /api/files/{uuid}/speaker-names
    ("POST", "/files/{uuid}/speaker-names/runs/{run}/cancel"): ("file", 3),
    ("POST", "/files/{uuid}/speaker-names/{proposal}"): ("file", 3),
    ("GET", "/collections/{uuid}"): ("collection", 1),
    ("POST", "/collections/{uuid}/edit"): ("collection", 4),
    ("POST", "/collections/{uuid}/delete"): ("collection", 4),
    ("POST", "/collections/{uuid}/shares"): ("collection", 4),
    ("POST", "/collections/{uuid}/shares/{share}"): ("collection", 4),
    ("POST", "/collections/{uuid}/retention"): ("collection", 4),  # its owner sets its retention policy
    ("POST", "/speakers/{uuid}/edit"): ("profile", 4),
    ("POST", "/speakers/{uuid}/merge"): ("profile", 4),
    ("POST", "/speakers/{uuid}/delete"): ("profile", 4),
    ("POST", "/speakers/{uuid}/shares"): ("profile", 4),
    ("POST", "/speakers/{uuid}/shares/{share}"): ("profile", 4),
}
# Page routes with a path parameter that address none of those, and where they are checked instead.
PAGE_ELSEWHERE: dict[Key, str] = {
    ("GET", "/p/{token}"): "a public link's page: check_public_routes below",
    ("GET", "/p/{token}/media"): "a public link's recording: check_public_routes below",
    ("GET", "/p/{token}/export/{format}"): "a public link's download: check_public_routes below",
    ("GET", "/groups/{uuid}"): "a group's members: tests/test_ui_groups.py",
    ("POST", "/groups/{uuid}/edit"): "a group's owner: tests/test_ui_groups.py",
    ("POST", "/groups/{uuid}/delete"): "a group's owner: tests/test_ui_groups.py",
    ("POST", "/groups/{uuid}/members"): "a group's owner: tests/test_ui_groups.py",
    ("POST", "/groups/{uuid}/members/{member}"): "a group's owner: tests/test_ui_groups.py",
    ("POST", "/groups/{uuid}/leave"): "the caller's membership: tests/test_ui_groups.py",
    ("POST", "/settings/llm/{uuid}/activate"): "the caller's own configurations, never shared",
    ("POST", "/settings/llm/{uuid}/delete"): "the caller's own configurations, never shared",
    ("POST", "/settings/prompts/{uuid}/activate"): "the caller's own or a system prompt, never shared",
    ("POST", "/ask/questions/{uuid}/delete"): "the caller's own questions, never shared: tests/test_ui_ask.py",
    ("POST", "/admin/users/{uuid}"): "administrators only: tests/test_ui_settings.py",
    ("POST", "/admin/users/{uuid}/delete"): "administrators only: tests/test_ui_settings.py",
    ("POST", "/admin/users/{uuid}/llm-limit"): "administrators only: tests/test_ui_llm_usage.py",
    ("POST", "/settings/sessions/{uuid}/end"): "the caller's own sessions, by their user id: tests/test_my_sessions.py",
    ("GET", "/signin/oidc/{name}"): "a configured sign-in provider, nobody's object: tests/test_oidc.py",
    ("GET", "/signin/oidc/{name}/callback"): "a provider's return to this browser's sign-in: tests/test_oidc.py",
    ("POST", "/admin/holds/{hold_uuid}/lift"): "administrators only: tests/test_retention.py",
}
# A path parameter's value, by name: `{uuid}` is the object of the path's first segment.
UUID_OF_FIRST = {"files": "file", "collections": "collection", "speakers": "profile"}
SHARE_OF_FIRST = {"files": "file_share", "collections": "collection_share", "speakers": "profile_share"}
PATH_VALUE = {
    "comment": "comment",
    "speaker": "speaker",
    "profile": "profile",
    "segment": "segment",
    "link": "public_link",
    "run": "translation",
    "proposal": "speaker_name",
    "topic": "topic",
}


def forms(roles: Roles) -> dict[Key, dict[str, str]]:
    """A form each POST page would accept from someone allowed, so that only the rank is judged."""
    ids, invitee = roles.a.ids, roles.emails["non-member"]
    return {
        ("POST", "/files/{uuid}/tags"): {"name": "Besprechung 会議 🎙️"},
        ("POST", "/files/{uuid}/tags/remove"): {"name": ids["tag_name"]},
        ("POST", "/files/{uuid}/comments"): {"text": "Grüße, تعليق 💬"},
        ("POST", "/files/{uuid}/speakers/{speaker}"): {"display_name": "Zoë 山田"},
        ("POST", "/files/{uuid}/speakers/{speaker}/profile"): {"action": "unlink"},
        ("POST", "/files/{uuid}/speakers/{speaker}/suggestions/{profile}"): {"action": "reject"},
        ("POST", "/files/{uuid}/speakers-merge"): {"source": ids["speaker2"], "target": ids["speaker"]},
        ("POST", "/files/{uuid}/segments/{segment}"): {"text": "Grüß Gott, مرحبا 🎧"},
        ("POST", "/files/{uuid}/collections"): {"collection": ids["collection"]},
        ("POST", "/files/{uuid}/rerun"): {"stage": STAGES[-1]},
        ("POST", "/files/{uuid}/topics/cancel"): {"run": ids["llm_run"]},
        ("POST", "/files/{uuid}/shares"): {"email": invitee, "role": "viewer"},
        ("POST", "/files/{uuid}/shares/{share}"): {"role": "viewer"},
        ("POST", "/files/{uuid}/links"): {"expires_in_days": "7"},
        ("POST", "/files/{uuid}/translations"): {"language": "ja"},
        ("POST", "/files/{uuid}/speaker-names/{proposal}"): {"action": "reject"},
        ("POST", "/collections/{uuid}/edit"): {"name": "Archiv アーカイブ 📚"},
        ("POST", "/collections/{uuid}/shares"): {"email": invitee, "role": "viewer"},
        ("POST", "/collections/{uuid}/shares/{share}"): {"role": "viewer"},
        ("POST", "/speakers/{uuid}/edit"): {"name": "Ömer عمر"},
        ("POST", "/speakers/{uuid}/merge"): {"source": ids["profile2"]},
        ("POST", "/speakers/{uuid}/shares"): {"email": invitee, "role": "viewer"},
        ("POST", "/speakers/{uuid}/shares/{share}"): {"action": "revoke"},
    }


def page_endpoints() -> list[Endpoint]:
    return [e for module in MODULES for page in module.ROUTES for e in page.endpoints]


def path_of(endpoint: Endpoint, ids: dict[str, str]) -> str:
    first = endpoint.path.split("/")[1]
    values = {"uuid": ids[UUID_OF_FIRST[first]], "share": ids[SHARE_OF_FIRST[first]]}
    values |= {name: ids[kind] for name, kind in PATH_VALUE.items()}
    return endpoint.path.format(**values)


def rank_of(principal: str, kind: str) -> int | None:
    """The principal's rank on A's object of that kind: the file's by PRINCIPAL_RANK; A's collection is shared with
    one of them (as viewer); A's profile with none of them (only with a group of A's own)."""
    rank = PRINCIPAL_RANK[principal]
    if kind == "file" or rank is None or principal in ("owner", "admin with view=all"):
        return rank
    if kind == "collection" and principal == "viewer via collection share":
        return 1
    return 0


def expected_page(needed: int, rank: int | None) -> int | None:
    if rank is None:
        return 303  # sent to sign in
    if rank == 0:
        return 404
    return None if rank >= needed else 403


def sign_in(client: Any, email: str) -> str:
    """A browser session for `email` (the password tests/web.py's `register` gives); its CSRF token."""
    client.cookies.clear()
    fields = {"csrf": csrf_in(client.get("/signin").text), "email": email, "password": PAGE_PASSWORD, "next": "/"}
    done = client.post("/signin", data=fields, follow_redirects=False)
    assert done.status_code == 303, done.text
    return csrf_in(client.get("/").text)


def page_matrix(client: Any, fresh_url: str, app_settings: Settings, settle: Callable[[], None] | None = None) -> int:
    """The role matrix through the pages; returns how many page x principal checks were made."""
    endpoints = page_endpoints()
    keys = {(e.method, e.path) for e in endpoints}
    stale = (set(PAGE_ROUTE_RANK) | set(PAGE_ELSEWHERE)) - keys
    assert not stale, f"the page tables name routes that do not exist: {stale}"
    addressing = []
    for endpoint in endpoints:
        key = (endpoint.method, endpoint.path)
        if "{" not in endpoint.path or key in PAGE_ELSEWHERE:
            continue
        assert key in PAGE_ROUTE_RANK, f"{key}: declare the rank it needs in PAGE_ROUTE_RANK (or why not: elsewhere)"
        addressing.append(endpoint)

    roles = arrange_roles(client, fresh_url)
    a = roles.a
    if settle is not None:
        settle()
    paths = ("/api/public/{token}", "/p/{token}")
    checks = check_public_routes(client, roles, paths)
    token = a.ids["link_token"]
    media = client.get(f"/p/{token}/media")
    assert media.status_code in (200, 206) and media.content, media.text[:300]
    for fmt in EXPORT_FORMATS:  # the link's transcript: A's segments, none of another file's
        exported = client.get(f"/p/{token}/export/{fmt}")
        assert exported.status_code == 200 and "alphasecret opening words" in exported.text, (fmt, exported.text)
        assert client.get(f"/p/{forged(token)}/export/{fmt}").status_code == 404
    checks += 2 + 2 * len(EXPORT_FORMATS)
    # A signs in first, before the snapshot (signing in adds a token of A's); the others in turn, below
    assert next(iter(PRINCIPAL_RANK)) == "owner"
    owners_csrf = sign_in(client, roles.emails["owner"])
    storage = app_settings.storage_dir
    before = snapshot(fresh_url, a.actor.id, storage)
    bodies = forms(roles)

    failures = []
    for principal in PRINCIPAL_RANK:
        if principal == "owner":
            csrf = owners_csrf
        elif principal in roles.emails:
            csrf = sign_in(client, roles.emails[principal])
        else:  # anonymous, or only the link's token: no session, and a form's CSRF field that matches none
            client.cookies.clear()
            csrf = "no-session"
        headers = roles.headers_of[principal] if principal == "public-link holder" else {}
        for endpoint in addressing:
            kind, needed = PAGE_ROUTE_RANK[(endpoint.method, endpoint.path)]
            expected = expected_page(needed, rank_of(principal, kind))
            if expected is None and endpoint.method != "GET":
                continue  # a permitted form post: the page tests make them
            params = {"view": "all"} if principal == "admin with view=all" else {}
            response = client.request(
                endpoint.method,
                path_of(endpoint, a.ids),
                headers=headers,
                params=params,
                data={"csrf": csrf, **bodies.get((endpoint.method, endpoint.path), {})}
                if endpoint.method == "POST"
                else None,
                follow_redirects=False,
            )
            checks += 1
            want = 200 if expected is None else expected
            got = response.status_code
            if got != want or (want == 303 and not response.headers["location"].startswith("/signin?")):
                failures.append(f"{endpoint.method} {endpoint.path} as {principal}: {got} not {want}")
            elif want == 200 and "alphasecret" not in response.text:
                failures.append(f"{endpoint.method} {endpoint.path} as {principal}: 200 without A's object")
    client.cookies.clear()
    assert not failures, "\n".join(failures)
    after = snapshot(fresh_url, a.actor.id, storage)
    changed = [table for table in before["rows"] if after["rows"][table] != before["rows"][table]]
    assert not changed and after["media"] == before["media"], f"a refused form post changed A's {changed or 'media'}"
    return checks


@pytest.fixture
def pages_client(app_settings: Settings) -> Iterator[Any]:
    """The app on the test PostgreSQL with a Redis of its own, as the API's matrix runs it."""
    from starlette.testclient import TestClient

    from tests.fuzz_support import private_redis
    from web.app import create_app

    with (
        private_redis() as url,
        TestClient(create_app(app_settings.model_copy(update={"redis_url": url}))) as test_client,
    ):
        yield test_client


def test_every_page_answers_each_role_by_the_rank_it_needs(
    pages_client: Any, fresh_url: str, app_settings: Settings
) -> None:
    checks = page_matrix(pages_client, fresh_url, app_settings)
    print(f"role matrix through the pages: {checks} page x principal checks")
