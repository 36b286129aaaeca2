from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from config.settings import Settings
from repo.rows import Actor
from tests import factories
from tests.web import a_file, sign_up, signed_in

TITLES = ["会議の記録 2024", "اجتماع الفريق", "Podcast 🎙️🔥", "Über Größe"]
SECRET_WORDS = "hidden-elsewhere"
PUBLIC_HEADERS = {"x-robots-tag": "noindex, nofollow", "referrer-policy": "no-referrer"}


@pytest.fixture
def client(app_settings: Settings) -> Iterator[Any]:
    """The app with generous public-link limits and a client address of its own (the limits are counted in the
    shared Redis, per address: other tests' requests must not count here)."""
    from starlette.testclient import TestClient

    from web.app import create_app

    settings = app_settings.model_copy(
        update={"opentr_public_link_rate_per_address": 10_000, "opentr_public_link_rate_per_link": 10_000}
    )
    with TestClient(create_app(settings), client=(f"198.51.100.{secrets.randbelow(250) + 1}", 4321)) as test_client:
        yield test_client


def _file(client: Any, conninfo: str, owner: Actor, title: str, data: bytes = b"RIFF-fake-audio" * 100) -> str:
    """A completed file with media, two speakers' segments and a comment; its uuid."""
    storage_path = f"{owner.id}/{secrets.token_hex(8)}.wav"
    file_uuid = a_file(
        conninfo,
        owner,
        title=title,
        status="completed",
        storage_path=storage_path,
        content_type="audio/wav",
        file_size=len(data),
        duration=2.0,
    )
    target = client.app.state.services.storage_dir / storage_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM media_files WHERE uuid = %s", [file_uuid]).fetchone()
        assert row is not None
        first = factories.speaker(conn, owner, row[0], "SPEAKER_00")
        conn.execute("UPDATE speakers SET display_name = %s WHERE id = %s", ["Ана Müller", first])
        factories.segments(conn, row[0], [f"{title} — first words", "second thought"], first)
        conn.execute(
            "INSERT INTO comments (media_file_id, user_id, text) VALUES (%s, %s, %s)",
            [row[0], owner.id, f"private comment {SECRET_WORDS}"],
        )
    return file_uuid


