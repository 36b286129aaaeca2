"""Password resets by e-mail (table `password_resets`, migration 0018).

A reset link's token is random (256 bits), kept only as its SHA-256 hash, works once and expires. Using it sets the
password, ends every session and API token of the account (whoever holds one may be who made the reset necessary)
and every other open reset link of it. Nobody is signed in at either end: everything runs as the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from credentials import passwords, tokens
from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import Invalid
from repo.rows import inet_or_none
from repo.users import User

ResetVerdict = Literal["ok", "unknown", "used", "expired"]


@dataclass(frozen=True, slots=True)
class Reset:
    id: int
    user_id: int
    expires_at: datetime
    used_at: datetime | None
    expired: bool


_user_by_email = s.one_or_none("password_resets.user_by_email", User)
_create = s.execute("password_resets.create")
_forget_old = s.rowcount("password_resets.forget_old")
_find = s.one_or_none("password_resets.find", Reset)
_use = s.rowcount("password_resets.use")
_drop_others = s.rowcount("password_resets.drop_others")
_set_password = s.rowcount("password_resets.set_password")
_revoke_all = s.rowcount("auth_tokens.revoke_all")


class PasswordResetRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def account(self, email: str) -> User | None:
        """The active account with this e-mail address, if any."""
        with as_system(self.conn):
            return _user_by_email(self.conn, email=email.strip())

    def create(self, user: User, ttl_seconds: int, address: str | None) -> str:
        """A new reset token for `user` (the caller mails the link); the account's long-dead ones are forgotten."""
        token = tokens.new_token()
        with as_system(self.conn):
            _forget_old(self.conn, user_id=user.id)
            _create(
                self.conn,
                user_id=user.id,
                token_hash=tokens.hash_token(token),
                ttl_seconds=ttl_seconds,
                address=inet_or_none(address),
            )
        return token

    def use(self, token: str, new_password: str) -> tuple[ResetVerdict, int | None]:
        """Set the password of the reset's account; the verdict and the account's id (None when unknown)."""
        if len(new_password) < 8:
            raise Invalid("password must have at least 8 characters", "password")
        with as_system(self.conn):
            found = _find(self.conn, token_hash=tokens.hash_token(token))
            if found is None:
                return "unknown", None
            if found.used_at is not None:
                return "used", found.user_id
            if found.expired or not _use(self.conn, id=found.id):
                return "expired", found.user_id
            _drop_others(self.conn, user_id=found.user_id)
            _set_password(self.conn, user_id=found.user_id, hashed_password=passwords.hash_password(new_password))
            _revoke_all(self.conn, user_id=found.user_id, keep_hash=None)
        return "ok", found.user_id
