"""Single sign-on with OpenID Connect against a real provider on loopback (tests/oidc_provider.py, Authlib's server):
the browser's round trip driven by the app's TestClient and httpx, accounts linked, created and refused, groups and
admin mapped from the groups claim, key rotation, sign-out at the provider, and the attacks of issue 24 — each
refused with a clear 4xx page and a `signin.oidc` row on the audit trail."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from config.settings import ConfigError, OidcProvider, Settings, load_settings
from tests.oidc_provider import OidcTestProvider, new_key
from web import oidc_client
from web.app import create_app


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    oidc_client.clear_cache()  # a port of an earlier test's provider may come again: never its cached keys
    yield
    oidc_client.clear_cache()


@pytest.fixture
def op() -> Iterator[OidcTestProvider]:
    with OidcTestProvider() as provider:
        yield provider


def app_with(settings: Settings, *entries: dict[str, Any]) -> TestClient:
    providers = [OidcProvider.model_validate(entry) for entry in entries]
    return TestClient(create_app(settings.model_copy(update={"opentr_oidc_providers": providers})))


@pytest.fixture
def app(app_settings: Settings, op: OidcTestProvider) -> Iterator[TestClient]:
    entry = op.settings_entry(
        "corp", "Corp ID 社内", group_map={"eng": "Engineering", "ops": "Operations"}, admin_groups=["it-admins"]
    )
    with app_with(app_settings, entry) as client:
        yield client


def db_rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def refusals(url: str) -> list[tuple[str, str]]:
    rows = db_rows(url, "SELECT outcome, details->>'reason' FROM audit_log WHERE action = 'signin.oidc' ORDER BY id")
    return [(str(o), str(r)) for o, r in rows if o != "success"]


def to_provider(client: TestClient, name: str = "corp", next_path: str = "/") -> httpx.Response:
    """Begin at our sign-in, and let the provider answer (it signs the test's user in at once)."""
    start = client.get(f"/signin/oidc/{name}", params={"next": next_path}, follow_redirects=False)
    assert start.status_code == 303, start.text
    answer = httpx.get(start.headers["location"], follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer


def sign_in(client: TestClient, name: str = "corp", next_path: str = "/") -> Any:
    """Our callback's answer (a TestClient response)."""
    back = to_provider(client, name, next_path).headers["location"]
    assert back.startswith(f"http://testserver/signin/oidc/{name}/callback?")
    return client.get(back, follow_redirects=False)


def me(client: TestClient) -> dict[str, Any]:
    answer = client.get("/api/users/me")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def groups_of(url: str, email: str) -> dict[str, str | None]:
    rows = db_rows(
        url,
        "SELECT g.name, m.managed_by FROM group_members m JOIN groups g ON g.id = m.group_id "
        "JOIN users u ON u.id = m.user_id WHERE u.email = %s",
        email,
    )
    return {str(name): managed for name, managed in rows}


def test_first_sign_in_creates_the_account_with_a_name_in_any_script(
    app: TestClient, op: OidcTestProvider, fresh_url: str
) -> None:
    name = "山田 花子 — هالة 🎙️"
    op.user = {"sub": "u-1", "email": "hanako@example.org", "email_verified": True, "name": name}
    signed = sign_in(app, next_path="/collections")
    assert signed.status_code == 303 and signed.headers["location"] == "/collections"
    assert me(app)["full_name"] == name and me(app)["email"] == "hanako@example.org"
    success = db_rows(fresh_url, "SELECT details FROM audit_log WHERE action = 'signin.oidc' AND outcome = 'success'")
    assert success == [({"via": "browser", "provider": "corp"},)]
    kinds = db_rows(fresh_url, "SELECT kind, method FROM auth_tokens")
    assert kinds == [("browser", "oidc:corp")]


def test_the_sign_in_page_shows_a_button_per_provider_and_the_api_lists_them(
    app_settings: Settings, op: OidcTestProvider
) -> None:
    with OidcTestProvider() as other:
        entries = (op.settings_entry("corp", "Corp ID 社内"), other.settings_entry("uni", "Universität الجامعة"))
        with app_with(app_settings, *entries) as client:
            page = client.get("/signin?next=/library")
            assert "Sign in with Corp ID 社内" in page.text and "Sign in with Universität الجامعة" in page.text
            assert 'href="/signin/oidc/uni?next=%2Flibrary"' in page.text
            listed = client.get("/api/auth/providers")
            assert listed.status_code == 200
            assert listed.json() == [
                {"name": "corp", "label": "Corp ID 社内", "start_url": "http://testserver/signin/oidc/corp"},
                {"name": "uni", "label": "Universität الجامعة", "start_url": "http://testserver/signin/oidc/uni"},
            ]
            # two providers, one person each: separate identities, separate accounts
            op.user = {"sub": "same-sub", "email": "a@corp.example", "email_verified": True}
            other.user = {"sub": "same-sub", "email": "b@uni.example", "email_verified": True}
            assert sign_in(client, "corp").status_code == 303
            assert me(client)["email"] == "a@corp.example"
            client.cookies.clear()
            assert sign_in(client, "uni").status_code == 303
            assert me(client)["email"] == "b@uni.example"


def test_groups_claim_maps_to_groups_and_admin_and_follows_the_provider(
    app: TestClient, op: OidcTestProvider, fresh_url: str
) -> None:
    email = "grace@example.org"
    op.user = {"sub": "g-1", "email": email, "email_verified": True, "groups": ["eng", "it-admins", "unmapped"]}
    assert sign_in(app).status_code == 303
    assert me(app)["role"] == "admin"
    assert groups_of(fresh_url, email) == {"Engineering": "oidc:corp"}
    # an owner adds her to a group by hand: the provider never touches that membership
    db_rows(
        fresh_url,
        "WITH g AS (INSERT INTO groups (name) VALUES ('Hand-picked Ä') RETURNING id) "
        "INSERT INTO group_members (group_id, user_id) SELECT g.id, u.id FROM g, users u WHERE u.email = %s "
        "RETURNING 1",
        email,
    )
    op.user = {**op.user, "groups": ["ops"]}
    app.cookies.clear()
    assert sign_in(app).status_code == 303
    assert me(app)["role"] == "user"
    assert groups_of(fresh_url, email) == {"Operations": "oidc:corp", "Hand-picked Ä": None}


def test_userinfo_fills_what_the_id_token_lacks_and_the_secret_goes_as_discovery_allows(
    app: TestClient, op: OidcTestProvider, fresh_url: str
) -> None:
    op.auth_methods = ["client_secret_post"]  # this provider takes the secret in the form only
    op.userinfo_only = {"email", "email_verified", "groups"}
    op.user = {"sub": "ui-1", "email": "quiet@example.org", "email_verified": True, "groups": ["eng"], "name": "Jürgen"}
    assert sign_in(app).status_code == 303
    assert me(app)["email"] == "quiet@example.org"
    assert groups_of(fresh_url, "quiet@example.org") == {"Engineering": "oidc:corp"}


def test_a_verified_email_links_the_existing_account(app: TestClient, op: OidcTestProvider, fresh_url: str) -> None:
    assert app.post("/api/auth/register", json={"email": "linked@example.org", "password": "long enough 1"}).is_success
    op.user = {"sub": "l-1", "email": "linked@example.org", "email_verified": True}
    assert sign_in(app).status_code == 303
    assert me(app)["email"] == "linked@example.org"
    assert db_rows(fresh_url, "SELECT count(*) FROM users") == [(1,)]
    assert db_rows(fresh_url, "SELECT provider, subject FROM user_identities") == [("oidc:corp", "l-1")]


def test_an_unverified_email_links_nothing(app: TestClient, op: OidcTestProvider, fresh_url: str) -> None:
    assert app.post("/api/auth/register", json={"email": "victim@example.org", "password": "long enough 1"}).is_success
    op.user = {"sub": "attacker", "email": "victim@example.org", "email_verified": False}
    refused = sign_in(app)
    assert refused.status_code == 403
    assert "account with this e-mail address exists" in refused.text
    assert "opentr_session" not in refused.cookies
    assert db_rows(fresh_url, "SELECT count(*) FROM user_identities") == [(0,)]
    assert refusals(fresh_url) == [("refused", "no account")]
    trail = db_rows(fresh_url, "SELECT details FROM audit_log WHERE outcome = 'refused'")
    assert trail == [
        ({"reason": "no account", "username": "victim@example.org", "provider": "corp", "subject": "attacker"},)
    ]


def test_create_accounts_false_refuses_a_stranger(app_settings: Settings, op: OidcTestProvider, fresh_url: str) -> None:
    with app_with(app_settings, op.settings_entry("corp", "Corp", create_accounts=False)) as client:
        op.user = {"sub": "new", "email": "new@example.org", "email_verified": True}
        refused = sign_in(client)
        assert refused.status_code == 403
        assert "ask an administrator to create yours" in refused.text
    assert db_rows(fresh_url, "SELECT count(*) FROM users") == [(0,)]
    assert refusals(fresh_url) == [("refused", "no account")]


def test_key_rotation_is_followed_and_a_forged_kid_fetches_at_most_once(
    app: TestClient, op: OidcTestProvider, fresh_url: str
) -> None:
    assert sign_in(app).status_code == 303
    assert op.jwks_hits == 1
    op.rotate_keys()  # the provider signs with a new key, which we have not seen
    app.cookies.clear()
    assert sign_in(app).status_code == 303
    assert op.jwks_hits == 2
    # forged tokens naming invented kids: refused, and the keys are not fetched again for each of them
    for _ in range(3):
        op.sign_with = new_key("invented")
        app.cookies.clear()
        refused = sign_in(app)
        assert refused.status_code == 400
        assert "signed with a key Corp ID 社内 does not publish" in refused.text
    assert op.jwks_hits == 2
    assert refusals(fresh_url) == [("refused", "unknown signing key")] * 3


@pytest.mark.parametrize(
    ("forgery", "reason", "words"),
    [
        ("other key, real kid", "bad signature", "signature does not verify"),
        ("expired", "expired id token", "has expired"),
        ("audience", "wrong audience", "issued for another application"),
        ("issuer", "wrong issuer", "issued by someone other than Corp ID"),
        ("nonce", "nonce mismatch", "nonce mismatch"),
        ("azp", "wrong authorized party", "issued to another application"),
    ],
)
def test_a_bad_id_token_is_refused_and_audited(
    app: TestClient, op: OidcTestProvider, fresh_url: str, forgery: str, reason: str, words: str
) -> None:
    now = int(time.time())
    if forgery == "other key, real kid":
        op.sign_with = new_key(str(op.signing_key.kid))
    tampers: dict[str, dict[str, Any]] = {
        "other key, real kid": {},
        "expired": {"iat": now - 7200, "exp": now - 3600},
        "audience": {"aud": ["someone-else"]},
        "issuer": {"iss": "http://127.0.0.1:1/evil"},
        "nonce": {"nonce": "not-the-one-we-sent"},
        "azp": {"aud": ["opentr", "someone-else"], "azp": "someone-else"},
    }
    op.tamper = tampers[forgery]
    refused = sign_in(app)
    assert refused.status_code == 400
    assert words in refused.text
    assert "opentr_session" not in refused.cookies
    assert db_rows(fresh_url, "SELECT count(*) FROM auth_tokens") == [(0,)]
    assert refusals(fresh_url) == [("refused", reason)]


def test_a_replayed_code_is_refused(app: TestClient, op: OidcTestProvider, fresh_url: str) -> None:
    answer = to_provider(app)
    callback = answer.headers["location"]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert app.get(callback, follow_redirects=False).status_code == 303
    # the same code again, with a fresh state of this browser: the provider refuses the used code
    app.cookies.clear()
    start = app.get("/signin/oidc/corp", follow_redirects=False)
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    replayed = app.get("/signin/oidc/corp/callback", params={"code": code, "state": state}, follow_redirects=False)
    assert replayed.status_code == 400
    assert "refused the sign-in code (invalid_grant)" in replayed.text
    # and the first callback once more: that sign-in is over in this browser
    again = app.get(callback, follow_redirects=False)
    assert again.status_code == 400 and "not started in this browser" in again.text
    assert refusals(fresh_url) == [("refused", "code refused"), ("refused", "state from another browser")]


def test_state_mismatch_missing_or_from_another_browser_is_refused(
    app_settings: Settings, app: TestClient, op: OidcTestProvider, fresh_url: str
) -> None:
    callback = to_provider(app).headers["location"]
    code = parse_qs(urlsplit(callback).query)["code"][0]
    missing = app.get("/signin/oidc/corp/callback", params={"code": code}, follow_redirects=False)
    assert missing.status_code == 400 and "has no state" in missing.text
    forged = app.get("/signin/oidc/corp/callback", params={"code": code, "state": "forged"}, follow_redirects=False)
    assert forged.status_code == 400 and "not started in this browser" in forged.text
    # an attacker's own sign-in, finished in the victim's browser (login CSRF)
    with app_with(app_settings, op.settings_entry("corp", "Corp ID 社内")) as victim:
        stolen = victim.get(callback, follow_redirects=False)
        assert stolen.status_code == 400 and "not started in this browser" in stolen.text
        assert "opentr_session" not in stolen.cookies
    # a state is used once: here its first use lacks the code, and the real return comes too late
    state = parse_qs(urlsplit(callback).query)["state"][0]
    codeless = app.get("/signin/oidc/corp/callback", params={"state": state}, follow_redirects=False)
    assert codeless.status_code == 400 and "sent no sign-in code" in codeless.text
    late = app.get(callback, follow_redirects=False)
    assert late.status_code == 400 and "already used" in late.text
    assert op.token_hits == 0  # no code was ever exchanged
    assert refusals(fresh_url) == [
        ("refused", "missing state"),
        ("refused", "state from another browser"),
        ("refused", "state from another browser"),
        ("refused", "missing code"),
        ("refused", "unknown or used state"),
    ]


def test_the_providers_error_is_shown_and_audited(app: TestClient, op: OidcTestProvider, fresh_url: str) -> None:
    op.deny = "access_denied"
    refused = sign_in(app)
    assert refused.status_code == 400
    assert "Corp ID 社内 did not sign you in: access_denied" in refused.text
    assert refusals(fresh_url) == [("refused", "provider error: access_denied")]


def test_a_deactivated_account_is_refused(app: TestClient, op: OidcTestProvider, fresh_url: str) -> None:
    op.user = {"sub": "d-1", "email": "gone@example.org", "email_verified": True}
    assert sign_in(app).status_code == 303
    db_rows(fresh_url, "UPDATE users SET is_active = false WHERE email = 'gone@example.org' RETURNING 1")
    app.cookies.clear()
    refused = sign_in(app)
    assert refused.status_code == 403 and "deactivated" in refused.text
    assert refusals(fresh_url) == [("refused", "account deactivated")]


def test_a_provider_that_is_down_or_silent_is_a_503_naming_it(app_settings: Settings, fresh_url: str) -> None:
    with OidcTestProvider() as gone:
        entry = gone.settings_entry("gone", "Gone Provider ☁")
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        hung = {**entry, "name": "hung", "label": "Hung IdP", "issuer": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        with app_with(app_settings.model_copy(update={"opentr_oidc_timeout_seconds": 1}), entry, hung) as client:
            down = client.get("/signin/oidc/gone", follow_redirects=False)
            assert down.status_code == 503
            assert "Gone Provider ☁ is not answering" in down.text
            began = time.monotonic()
            silence = client.get("/signin/oidc/hung", follow_redirects=False)
            assert silence.status_code == 503 and "Hung IdP is not answering" in silence.text
            assert time.monotonic() - began < 5
            assert client.get("/signin/oidc/nobody", follow_redirects=False).status_code == 404


def test_signing_out_ends_the_providers_session_too(app: TestClient, op: OidcTestProvider) -> None:
    op.allow_post_logout_redirect("http://testserver/signin")
    assert sign_in(app).status_code == 303
    page = app.get("/")
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    out = app.post("/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    location = out.headers["location"]
    assert location.startswith(f"{op.issuer}/logout?")
    assert parse_qs(urlsplit(location).query)["post_logout_redirect_uri"] == ["http://testserver/signin"]
    at_provider = httpx.get(location, follow_redirects=False)
    assert at_provider.status_code == 302 and at_provider.headers["location"] == "http://testserver/signin"
    assert op.ended[0]["claims"]["sub"] == "user-1"
    assert app.get("/api/users/me").status_code == 401


def test_a_bad_provider_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("OPENTR_HOME", str(tmp_path))
    monkeypatch.setenv(
        "OPENTR_OIDC_PROVIDERS",
        '[{"name": "Bad Name!", "label": "x", "issuer": "https://a.example", "client_id": "c", "client_secret": "s"}]',
    )
    with pytest.raises(ConfigError, match=r"^OPENTR_OIDC_PROVIDERS\[0\]\.name: "):
        load_settings()
    monkeypatch.setenv("OPENTR_OIDC_PROVIDERS", "not json")
    with pytest.raises(ConfigError, match=r"^OPENTR_OIDC_PROVIDERS: not valid JSON$"):
        load_settings()
    one = {"name": "corp", "label": "Corp", "issuer": "http://id.example.org", "client_id": "c", "client_secret": "s"}
    monkeypatch.setenv("OPENTR_OIDC_PROVIDERS", json.dumps([one, one]))
    with pytest.raises(ConfigError, match=r"^OPENTR_OIDC_PROVIDERS: .*'corp' is used twice"):
        load_settings()
    monkeypatch.setenv("OPENTR_OIDC_PROVIDERS", json.dumps([{**one, "scopes": "email profile"}]))
    with pytest.raises(ConfigError, match=r"^OPENTR_OIDC_PROVIDERS\[0\]\.scopes: .*must include openid"):
        load_settings()
    monkeypatch.setenv("OPENTR_OIDC_PROVIDERS", json.dumps([one]))
    assert load_settings().opentr_oidc_providers[0].name == "corp"  # plain http is for development only:
    monkeypatch.setenv("OPENTR_ENV", "production")
    monkeypatch.setenv("OPENTR_SECRET_KEY", "k" * 40)
    with pytest.raises(ConfigError, match=r"^OPENTR_OIDC_PROVIDERS: corp: the issuer must be https:// in production"):
        load_settings()