def _link(client: Any, headers: dict[str, str], file_uuid: str, **body: Any) -> dict[str, Any]:
    created = client.post(f"/api/files/{file_uuid}/links", headers=headers, json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def _token(link: dict[str, Any]) -> str:
    return str(link["token"])


def _uses(client: Any, headers: dict[str, str], file_uuid: str) -> list[int]:
    return [link["use_count"] for link in client.get(f"/api/files/{file_uuid}/links", headers=headers).json()]


def test_a_link_shows_one_file_to_anyone_and_counts_its_views(client: Any, fresh_url: str) -> None:
    owner, actor = signed_in(client, fresh_url)
    file_uuid = _file(client, fresh_url, actor, "Quarterly 会議")
    other_uuid = _file(client, fresh_url, actor, f"Other {SECRET_WORDS}")
    link = _link(client, owner, file_uuid, expires_in_days=7)
    token = _token(link)
    assert link["url"].endswith(f"/p/{token}") and link["status"] == "active" and link["use_count"] == 0
    assert datetime.fromisoformat(link["expires_at"]) - datetime.now(UTC) > timedelta(days=6, hours=23)
    me = client.get("/api/users/me", headers=owner).json()

    anonymous = client.get(f"/api/public/{token}")  # no credentials at all
    assert anonymous.status_code == 200, anonymous.text
    body = anonymous.json()
    assert body["title"] == "Quarterly 会議" and body["duration"] == 2.0 and body["media_type"] == "audio"
    assert [(s["speaker"], s["text"]) for s in body["segments"]] == [
        ("Ана Müller", "Quarterly 会議 — first words"),
        ("Ана Müller", "second thought"),
    ]
    assert body["media_url"] == f"/p/{token}/media" and body["exports"]["srt"] == f"/p/{token}/export/srt"
    for header, value in PUBLIC_HEADERS.items():
        assert anonymous.headers[header] == value

    page = client.get(f"/p/{token}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<meta name="robots" content="noindex, nofollow">' in page.text
    for header, value in PUBLIC_HEADERS.items():
        assert page.headers[header] == value
    assert "Quarterly 会議" in page.text and "Ана Müller" in page.text and f"/p/{token}/media" in page.text
    assert 'name="csrf"' not in page.text and "<textarea" not in page.text and "Edit" not in page.text
    # nothing of the owner, the file's identity, its comments or the owner's other files
    for text in (anonymous.text, page.text):
        for hidden in (file_uuid, other_uuid, me["email"], me["uuid"], SECRET_WORDS, "comment"):
            assert hidden not in text, hidden
    assert _uses(client, owner, file_uuid) == [2]
    assert client.head(f"/p/{token}").status_code == 200 and client.head(f"/api/public/{token}").status_code == 200
    assert _uses(client, owner, file_uuid) == [2], "a HEAD (a link preview's probe) is not a use"

    media = client.get(f"/p/{token}/media", headers={"Range": "bytes=0-9"})
    assert media.status_code == 206 and media.content == b"RIFF-fake-" and media.headers["x-robots-tag"]
    assert client.get(f"/p/{token}/media").content == b"RIFF-fake-audio" * 100
    assert _uses(client, owner, file_uuid) == [2], "the media's requests are not uses"

    srt = client.get(f"/p/{token}/export/srt")
    assert srt.status_code == 200 and "Quarterly 会議 — first words" in srt.text and "-->" in srt.text
    assert "attachment" in srt.headers["content-disposition"]
    txt = client.get(f"/p/{token}/export/txt")
    assert "Ана Müller: Quarterly 会議 — first words" in txt.text and SECRET_WORDS not in txt.text
    exported = client.get(f"/p/{token}/export/json").json()
    assert exported["comments"] is None and [s["speaker"] for s in exported["segments"]] == ["Ана Müller"] * 2
    assert client.get(f"/p/{token}/export/docx").status_code == 404
    assert _uses(client, owner, file_uuid) == [5]
    listed = client.get(f"/api/files/{file_uuid}/links", headers=owner).json()
    assert "token" not in listed[0] and token not in str(listed) and listed[0]["last_used_at"] is not None


@pytest.mark.parametrize("title", TITLES)
def test_titles_in_any_script_are_shown_exactly(client: Any, fresh_url: str, title: str) -> None:
    owner, actor = signed_in(client, fresh_url)
    token = _token(_link(client, owner, _file(client, fresh_url, actor, title)))
    assert client.get(f"/api/public/{token}").json()["title"] == title
    page = client.get(f"/p/{token}").text
    assert f"<h1>{title}</h1>" in page and f"<title>{title} · opentr</title>" in page
    assert title in client.get(f"/p/{token}/export/txt").text


def test_revoked_expired_unknown_and_garbage_links(client: Any, fresh_url: str) -> None:
    owner, actor = signed_in(client, fresh_url)
    file_uuid = _file(client, fresh_url, actor, "Revocable")
    revoked, expired = _link(client, owner, file_uuid), _link(client, owner, file_uuid, expires_in_days=1)

    gone = client.delete(f"/api/files/{file_uuid}/links/{revoked['uuid']}", headers=owner)
    assert gone.status_code == 204
    twice = client.delete(f"/api/files/{file_uuid}/links/{revoked['uuid']}", headers=owner)
    assert twice.status_code == 409 and twice.json()["field"] == "link_uuid"
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE public_links SET created_at = now() - interval '2 days', expires_at = now() - interval '1 hour' "
            "WHERE uuid = %s",
            [expired["uuid"]],
        )
    for link in (revoked, expired):
        token = _token(link)
        for path in (f"/api/public/{token}", f"/p/{token}", f"/p/{token}/media", f"/p/{token}/export/txt"):
            response = client.get(path)
            assert response.status_code == 410, (path, response.text)
            assert response.headers["x-robots-tag"] == "noindex, nofollow"
            assert "expired or was revoked" in response.text
    assert client.get(f"/p/{_token(revoked)}").headers["content-type"].startswith("text/html")
    listed = client.get(f"/api/files/{file_uuid}/links", headers=owner).json()
    states = {link["uuid"]: link["status"] for link in listed}
    assert states == {revoked["uuid"]: "revoked", expired["uuid"]: "expired"}
    assert _uses(client, owner, file_uuid) == [0, 0]

    unknown = secrets.token_urlsafe(32)
    for token in [unknown, "会議", "...", "a" * 5000, "x%00y", _token(revoked)[:-1], "Ünïcode🎙️", "%3Cb%3E"]:
        for path in (f"/api/public/{token}", f"/p/{token}", f"/p/{token}/media", f"/p/{token}/export/txt"):
            response = client.get(path)
            assert response.status_code == 404, (path, response.status_code, response.text[:200])
    for path in ("/p/..%2F", "/p/%2e%2e%2f", "/p/..%2Fmedia", "/api/public/..%2F..%2Fhealth", "/p/%2e%2e/media"):
        response = client.get(path, follow_redirects=False)  # no route, or a redirect a client resolves by itself
        assert response.status_code in (307, 404), (path, response.status_code, response.text[:200])


def test_only_the_owner_makes_lists_and_revokes_links(client: Any, fresh_url: str) -> None:
    owner, actor = signed_in(client, fresh_url)
    viewer, viewer_actor = signed_in(client, fresh_url)
    stranger, _ = signed_in(client, fresh_url)
    file_uuid = _file(client, fresh_url, actor, "Shared 📼")
    link = _link(client, owner, file_uuid)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO shares (media_file_id, user_id, role, shared_by) "
            "SELECT id, %s, 'viewer', user_id FROM media_files WHERE uuid = %s",
            [viewer_actor.id, file_uuid],
        )
    for headers, status in ((viewer, 403), (stranger, 404)):
        assert client.post(f"/api/files/{file_uuid}/links", headers=headers, json={}).status_code == status
        assert client.get(f"/api/files/{file_uuid}/links", headers=headers).status_code == status
        revoking = client.delete(f"/api/files/{file_uuid}/links/{link['uuid']}", headers=headers)
        assert revoking.status_code == status
    assert client.get(f"/api/files/{file_uuid}/links", headers=owner).json()[0]["status"] == "active"
    for method in ("GET", "POST"):
        assert client.request(method, f"/api/files/{file_uuid}/links", json={}).status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"expires_in_days": 0}, 422, "expires_in_days"),
        ({"expires_in_days": 367}, 422, "expires_in_days"),
        ({"expires_in_days": "7"}, 422, "expires_in_days"),
        ({"expires_at": "2030-01-01T00:00:00"}, 422, "expires_at"),  # no time zone
        ({"expires_at": "next week"}, 422, "expires_at"),
        ({"token": "mine"}, 422, "token"),
        # well-formed, refused for what no schema can state (the clock; a combination): 409 naming the field
        ({"expires_at": "2001-01-01T00:00:00Z"}, 409, "expires_at"),
        ({"expires_at": "2099-01-01T00:00:00Z"}, 409, "expires_at"),
        ({"expires_in_days": 1, "expires_at": "2030-01-01T00:00:00Z"}, 409, "expires_at"),
    ],
)
def test_bad_expiries_name_the_field(
    client: Any, fresh_url: str, body: dict[str, Any], status: int, field: str
) -> None:
    owner, actor = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, actor)
    response = client.post(f"/api/files/{file_uuid}/links", headers=owner, json=body)
    assert response.status_code == status and response.json()["field"] == field, response.text
    assert client.get(f"/api/files/{file_uuid}/links", headers=owner).json() == []


