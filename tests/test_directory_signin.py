"""Directory sign-in against Debian's slapd, started here with its own database (tests/ldap_server.py): accounts
made, linked and grouped by what the directory says, TLS verified, injections and guesses refused and audited."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import psycopg
import pytest
from starlette.testclient import TestClient

from config.directories import LdapDirectory
from config.settings import ConfigError, Settings, load_settings
from tests.ldap_server import (
    ANN,
    GROUP_MEMBERS,
    GROUPS,
    JUERGEN,
    KENJI,
    LAYLA,
    NOMAIL,
    PEOPLE,
    SERVICE_DN,
    SERVICE_PASSWORD,
    ZOE,
    Directory,
    free_port,
    running_directory,
    set_members,
)
from tests.web import csrf_in
from web.app import create_app
from web.auth import record_failure
from web.directory import DirectoryRefused, authenticate

TRANSCRIBERS = "Transcribers 編集部"
INJECTIONS = ["*)(uid=*))(|(uid=*", "*", "zoe)(|(uid=*", "*)(mail=*"]


@pytest.fixture(scope="module")
def directory() -> Iterator[Directory]:
    home = Path(tempfile.mkdtemp(prefix="opentr-test-slapd-"))
    with running_directory(home / "slapd") as running:
        yield running
    shutil.rmtree(home, ignore_errors=True)


def corp(directory: Directory, **overrides: Any) -> LdapDirectory:
    """The test directory as an organisation would configure it: StartTLS, a service account, a group search."""
    config: dict[str, Any] = {
        "name": "corp",
        "url": directory.ldap_url,
        "start_tls": True,
        "ca_file": str(directory.ca_file),
        "bind_dn": SERVICE_DN,
        "bind_password": SERVICE_PASSWORD,
        "user_base": PEOPLE,
        "group_base": GROUPS,
        "group_map": {"transcribers": TRANSCRIBERS},
        "admin_groups": ["opentr-admins"],
        "connect_timeout_seconds": 2,
    }
    return LdapDirectory.model_validate({**config, **overrides})


@contextlib.contextmanager
def app_with(app_settings: Settings, *directories: LdapDirectory) -> Iterator[Any]:
    settings = app_settings.model_copy(update={"opentr_ldap_providers": list(directories)})
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def client(app_settings: Settings, directory: Directory) -> Iterator[Any]:
    with app_with(app_settings, corp(directory)) as running:
        yield running


def token(client: Any, username: str, password: str) -> Any:
    return client.post("/api/auth/token", data={"username": username, "password": password})


def me(client: Any, signed_in: Any) -> dict[str, Any]:
    assert signed_in.status_code == 200, signed_in.text
    headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
    found = client.get("/api/users/me", headers=headers)
    assert found.status_code == 200
    return dict(found.json())


def audit_rows(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT action, outcome, details FROM audit_log ORDER BY id").fetchall()
    return [(str(a), str(o), dict(d)) for a, o, d in rows]


def groups_of(url: str, email: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT g.name, m.managed_by FROM group_members m JOIN groups g ON g.id = m.group_id"
            " JOIN users u ON u.id = m.user_id WHERE u.email = %s ORDER BY g.name",
            [email],
        ).fetchall()
    return [(str(name), managed) for name, managed in rows]


def user_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM users").fetchone()
    assert row is not None
    return int(row[0])


def test_the_api_creates_the_account_from_the_directory_with_its_groups_and_role(client: Any, fresh_url: str) -> None:
    zoe = me(client, token(client, "zoe", ZOE.password))
    assert (zoe["email"], zoe["full_name"], zoe["role"]) == ("zoe@example.org", "Zoë Müller", "admin")
    kenji = me(client, token(client, "kenji@example.org", KENJI.password))  # the address is a name too
    assert (kenji["full_name"], kenji["role"]) == ("山田 健二", "user")
    juergen = me(client, token(client, "jürgen", JUERGEN.password))
    assert (juergen["email"], juergen["full_name"]) == ("juergen@example.org", "Jürgen Groß")
    assert groups_of(fresh_url, "zoe@example.org") == [(TRANSCRIBERS, "ldap:corp")]
    assert groups_of(fresh_url, "kenji@example.org") == [(TRANSCRIBERS, "ldap:corp")]
    with psycopg.connect(fresh_url) as conn:
        methods = conn.execute("SELECT DISTINCT method, kind FROM auth_tokens").fetchall()
        identity = conn.execute(
            "SELECT i.subject FROM user_identities i JOIN users u ON u.id = i.user_id WHERE u.email = %s",
            ["zoe@example.org"],
        ).fetchone()
    assert methods == [("ldap:corp", "api")]
    assert identity is not None and len(identity[0]) == 36, "the entry's entryUUID, which survives a rename"
    successes = [r for r in audit_rows(fresh_url) if r[0] == "signin.ldap"]
    assert [(o, d["provider"], d["via"]) for _, o, d in successes] == [("success", "corp", "api")] * 3
    again = me(client, token(client, "zoe", ZOE.password))
    assert again["uuid"] == zoe["uuid"], "the second sign-in finds the linked account"


def test_the_sign_in_page_signs_in_a_directory_user(client: Any, fresh_url: str) -> None:
    form = client.get("/signin")
    assert "Email or user name" in form.text and 'name="email" type="text"' in form.text, "a user name is typed"
    fields = {"csrf": csrf_in(form.text), "email": "layla", "password": LAYLA.password, "next": "/"}
    done = client.post("/signin", data=fields, follow_redirects=False)
    assert done.status_code == 303, done.text
    found = client.get("/api/users/me")
    assert found.status_code == 200 and found.json()["full_name"] == "ليلى حداد"
    assert groups_of(fresh_url, "layla@example.org") == [], "a directory group not in group_map is ignored"
    assert ("signin.ldap", "success") in [(a, o) for a, o, d in audit_rows(fresh_url) if d.get("via") == "browser"]


def test_group_changes_in_the_directory_apply_at_the_next_sign_in(client: Any, fresh_url: str, directory: Any) -> None:
    assert me(client, token(client, "kenji", KENJI.password))["role"] == "user"
    try:
        set_members(directory, "opentr-admins", (ZOE, KENJI))
        set_members(directory, "transcribers", (ZOE, ANN))
        assert groups_of(fresh_url, "kenji@example.org") == [(TRANSCRIBERS, "ldap:corp")], "nothing until then"
        assert me(client, token(client, "kenji", KENJI.password))["role"] == "admin"
        assert groups_of(fresh_url, "kenji@example.org") == []
    finally:
        for cn, members in GROUP_MEMBERS.items():
            set_members(directory, cn, members)


def test_groups_can_come_from_member_of(app_settings: Settings, fresh_url: str, directory: Directory) -> None:
    """Active Directory's way (and OpenLDAP's memberof overlay): the groups are on the person's entry."""
    member_of = corp(directory, group_base=None, admin_groups=["opentr-admins"])
    with app_with(app_settings, member_of) as client:
        assert me(client, token(client, "zoe", ZOE.password))["role"] == "admin"
        assert me(client, token(client, "kenji", KENJI.password))["role"] == "user"
    assert groups_of(fresh_url, "zoe@example.org") == [(TRANSCRIBERS, "ldap:corp")]


