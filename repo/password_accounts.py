"""The local account behind a name typed on the sign-in form, as directory sign-in needs to know it: whether it has
a password of its own and which directories (`ldap:<name>`) it is linked to. Read as the system: nobody is signed in
yet, and the identities of an account are not visible to strangers otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from repo import statements as s
from repo.database import Connection, as_system


@dataclass(frozen=True, slots=True)
class PasswordAccount:
    id: int
    has_password: bool
    directories: list[str]  # providers, "ldap:<name>"


_by_email = s.one_or_none("password_accounts.by_email", PasswordAccount)


def password_account(conn: Connection, email: str) -> PasswordAccount | None:
    with as_system(conn):
        return _by_email(conn, email=email.strip())
