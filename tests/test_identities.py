"""Accounts signing in from elsewhere (repo/identities.py): the rules OpenID Connect and LDAP sign-ins share."""

from __future__ import annotations

import secrets
from typing import Any

import psycopg
import pytest

from repo.database import Database
from repo.identities import ExternalProfile, IdentityRepository, InactiveAccount, LinkRules, NoAccount
from repo.users import User
from tests import factories
from tests.web import register, sign_up

RULES = LinkRules(group_map={"eng": "Ingeniería ⚙️", "legal": "法務"}, admin_groups=frozenset({"it-admins"}))


def profile(subject: str = "sub-1", **changes: Any) -> ExternalProfile:
    base: dict[str, Any] = {
        "provider": "oidc:corp",
        "subject": subject,
        "email": "mariam@例え.org",
        "email_verified": True,
        "full_name": "مريم Müller 😀",
        "groups": (),
    }
    return ExternalProfile(**{**base, **changes})


def sign_in(db: Database, found: ExternalProfile, rules: LinkRules = RULES) -> User:
    with db.acting_as_system(), db.transaction() as conn:
        return IdentityRepository(conn).sign_in(found, rules)


def memberships(db: Database, user_id: int) -> dict[str, str | None]:
    with db.acting_as_system(), db.transaction() as conn:
        rows = conn.execute(
            "SELECT g.name, m.managed_by FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = %s",
            [user_id],
        ).fetchall()
    return {name: managed for name, managed in rows}


def test_a_first_sign_in_creates_the_account_and_the_next_finds_it(db: Database) -> None:
    first = sign_in(db, profile())
    assert (first.email, first.full_name, first.role) == ("mariam@例え.org", "مريم Müller 😀", "user")
    again = sign_in(db, profile(email="renamed@例え.org"))
    assert again.id == first.id, "the subject, not the address, names the account"
    with db.acting_as_system(), db.transaction() as conn:
        identities = IdentityRepository(conn).identities_of(first.id)
        hashed = conn.execute("SELECT hashed_password FROM users WHERE id = %s", [first.id]).fetchone()
    assert [(i.provider, i.subject, i.email) for i in identities] == [("oidc:corp", "sub-1", "renamed@例え.org")]
    assert hashed == ("!",), "no password opens an account made by a provider"


def test_a_verified_address_links_the_existing_account_an_unverified_one_never_does(db: Database) -> None:
    with db.acting_as_system(), db.transaction() as conn:
        existing = factories.user(conn, email="Jürgen@Example.org")
    with pytest.raises(NoAccount, match="exists"):
        sign_in(db, profile("attacker", email="jürgen@example.org", email_verified=False))
    linked = sign_in(db, profile("sub-j", email="jürgen@example.org", email_verified=True))
    assert linked.id == existing.id
    refused = LinkRules(link_by_email=False)
    with pytest.raises(NoAccount):
        sign_in(db, profile("sub-other", email="jürgen@example.org"), refused)


def test_without_account_creation_an_unknown_identity_is_refused(db: Database) -> None:
    with pytest.raises(NoAccount, match="administrator"):
        sign_in(db, profile(), LinkRules(create_accounts=False))
    with db.acting_as_system(), db.transaction() as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM user_identities").fetchone() == (0,)


def test_groups_follow_the_provider_and_hand_made_memberships_stay(db: Database) -> None:
    user = sign_in(db, profile(groups=("eng", "legal", "unmapped")))
    assert memberships(db, user.id) == {"Ingeniería ⚙️": "oidc:corp", "法務": "oidc:corp"}
    with db.acting_as_system(), db.transaction() as conn:
        made = conn.execute("INSERT INTO groups (name) VALUES ('Hand-made') RETURNING id").fetchone()
        assert made is not None
        conn.execute("INSERT INTO group_members (group_id, user_id) VALUES (%s, %s)", [made[0], user.id])
    again = sign_in(db, profile(groups=("legal",)))
    assert memberships(db, again.id) == {"法務": "oidc:corp", "Hand-made": None}
    other = sign_in(db, profile("sub-2", email="x@example.org", groups=("legal",)))
    with db.acting_as_system(), db.transaction() as conn:
        groups = conn.execute("SELECT count(*) FROM groups WHERE name = '法務'").fetchone()
    assert groups == (1,), "the second member joins the same platform group"
    assert memberships(db, other.id) == {"法務": "oidc:corp"}


def test_admin_groups_decide_the_role_both_ways(db: Database) -> None:
    assert sign_in(db, profile(groups=("it-admins",))).role == "admin"
    assert sign_in(db, profile(groups=())).role == "user"
    assert sign_in(db, profile(), LinkRules()).role == "user", "no admin groups configured: the role stays"


def test_a_deactivated_account_is_refused_and_its_groups_untouched(db: Database) -> None:
    user = sign_in(db, profile(groups=("eng",)))
    with db.acting_as_system(), db.transaction() as conn:
        conn.execute("UPDATE users SET is_active = false WHERE id = %s", [user.id])
    with pytest.raises(InactiveAccount):
        sign_in(db, profile(groups=()))
    assert memberships(db, user.id) == {"Ingeniería ⚙️": "oidc:corp"}


def test_one_identity_never_moves_to_another_account(conn: psycopg.Connection[Any]) -> None:
    first, second = factories.user(conn), factories.user(conn)
    conn.execute(
        "INSERT INTO user_identities (user_id, provider, subject) VALUES (%s, 'ldap:corp', 'uid=a')", [first.id]
    )
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute(
            "INSERT INTO user_identities (user_id, provider, subject) VALUES (%s, 'ldap:corp', 'uid=a')", [second.id]
        )


def test_a_person_sees_the_providers_they_sign_in_through(client: Any, fresh_url: str) -> None:
    """Listed by the API and on the settings page, the person's own only; an account with none shows no section."""
    email = f"leïla-{secrets.token_hex(3)}@例え.org"
    sign_up(client, email)
    assert client.get("/api/users/me/identities").json() == []
    assert "Signed in through" not in client.get("/settings").text
    with psycopg.connect(fresh_url, autocommit=True) as admin:
        admin.execute(
            "INSERT INTO user_identities (user_id, provider, subject, email, last_login_at) "
            "SELECT id, 'ldap:corp', 'uid=leïla,ou=人', %s, now() FROM users WHERE email = %s",
            [email, email],
        )
    (listed,) = client.get("/api/users/me/identities").json()
    assert (listed["provider"], listed["subject"], listed["email"]) == ("ldap:corp", "uid=leïla,ou=人", email)
    page = client.get("/settings").text
    assert "Signed in through" in page and "ldap:corp" in page
    client.cookies.clear()  # another person, by bearer token
    other = register(client)
    assert client.get("/api/users/me/identities", headers=other).json() == []