def test_a_local_account_is_linked_by_the_directory_address_and_keeps_its_password(client: Any, fresh_url: str) -> None:
    local = client.post(
        "/api/auth/register", json={"email": "ann@example.org", "password": "ann's own password", "full_name": "A"}
    )
    assert local.status_code == 201
    linked = me(client, token(client, "ann", ANN.password))
    assert linked["uuid"] == local.json()["uuid"] and user_count(fresh_url) == 1
    assert linked["full_name"] == "A", "an existing account keeps its name"
    assert groups_of(fresh_url, "ann@example.org") == [(TRANSCRIBERS, "ldap:corp")]
    assert me(client, token(client, "ann@example.org", "ann's own password"))["uuid"] == linked["uuid"]
    assert me(client, token(client, "ann@example.org", ANN.password))["uuid"] == linked["uuid"]
    with psycopg.connect(fresh_url) as conn:
        methods = [r[0] for r in conn.execute("SELECT method FROM auth_tokens ORDER BY created_at, method")]
    assert sorted(methods) == ["ldap:corp", "ldap:corp", "password"]


def test_password_sign_in_can_be_turned_off_for_directory_users(
    app_settings: Settings, fresh_url: str, directory: Directory
) -> None:
    with app_with(app_settings, corp(directory, password_signin_for_directory_users=False)) as client:
        created = client.post("/api/auth/register", json={"email": "ann@example.org", "password": "ann's own password"})
        assert created.status_code == 201
        before = token(client, "ann@example.org", "ann's own password")
        assert before.status_code == 200, "not linked yet: a local account keeps its password"
        me(client, token(client, "ann", ANN.password))  # now linked
        refused = token(client, "ann@example.org", "ann's own password")
        assert refused.status_code == 401 and "its own password is turned off" in refused.json()["detail"]
        assert token(client, "ann@example.org", ANN.password).status_code == 200, "the directory's password works"
    last_refusal = [r for r in audit_rows(fresh_url) if r[1] != "success"][-1]
    assert (
        last_refusal[0] == "signin.ldap"
        and last_refusal[2]["reason"] == "local password turned off for directory users"
    )


