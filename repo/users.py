"""Users and their bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from credentials import passwords, tokens
from repo import statements as s
from repo.database import Connection, as_system
from repo.errors import Conflict, Invalid, NotFound
from repo.rows import Actor, inet_or_none

Role = Literal["user", "admin"]
TOKEN_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class User:
    id: int
    uuid: UUID
    email: str
    full_name: str
    is_active: bool
    role: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.role == "admin")


@dataclass(frozen=True, slots=True)
class TokenUser(User):
    """The user behind a bearer token; `touch_due`: the token's last use is over a minute old (see touch_token)."""

    touch_due: bool


@dataclass(frozen=True, slots=True)
class Credentials:
    id: int
    hashed_password: str
    is_active: bool


@dataclass(frozen=True, slots=True)
class Stats:
    users: int
    files: int
    processing: int
    segments: int
    storage_bytes: int
    total_duration: float


_create = s.one("users.create", User)
_get_by_uuid = s.one("users.get_by_uuid", User)
_get_by_id = s.one("users.get_by_id", User)
_credentials = s.one_or_none("users.credentials_by_email", Credentials)
_credentials_by_id = s.one("users.credentials_by_id", Credentials)
_admin_update = s.one("users.admin_update", User)
_update_profile = s.one("users.update_profile", User)
_touch_login = s.execute("users.touch_login")
_list_all = s.many("users.list_all", User)
_delete = s.rowcount("users.delete")
_stats = s.one("users.stats", Stats)
_token_create = s.execute("auth_tokens.create")
_token_authenticate = s.one_or_none("auth_tokens.authenticate", TokenUser)
_token_touch = s.rowcount("auth_tokens.touch")
_token_revoke = s.rowcount("auth_tokens.revoke")
_token_revoke_all = s.rowcount("auth_tokens.revoke_all")
_token_count_long_expired = s.scalar("auth_tokens.count_long_expired", int)
_token_purge_long_expired = s.rowcount("auth_tokens.purge_long_expired")
_DUMMY_HASH = passwords.hash_password("timing-equaliser")


class UserRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def create(self, email: str, password: str, full_name: str = "", role: Role = "user") -> User:
        if len(password) < 8:
            raise Invalid("password must have at least 8 characters", "password")
        hashed = passwords.hash_password(password)
        return _create(self.conn, email=email.strip(), hashed_password=hashed, full_name=full_name, role=role)

    def get(self, actor: Actor, uuid: UUID) -> User:
        return _get_by_uuid(self.conn, uuid=uuid, actor_id=actor.id, actor_is_admin=actor.is_admin)

    def get_by_id(self, user_id: int) -> User:
        return _get_by_id(self.conn, id=user_id)

    def authenticate_password(self, email: str, password: str) -> User | None:
        """The user for these credentials, or None; costs one scrypt either way (an imported bcrypt hash is
        verified with bcrypt, then replaced by ours)."""
        found = _credentials(self.conn, email=email.strip())
        ok = passwords.verify_password(password, found.hashed_password if found else _DUMMY_HASH)
        if found is None or not ok or not found.is_active:
            return None
        if passwords.needs_rehash(found.hashed_password):
            hashed = passwords.hash_password(password)
            _update_profile(self.conn, full_name=None, email=None, hashed_password=hashed, actor_id=found.id)
        _touch_login(self.conn, id=found.id)
        return self.get_by_id(found.id)

    def update_me(
        self,
        actor: Actor,
        *,
        full_name: str | None = None,
        email: str | None = None,
        password: str | None = None,
        current_password: str | None = None,
        keep_token: str | None = None,
    ) -> User:
        """A new email or password needs the current password (Invalid naming current_password otherwise), so a
        stolen session alone cannot take the account over. A new password signs every other session and token
        out (`keep_token`, the one making the change, stays): someone who fears a stolen session changes it."""
        if password is not None and len(password) < 8:
            raise Invalid("password must have at least 8 characters", "password")
        if email is not None or password is not None:
            if not current_password:
                raise Invalid("give your current password to change your email or password", "current_password")
            stored = _credentials_by_id(self.conn, id=actor.id)
            if not passwords.verify_password(current_password, stored.hashed_password):
                raise Invalid("the current password is wrong", "current_password")
        hashed = passwords.hash_password(password) if password is not None else None
        updated = _update_profile(
            self.conn,
            full_name=full_name,
            email=email.strip() if email else None,
            hashed_password=hashed,
            actor_id=actor.id,
        )
        if hashed is not None:
            keep = tokens.hash_token(keep_token) if keep_token else None
            _token_revoke_all(self.conn, user_id=actor.id, keep_hash=keep)
        return updated

    def admin_update(
        self,
        actor: Actor,
        uuid: UUID,
        *,
        role: Role | None = None,
        is_active: bool | None = None,
        full_name: str | None = None,
        password: str | None = None,
    ) -> User:
        """An administrator edits an account. Deactivating it or resetting its password revokes its tokens in the
        same transaction, so its sessions end at once; an administrator cannot demote or deactivate themself."""
        if not actor.is_admin:
            raise NotFound("user not found")
        if password is not None and len(password) < 8:
            raise Invalid("password must have at least 8 characters", "password")
        target = self.get(actor, uuid)
        if target.id == actor.id and (role == "user" or is_active is False):
            raise Conflict("you cannot demote or deactivate yourself; ask another administrator", "role")
        hashed = passwords.hash_password(password) if password is not None else None
        updated = _admin_update(
            self.conn,
            uuid=uuid,
            role=role,
            is_active=is_active,
            full_name=full_name,
            hashed_password=hashed,
            actor_is_admin=actor.is_admin,
        )
        if is_active is False or password is not None:
            _token_revoke_all(self.conn, user_id=updated.id, keep_hash=None)
        return updated

    def list_all(self, actor: Actor, *, after_id: int | None = None, limit: int = 100) -> list[User]:
        return _list_all(self.conn, after_id=after_id, limit=limit, actor_is_admin=actor.is_admin)

    def delete(self, actor: Actor, uuid: UUID) -> None:
        if _delete(self.conn, uuid=uuid, actor_is_admin=actor.is_admin) == 0:
            raise NotFound("user not found")

    def stats(self) -> Stats:
        """Totals over the platform (administrators): counted as the system, since row-level security would count
        only the acting admin's own files; no file's content comes out."""
        with as_system(self.conn):
            return _stats(self.conn)

    def issue_token(
        self,
        user: User,
        ttl_seconds: int = TOKEN_TTL_SECONDS,
        *,
        kind: Literal["api", "browser"] = "api",
        method: str = "password",
        user_agent: str | None = None,
        address: str | None = None,
    ) -> str:
        """A new token for `user`, recorded with what the person's list of sessions shows: a browser session or an
        API token, how they signed in (`password`, `oidc:<provider>`, `ldap:<provider>`), with what, from where."""
        token = tokens.new_token()
        _token_create(
            self.conn,
            user_id=user.id,
            token_hash=tokens.hash_token(token),
            ttl_seconds=ttl_seconds,
            kind=kind,
            method=method[:60],
            user_agent=user_agent[:500] if user_agent else None,
            address=inet_or_none(address),
        )
        return token

    def user_for_token(self, token: str) -> TokenUser | None:
        """A read only: call `touch_token` outside any long transaction when `touch_due`."""
        return _token_authenticate(self.conn, token_hash=tokens.hash_token(token))

    def touch_token(self, token: str) -> bool:
        """Record the token's use (run it in a short transaction of its own, never inside a request's)."""
        return _token_touch(self.conn, token_hash=tokens.hash_token(token)) > 0

    def revoke_token(self, token: str) -> bool:
        return _token_revoke(self.conn, token_hash=tokens.hash_token(token)) > 0

    def long_expired_tokens(self) -> int:
        """How many tokens expired more than a week ago (sql/auth_tokens.sql); `opentr cleanup` reports them."""
        return _token_count_long_expired(self.conn)

    def purge_long_expired_tokens(self) -> int:
        """Delete the tokens long_expired_tokens counts; returns how many went."""
        return _token_purge_long_expired(self.conn)