def test_an_exact_expiry_and_none(client: Any, fresh_url: str) -> None:
    owner, actor = signed_in(client, fresh_url)
    file_uuid = a_file(fresh_url, actor)
    at = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    timed = _link(client, owner, file_uuid, expires_at=at.isoformat())
    assert datetime.fromisoformat(timed["expires_at"]) == at
    assert _link(client, owner, file_uuid)["expires_at"] is None


def test_requests_over_the_rate_limit_wait(app_settings: Settings, fresh_url: str) -> None:
    from starlette.testclient import TestClient

    from web.app import create_app

    limit = 3
    settings = app_settings.model_copy(update={"opentr_public_link_rate_per_address": limit})
    address = (f"203.0.113.{secrets.randbelow(250) + 1}", 1234)
    with TestClient(create_app(settings), client=address) as client:
        owner, actor = signed_in(client, fresh_url)
        token = _token(_link(client, owner, _file(client, fresh_url, actor, "Limited")))
        answers = [client.get(f"/api/public/{token}") for _ in range(2 * limit + 1)]
        statuses = [a.status_code for a in answers]
        # a fixed window: the first `limit` pass; a new minute may begin in between, but not twice
        assert statuses[:limit] == [200] * limit and 429 in statuses, statuses
        refused = answers[statuses.index(429)]
        assert 1 <= int(refused.headers["retry-after"]) <= 60 and refused.headers["x-robots-tag"]
        page = client.get(f"/p/{token}")
        assert page.status_code in (200, 429)
        if page.status_code == 429:
            assert "text/html" in page.headers["content-type"] and page.headers["retry-after"]
        # the owner's own routes are not limited
        assert client.get(f"/api/files/{_file(client, fresh_url, actor, 'x')}/links", headers=owner).status_code == 200

    per_link = app_settings.model_copy(update={"opentr_public_link_rate_per_link": limit})
    with TestClient(create_app(per_link), client=("192.0.2.1", 1)) as client:
        owner, actor = signed_in(client, fresh_url)
        token = _token(_link(client, owner, _file(client, fresh_url, actor, "Limited per link")))
        statuses = [client.get(f"/api/public/{token}").status_code for _ in range(2 * limit + 1)]
        assert 429 in statuses, statuses