def test_a_local_account_without_a_directory_keeps_its_local_password_only(client: Any, fresh_url: str) -> None:
    created = client.post("/api/auth/register", json={"email": "local@example.com", "password": "local password 1"})
    assert created.status_code == 201
    assert me(client, token(client, "LOCAL@example.com", "local password 1"))["email"] == "local@example.com"
    wrong = token(client, "local@example.com", "nope nope")
    assert wrong.status_code == 401
    assert audit_rows(fresh_url)[-1][:2] == ("signin.password", "failure")


@pytest.mark.parametrize(
    ("username", "password", "reason"),
    [
        ("zoe", "not her password", "wrong email or password"),
        ("nobody-here", "some password", "wrong email or password"),
        ("ZOE@example.org", KENJI.password, "wrong email or password"),
    ],
)
def test_wrong_passwords_and_unknown_people_are_refused_and_audited(
    client: Any, fresh_url: str, username: str, password: str, reason: str
) -> None:
    refused = token(client, username, password)
    assert (refused.status_code, refused.json()["detail"]) == (401, "wrong email or password")
    assert user_count(fresh_url) == 0
    action, outcome, details = audit_rows(fresh_url)[-1]
    assert (action, outcome, details["reason"], details["username"], details["provider"]) == (
        "signin.ldap",
        "failure",
        reason,
        username,
        "corp",
    )


@pytest.mark.parametrize("injection", INJECTIONS)
def test_an_ldap_injection_in_the_name_matches_nobody(
    client: Any, fresh_url: str, directory: Directory, injection: str
) -> None:
    # Unescaped, a name is a pattern that finds people (so this test can fail): the escaping is what refuses it.
    service = ldap3.Connection(
        ldap3.Server(directory.ldap_url, get_info=ldap3.NONE), SERVICE_DN, SERVICE_PASSWORD, auto_bind=True
    )
    service.search(PEOPLE, "(|(uid=*)(mail=*))", attributes=["uid"])
    assert len(service.entries) == 6
    service.unbind()
    for password in (ZOE.password, KENJI.password, "*"):
        refused = token(client, injection, password)
        assert (refused.status_code, refused.json()["detail"]) == (401, "wrong email or password")
    assert user_count(fresh_url) == 0
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM auth_tokens").fetchone() == (0,)
    rows = audit_rows(fresh_url)
    assert [(a, o, d["username"]) for a, o, d in rows] == [("signin.ldap", "failure", injection)] * 3
    assert all("corp: no such person" in d["checked"] for _, _, d in rows)


def test_an_empty_password_is_refused_before_any_bind(client: Any, fresh_url: str, directory: Directory) -> None:
    with pytest.raises(DirectoryRefused, match="empty"):
        authenticate(corp(directory), "zoe", "")
    form = client.get("/signin")
    fields = {"csrf": csrf_in(form.text), "email": "zoe", "password": "", "next": "/"}
    page = client.post("/signin", data=fields, follow_redirects=False)
    assert page.status_code == 200 and "do not match an account" in page.text
    assert client.get("/api/users/me").status_code == 401
    assert token(client, "zoe", "").status_code == 422, "the API refuses an empty password as a value"
    assert user_count(fresh_url) == 0
    assert [(a, o, d["reason"]) for a, o, d in audit_rows(fresh_url)] == [("signin.ldap", "failure", "empty password")]


def test_ldaps_verifies_the_certificate(app_settings: Settings, fresh_url: str, directory: Directory) -> None:
    right = corp(directory, url=directory.ldaps_url, start_tls=False)
    with app_with(app_settings, right) as client:
        assert me(client, token(client, "zoe", ZOE.password))["email"] == "zoe@example.org"
    for wrong in (
        corp(directory, url=directory.ldaps_url, start_tls=False, ca_file=str(directory.other_ca_file)),
        corp(directory, ca_file=str(directory.other_ca_file)),  # StartTLS
    ):
        with app_with(app_settings, wrong) as client:
            refused = token(client, "zoe", ZOE.password)
            assert refused.status_code == 503 and "directory 'corp' is unavailable" in refused.json()["detail"]
        action, outcome, details = audit_rows(fresh_url)[-1]
        assert (action, outcome, details["reason"]) == ("signin.ldap", "failure", "directory unavailable")
        assert "certificate verify failed" in details["error"]


