"""Deleting one's own account: every row of the person, and the list of their stored objects.

The rows go in the caller's transaction (sql/accounts.sql says what goes with what); the stored objects are the
caller's to remove once that transaction has committed, so a failed removal never leaves rows behind (a leftover
object is stray: `opentr cleanup` removes it). The audit trail is the one exception: it is append-only, speaks of the
account by id and recorded e-mail, and keeps its rows until its own retention removes them (README).

Confirmation: the current password; for an account without a usable password (one signed in through a provider,
`hashed_password` '!'), the account's e-mail address typed again. The last active administrator cannot delete their
account: the instance would have nobody to administer it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from credentials import passwords
from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import Conflict, NotFound

NO_PASSWORD: Final = "!"  # what an account made by a sign-in elsewhere stores instead of a hash


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    role: str
    is_active: bool
    hashed_password: str

    @property
    def has_password(self) -> bool:
        return self.hashed_password != NO_PASSWORD

    def confirmed_by(self, password: str | None, email: str | None) -> bool:
        """The password when the account has one, else its e-mail address (case and spaces aside)."""
        if self.has_password:
            return bool(password) and passwords.verify_password(password or "", self.hashed_password)
        return bool(email) and (email or "").strip().lower() == self.email.strip().lower()


@dataclass(frozen=True, slots=True)
class _Stored:
    key: str


_lock_account = s.one_or_none("accounts.lock_account", Account)
_other_active_admins = s.scalar("accounts.other_active_admins", int)
_stored_objects = s.many("accounts.stored_objects", _Stored)
_delete_shares_made = s.rowcount("accounts.delete_shares_made")
_delete_account = s.rowcount("accounts.delete_account")


class LastAdministrator(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "you are the last active administrator: make another account an administrator first, so that someone "
            "can still administer this instance",
            "account",
        )


class AccountRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock(self, user_id: int) -> Account:
        """The account, locked for the rest of the transaction."""
        with as_system(self.conn):
            account = _lock_account(self.conn, user_id=user_id)
        if account is None:
            raise NotFound("account not found")
        return account

    def delete(self, account: Account) -> list[str]:
        """Delete every row of `account` (locked by `lock`); returns the storage keys to remove after the commit
        (media files' companions are the caller's to add: storage/layout.py).

        Run as the system: the cascade reaches rows on other people's objects (shares to the person, their comments
        on others' files), which the person's own role may not touch; every statement names the person."""
        with as_system(self.conn):
            if (
                account.role == "admin"
                and account.is_active
                and _other_active_admins(self.conn, user_id=account.id) == 0
            ):
                raise LastAdministrator()
            keys = [row.key for row in _stored_objects(self.conn, user_id=account.id)]
            _delete_shares_made(self.conn, user_id=account.id)
            if _delete_account(self.conn, user_id=account.id) != 1:
                raise NotFound("account not found")
        return keys
