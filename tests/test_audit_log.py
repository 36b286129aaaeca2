"""The audit trail as administrators read it, and as nobody can change it.

* Append-only in the database: the application role has no UPDATE, DELETE or TRUNCATE (permission denied), the
  tables' owner is refused by the trigger, and only the trail's own retention (the purge, with its flag) deletes.
* GET /api/admin/audit: filters (actor by e-mail or uuid, action exact or prefix, outcome, object, address or CIDR
  range, since/until), keyset pages newest first, a 422 naming a malformed filter, 403 for non-administrators.
* GET /api/admin/audit.csv: the same filters, UTF-8 with a byte-order mark, formula-looking cells defused, recorded
  as `audit.export`; the page /admin/audit with its filters, next page and CSV link.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors as pg

from repo.audit import AuditFilter, AuditLog
from repo.rows import Actor
from tests import factories
from tests.sharing_pages import become, join
from tests.web import actor_of, make_admin, register

JAPANESE, ARABIC, EMOJI = "山田@例え.jp", "ليلى@مثال.com", "zoë🎧@example.com"
FORMULAS = ["=SUM(A1:A9)", "+1+2", "-2+3", "@SUM(1)", "\tTAB", "\rCR"]


def _insert(conn: psycopg.Connection[Any], **row: Any) -> None:
    row.setdefault("details", "{}")
    names = ", ".join(row)
    values = ", ".join(f"%({name})s" for name in row)
    conn.execute(f"INSERT INTO audit_log ({names}) VALUES ({values})", row)


def test_the_app_cannot_change_or_remove_an_audit_row_only_the_purge_can(fresh_url: str) -> None:
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _insert(conn, action="share.create", actor_email=JAPANESE, at=datetime.now(UTC) - timedelta(days=400))
        _insert(conn, action="share.delete", actor_email=ARABIC)
        for statement in (
            "UPDATE audit_log SET action = 'share.forged'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with conn.transaction():
                conn.execute("SET LOCAL ROLE opentr_app")
                conn.execute("SELECT set_config('opentr.is_admin', 'on', true)")  # even as an administrator
                denied = pytest.raises(pg.InsufficientPrivilege, match="permission denied for table audit_log")
                with denied, conn.transaction():
                    conn.execute(statement)
        # the tables' owner (what a migration or a psql session runs as) is refused by the trigger
        for statement, verb in (
            ("UPDATE audit_log SET actor_email = 'someone@else'", "UPDATE"),
            ("DELETE FROM audit_log", "DELETE"),
            ("TRUNCATE audit_log", "TRUNCATE"),
        ):
            with pytest.raises(pg.InsufficientPrivilege, match=f"the audit log is append-only: {verb} refused"):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (2,)
        # the flag of the purge is set by repo/audit.py only; set by hand under the app role it grants nothing
        with conn.transaction():
            conn.execute("SELECT set_config('opentr.audit_purge', 'on', true)")
            conn.execute("SET LOCAL ROLE opentr_app")
            with pytest.raises(pg.InsufficientPrivilege, match="permission denied"), conn.transaction():
                conn.execute("DELETE FROM audit_log")
    with psycopg.connect(fresh_url) as conn:
        assert AuditLog(conn).purge_older_than(365) == 1
        conn.commit()
        remaining = conn.execute("SELECT action, actor_email FROM audit_log").fetchall()
    assert remaining == [("share.delete", ARABIC)]


@pytest.fixture
def admin(client: Any, fresh_url: str) -> dict[str, str]:
    headers = register(client, "admin@example.com")
    make_admin(fresh_url, headers, client)
    return headers


def _seed(conninfo: str) -> int:
    """Rows for the filters: three actors (one deleted since), several actions, addresses and moments. The id of the
    account that still exists."""
    now = datetime.now(UTC)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO users (email, hashed_password) VALUES (%s, 'x') RETURNING id", [JAPANESE]
        ).fetchone()
        assert row is not None
        kept = int(row[0])
        seeds: list[dict[str, Any]] = [
            {"actor_id": kept, "actor_email": JAPANESE, "action": "signin.password", "address": "203.0.113.7"},
            {"actor_id": kept, "actor_email": JAPANESE, "action": "share.create", "address": "203.0.113.9"},
            {"actor_id": 999_999, "actor_email": ARABIC, "action": "signin.oidc", "address": "198.51.100.4"},
            {"actor_id": 999_999, "actor_email": ARABIC, "action": "file.delete", "address": "2001:db8::1"},
            {"actor_email": None, "action": "signin.password", "outcome": "failure", "address": "203.0.113.200"},
            {"actor_id": 999_998, "actor_email": EMOJI, "action": "export.transcript", "address": None},
        ]
        for minutes, seed in enumerate(reversed(seeds)):
            seed.setdefault("outcome", "success")
            seed["at"] = now - timedelta(minutes=minutes + 1)
            seed["object_type"] = "file"
            seed["object_id"] = f"obj-{seed['action']}"
            seed["details"] = json.dumps({"note": f"{seed['action']} — 会議 🎧 اجتماع"})
            _insert(conn, **seed)
    return kept


def _actions(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["action"] for item in response.json()["items"]]


def test_filters_pages_and_who_it_was(client: Any, fresh_url: str, admin: dict[str, str]) -> None:
    kept = _seed(fresh_url)

    def get(**params: Any) -> Any:
        return client.get("/api/admin/audit", params=params, headers=admin)

    signin_rows = _actions(get(action="signin."))
    # newest first: the seeds in order, then the administrator's own sign-in (written by now: the newest)
    assert signin_rows == ["signin.password", "signin.password", "signin.oidc", "signin.password"]
    everything = get(limit=100).json()["items"]
    mine = [item for item in everything if item["actor"]["email"] == JAPANESE]
    assert [item["action"] for item in mine] == ["share.create", "signin.password"]
    gone = next(item for item in everything if item["actor"]["email"] == ARABIC)
    assert gone["actor"] == {"email": ARABIC, "uuid": None, "exists": False}
    assert mine[0]["actor"]["exists"] is True and mine[0]["address"] == "203.0.113.9"
    assert mine[0]["object_type"] == "file" and mine[0]["object_id"] == "obj-share.create"
    assert mine[0]["details"] == {"note": "share.create — 会議 🎧 اجتماع"}
    # the administrator's own sign-in, the newest, came from TestClient's address "testclient": stored as unknown
    assert (everything[0]["action"], everything[0]["actor"]["email"]) == ("signin.password", "admin@example.com")
    assert everything[0]["address"] is None
    nobody = next(item for item in everything if item["outcome"] == "failure")
    assert nobody["actor"] == {"email": None, "uuid": None, "exists": False}

    assert _actions(get(actor=JAPANESE.upper())) == ["share.create", "signin.password"]
    with psycopg.connect(fresh_url) as conn:
        row = conn.execute("SELECT uuid FROM users WHERE id = %s", [kept]).fetchone()
    assert row is not None
    assert _actions(get(actor=str(row[0]))) == ["share.create", "signin.password"]
    assert _actions(get(action="signin.oidc")) == ["signin.oidc"]
    assert _actions(get(action="signin")) == []  # exact unless it ends in "."
    assert _actions(get(outcome="failure")) == ["signin.password"]
    assert _actions(get(object_type="file", object_id="obj-file.delete")) == ["file.delete"]
    assert _actions(get(address="203.0.113.0/24", action="signin.")) == ["signin.password", "signin.password"]
    assert _actions(get(address="2001:db8::/32")) == ["file.delete"]
    assert _actions(get(address="203.0.113.9")) == ["share.create"]
    now = datetime.now(UTC)
    since = (now - timedelta(minutes=3, seconds=30)).isoformat()
    until = (now - timedelta(minutes=1, seconds=30)).isoformat()
    assert _actions(get(since=since, until=until)) == ["signin.password", "file.delete"]
    naive = (now - timedelta(minutes=5, seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")  # no zone: UTC
    assert _actions(get(until=naive)) == ["signin.password"]

    # keyset pages: newest first, every row once
    seen, cursor = [], None
    while True:
        page = get(limit=2, **({"cursor": cursor} if cursor else {})).json()
        assert len(page["items"]) <= 2
        seen += [(item["at"], item["action"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [(item["at"], item["action"]) for item in everything] and len(seen) == 7
    assert seen == sorted(seen, reverse=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-45T99:00:00Z"}, "until"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"address": "203.0.113.0/99"}, "address"),
        ({"address": "東京"}, "address"),
        ({"actor": "not-an-email-or-uuid"}, "actor"),
        ({"outcome": "maybe"}, "outcome"),
    ],
)
def test_a_malformed_filter_is_a_422_naming_it(
    client: Any, admin: dict[str, str], params: dict[str, str], field: str
) -> None:
    for path in ("/api/admin/audit", "/api/admin/audit.csv"):
        refused = client.get(path, params=params, headers=admin)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == field


def test_a_page_out_of_range_or_a_foreign_cursor_is_refused_naming_it(client: Any, admin: dict[str, str]) -> None:
    assert client.get("/api/admin/audit", params={"limit": "0"}, headers=admin).json()["field"] == "limit"
    foreign = client.get("/api/admin/audit", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=admin)
    assert foreign.status_code == 404 and foreign.json()["field"] == "cursor"


def test_only_administrators_read_the_trail(client: Any, fresh_url: str, admin: dict[str, str]) -> None:
    user = register(client)
    for path in ("/api/admin/audit", "/api/admin/audit.csv"):
        assert client.get(path, headers=user).status_code == 403
        assert client.get(path).status_code == 401
        assert client.get(path, headers=admin).status_code == 200


def _csv_lines(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_the_csv_holds_every_script_defuses_formulas_and_is_recorded(
    client: Any, fresh_url: str, admin: dict[str, str]
) -> None:
    _seed(fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        for formula in FORMULAS:
            _insert(
                conn,
                action="public_link.use",
                actor_email=None,
                object_type="public_link",
                object_id=formula,
                details=json.dumps({"user_agent": formula}),
            )
    answer = client.get("/api/admin/audit.csv", headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    assert f'filename="audit-{stamp}.csv"' in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")  # UTF-8's byte-order mark, for spreadsheet programs
    header, *rows = _csv_lines(answer.content)
    assert header == [
        "at",
        "actor_email",
        "actor_uuid",
        "actor_exists",
        "action",
        "outcome",
        "object_type",
        "object_id",
        "address",
        "details",
    ]
    emails = {row[1] for row in rows}
    assert {JAPANESE, ARABIC, EMOJI} <= emails
    oidc = next(row for row in rows if row[4] == "signin.oidc")
    assert oidc[2:4] == ["", "no"] and oidc[8] == "198.51.100.4"
    assert json.loads(oidc[9]) == {"note": "signin.oidc — 会議 🎧 اجتماع"}
    defused = sorted(row[7] for row in rows if row[4] == "public_link.use")
    assert defused == sorted("'" + formula for formula in FORMULAS)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell

    filtered = _csv_lines(client.get("/api/admin/audit.csv", params={"action": "signin."}, headers=admin).content)
    assert [row[4] for row in filtered[1:]] == ["signin.password", "signin.password", "signin.oidc", "signin.password"]
    admin_id = actor_of(client, fresh_url, admin).id
    with psycopg.connect(fresh_url) as conn:
        exports = conn.execute(
            "SELECT actor_id, actor_email, details FROM audit_log WHERE action = 'audit.export' ORDER BY id"
        ).fetchall()
    assert exports == [
        (admin_id, "admin@example.com", {"filters": {}, "format": "csv"}),
        (admin_id, "admin@example.com", {"filters": {"action": "signin."}, "format": "csv"}),
    ]
    # reading the trail (JSON, the page) is not recorded: only taking it away is
    client.get("/api/admin/audit", headers=admin)
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action LIKE 'audit.%'").fetchone() == (2,)


def test_the_admin_page_filters_pages_on_and_links_its_csv(client: Any, fresh_url: str) -> None:
    boss = join(client, fresh_url, "Boss", "boss@example.com")
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET role = 'admin' WHERE id = %s", [boss.actor.id])
    _seed(fresh_url)
    become(client, boss)
    assert 'href="/admin/audit"' in client.get("/admin").text
    page = client.get("/admin/audit", params={"action": "signin.", "address": "203.0.113.0/24"})
    assert page.status_code == 200, page.text
    assert page.text.count("<tr>") == 1 + 2  # the header and the two matching sign-ins
    assert "nobody signed in" in page.text and JAPANESE in page.text
    assert 'href="/api/admin/audit.csv?action=signin.&amp;address=203.0.113.0%2F24"' in page.text
    assert 'value="signin."' in page.text

    first = client.get("/admin/audit", params={"action": "signin."})
    assert "Next page" not in first.text
    everything = client.get("/admin/audit")
    assert "(account deleted)" in everything.text and "会議 🎧 اجتماع" in everything.text

    bad = client.get("/admin/audit", params={"since": "last tuesday"})
    assert bad.status_code == 422 and "Since: expected an ISO 8601 date-time" in bad.text
    # a non-administrator's page is refused like the other admin pages
    join(client, fresh_url, "Pat", "pat@example.com")
    assert client.get("/admin/audit").status_code == 403


def test_reading_goes_through_row_level_security(db: Any, fresh_url: str) -> None:
    """The repository reads under the caller's role: an administrator sees every row, anyone else only their own
    (the policy audit_log_read), nobody nothing, whatever the query's filters say."""
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        ann, bob = factories.user(conn, email=JAPANESE), factories.user(conn, email=ARABIC)
        boss = factories.user(conn, admin=True)
        _insert(conn, actor_id=ann.id, actor_email=JAPANESE, action="share.create")
        _insert(conn, actor_id=bob.id, actor_email=ARABIC, action="file.delete")
        _insert(conn, action="signin.password", outcome="failure")

    def seen(actor: Actor | None) -> list[str]:
        with db.acting(actor), db.transaction() as conn:
            return [entry.action for entry in AuditLog(conn).search(AuditFilter())]

    assert seen(Actor(boss.id, True)) == ["signin.password", "file.delete", "share.create"]
    assert seen(ann) == ["share.create"]
    assert seen(None) == []