def test_a_directory_that_is_down_is_a_503_not_a_wrong_password(
    app_settings: Settings, fresh_url: str, directory: Directory
) -> None:
    down = corp(directory, url=f"ldap://127.0.0.1:{free_port()}")
    with app_with(app_settings, down) as client:
        refused = token(client, "zoe", ZOE.password)
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert "unavailable" in refused.json()["detail"] and "wrong" not in refused.json()["detail"]
        form = client.get("/signin")
        fields = {"csrf": csrf_in(form.text), "email": "zoe", "password": ZOE.password, "next": "/"}
        page = client.post("/signin", data=fields, follow_redirects=False)
        assert page.status_code == 503 and "unavailable" in page.text and 'name="password"' in page.text
    assert [(a, o, d["reason"]) for a, o, d in audit_rows(fresh_url)] == [
        ("signin.ldap", "failure", "directory unavailable")
    ] * 2
    # a second directory that is up still signs people in
    with app_with(app_settings, corp(directory, name="old", url=down.url), corp(directory)) as client:
        assert me(client, token(client, "zoe", ZOE.password))["email"] == "zoe@example.org"


def test_guessing_through_the_directory_is_locked_out_like_passwords(client: Any, fresh_url: str) -> None:
    for _ in range(5):
        assert token(client, "kenji", "a guess").status_code == 401
    for _ in range(4):  # four more failures: a 16 s wait, which outlasts a slow test machine
        record_failure(client.app.state.services.redis, "kenji")
    locked = token(client, "kenji", KENJI.password)
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
    rows = audit_rows(fresh_url)
    assert [(a, o) for a, o, _ in rows] == [("signin.ldap", "failure")] * 5 + [("signin.ldap", "refused")]
    assert [d["locked_for"] for _, _, d in rows[:5]] == [0, 0, 0, 0, 1], "the fifth failure locks"
    assert rows[-1][2]["reason"] == "locked" and user_count(fresh_url) == 0


def test_no_account_is_made_when_the_rules_say_so(app_settings: Settings, fresh_url: str, directory: Any) -> None:
    with app_with(app_settings, corp(directory, create_accounts=False)) as client:
        refused = token(client, "zoe", ZOE.password)
        assert refused.status_code == 403 and "ask an administrator" in refused.json()["detail"]
        form = client.get("/signin")
        fields = {"csrf": csrf_in(form.text), "email": "zoe", "password": ZOE.password, "next": "/"}
        page = client.post("/signin", data=fields, follow_redirects=False)
        assert page.status_code == 403 and "ask an administrator" in page.text and 'name="password"' in page.text
    with app_with(app_settings, corp(directory)) as client:
        no_mail = token(client, "nomail", NOMAIL.password)
        assert no_mail.status_code == 403 and "e-mail address" in no_mail.json()["detail"]
    assert user_count(fresh_url) == 0
    assert [(a, o) for a, o, _ in audit_rows(fresh_url)] == [("signin.ldap", "refused")] * 3