def test_the_file_page_makes_lists_and_revokes_links(client: Any, fresh_url: str) -> None:
    csrf = sign_up(client)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM users ORDER BY id DESC LIMIT 1").fetchone()
        assert row is not None
    file_uuid = _file(client, fresh_url, Actor(row[0]), "Seite über Größe")
    page = client.get(f"/files/{file_uuid}")
    assert page.status_code == 200 and "Public links" in page.text and "No public links yet." in page.text

    made = client.post(f"/files/{file_uuid}/links", data={"csrf": csrf, "expires_in_days": "30"})
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"  # the page shows the token this once: no cache keeps it
    found = re.search(r'value="http://testserver/p/([A-Za-z0-9_-]{43})"', made.text)
    assert found, made.text[-3000:]
    token = found.group(1)
    assert "copy it now" in made.text
    shown_again = client.get(f"/files/{file_uuid}")
    assert token not in shown_again.text and "expires" in shown_again.text and "0 uses" in shown_again.text

    assert client.get(f"/p/{token}").status_code == 200
    assert "1 use," in client.get(f"/files/{file_uuid}").text

    bad = client.post(f"/files/{file_uuid}/links", data={"csrf": csrf, "expires_in_days": "999"})
    assert bad.status_code == 422 and "Expires in days" in bad.text
    never = client.post(f"/files/{file_uuid}/links", data={"csrf": csrf, "expires_in_days": ""})
    assert never.status_code == 201 and "never expires" in never.text

    link_uuid = re.search(r'action="/files/[^/]+/links/([0-9a-f-]{36})/revoke"', shown_again.text)
    assert link_uuid
    revoked = client.post(
        f"/files/{file_uuid}/links/{link_uuid.group(1)}/revoke", data={"csrf": csrf}, follow_redirects=False
    )
    assert revoked.status_code == 303 and revoked.headers["location"] == f"/files/{file_uuid}#links"
    assert client.get(f"/p/{token}").status_code == 410
    assert "revoked" in client.get(f"/files/{file_uuid}").text
    assert client.post(f"/files/{file_uuid}/links", data={"expires_in_days": "1"}).status_code == 403  # no csrf


def test_a_viewer_sees_no_link_section(client: Any, fresh_url: str) -> None:
    owner, actor = signed_in(client, fresh_url)
    file_uuid = _file(client, fresh_url, actor, "Für alle")
    _link(client, owner, file_uuid)
    sign_up(client)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO shares (media_file_id, user_id, role, shared_by) "
            "SELECT f.id, (SELECT max(id) FROM users), 'viewer', f.user_id FROM media_files f WHERE f.uuid = %s",
            [file_uuid],
        )
    page = client.get(f"/files/{file_uuid}")
    assert page.status_code == 200 and "Für alle" in page.text
    assert "Public links" not in page.text and f"/files/{file_uuid}/links" not in page.text  # the owner's


def test_the_answer_carrying_a_new_token_is_never_cached(client: Any, fresh_url: str) -> None:
    headers, owner = signed_in(client, fresh_url)
    file_uuid = _file(client, fresh_url, owner, "秘密 سرّي 🔑")

    created = client.post(f"/api/files/{file_uuid}/links", headers=headers, json={"expires_in_days": 7})

    assert created.status_code == 201, created.text
    assert created.json()["token"]
    assert created.headers["cache-control"] == "no-store"