@pytest.mark.same_on_every_server
@pytest.mark.parametrize(
    ("value", "words"),
    [
        ('[{"name": "corp",', "OPENTR_LDAP_PROVIDERS: Value error, not valid JSON"),
        ('{"name": "corp"}', "OPENTR_LDAP_PROVIDERS: Value error, expected a JSON list"),
        ('[{"name": "Corp Dir", "url": "ldap://h", "user_base": "o=x"}]', "OPENTR_LDAP_PROVIDERS[0].name: String"),
        ('[{"name": "corp", "url": "http://h", "user_base": "o=x"}]', "[0].url: Value error, must be an ldap://"),
        ('[{"name": "corp", "url": "ldap://h"}]', "OPENTR_LDAP_PROVIDERS[0].user_base: Field required"),
        (
            '[{"name": "corp", "url": "ldap://h", "user_base": "o=x", "user_filter": "(uid=zoe)"}]',
            "[0].user_filter: Value error, must contain {username}",
        ),
        (
            '[{"name": "corp", "url": "ldap://h", "user_base": "o=x", "user_filter": "(uid={username}"}]',
            "not a parenthesised LDAP filter",
        ),
        (
            '[{"name": "corp", "url": "ldap://h", "user_base": "o=x", "ca_file": "/nonexistent/ca.pem"}]',
            "[0].ca_file: Value error, no such file: /nonexistent/ca.pem",
        ),
        (
            '[{"name": "corp", "url": "ldaps://h", "start_tls": true, "user_base": "o=x"}]',
            "start_tls is for ldap:// URLs",
        ),
        (
            '[{"name": "corp", "url": "ldap://h", "user_base": "o=x", "bind_dn": "cn=svc"}]',
            "bind_dn and bind_password go together",
        ),
        (
            '[{"name": "corp", "url": "ldap://a", "user_base": "o=x"}, {"name": "corp", "url": "ldap://b", '
            '"user_base": "o=y"}]',
            "OPENTR_LDAP_PROVIDERS: Value error, two directories named corp",
        ),
        ('[{"name": "corp", "url": "ldap://h", "user_base": "o=x", "tls": false}]', "[0].tls: Extra inputs"),
    ],
)
def test_a_bad_directory_setting_fails_the_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str, words: str
) -> None:
    monkeypatch.setenv("OPENTR_LDAP_PROVIDERS", value)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert words in str(refused.value) and str(refused.value).startswith("OPENTR_LDAP_PROVIDERS")


@pytest.mark.same_on_every_server
def test_a_good_directory_setting_is_read_with_its_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OPENTR_LDAP_PROVIDERS",
        '[{"name": "corp", "url": "ldaps://ldap.example.org/", "user_base": "ou=people,dc=example,dc=org",'
        ' "bind_dn": "cn=svc", "bind_password": "s3cret", "group_map": {"staff": "Staff 職員"}}]',
    )
    (read,) = load_settings().opentr_ldap_providers
    assert (read.provider, read.url, read.user_filter) == (
        "ldap:corp",
        "ldaps://ldap.example.org",
        "(|(uid={username})(mail={username}))",
    )
    assert read.create_accounts and read.link_by_email and read.password_signin_for_directory_users
    assert "s3cret" not in repr(read), "the service account's password stays out of logs"


def test_a_refused_service_account_or_a_silent_server_is_a_503(
    app_settings: Settings, fresh_url: str, directory: Directory
) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # accepts connections, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    broken = (
        corp(directory, bind_password="not the service password"),
        corp(directory, url=f"ldap://127.0.0.1:{silent.getsockname()[1]}", start_tls=False, timeout_seconds=1),
    )
    try:
        for config in broken:
            with app_with(app_settings, config) as client:
                started = time.monotonic()
                refused = token(client, "zoe", ZOE.password)
                assert refused.status_code == 503 and "unavailable" in refused.json()["detail"]
                assert time.monotonic() - started < 10, "the timeout bounds the wait"
    finally:
        silent.close()
    errors = [d["error"] for _, _, d in audit_rows(fresh_url)]
    assert len(errors) == 2 and "the service account was refused" in errors[0] and errors[1]
    assert user_count(fresh_url) == 0


def test_a_directory_password_is_followed_by_the_second_factor(client: Any, fresh_url: str) -> None:
    """Step 19: two factors on, a directory's password alone does not sign in: the code follows, as for ours."""
    import pyotp

    from tests.test_two_factor import code

    headers = {"Authorization": f"Bearer {token(client, 'layla', LAYLA.password).json()['access_token']}"}
    secret = client.post("/api/users/me/two-factor/start", headers=headers).json()["secret"]
    confirmed = client.post(
        "/api/users/me/two-factor/confirm", headers=headers, json={"otp": pyotp.TOTP(secret).at(time.time() - 30)}
    )
    assert confirmed.status_code == 200, confirmed.text
    alone = token(client, "layla", LAYLA.password)
    assert alone.status_code == 401 and alone.json()["field"] == "otp"
    both = client.post("/api/auth/token", data={"username": "layla", "password": LAYLA.password, "otp": code(secret)})
    assert both.status_code == 200, both.text
    with psycopg.connect(fresh_url) as conn:
        rows = conn.execute(
            "SELECT outcome, details->>'first_factor' FROM audit_log WHERE action = 'signin.totp' ORDER BY id"
        ).fetchall()
    assert rows == [("failure", "ldap:corp"), ("success", "ldap:corp")]
