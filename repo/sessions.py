"""A person's sessions: every live browser session and API token of their account (table `auth_tokens`), named by
its uuid (the bigint id and the token's hash never leave the server), with how, with what and from where it signed
in (recorded by web/signin.py's finish_signin). Ending one revokes its token at once.

`auth_tokens` has no row-level security (authentication reads it before anybody acts): every query here names the
person's own user id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from credentials import tokens
from repo import statements as s
from repo.database import Connection
from repo.errors import NotFound
from repo.rows import Actor


@dataclass(frozen=True, slots=True)
class Session:
    uuid: UUID
    kind: str  # "browser" | "api"
    method: str  # "password", "oidc:<name>", "ldap:<name>", "register", ...
    user_agent: str | None
    address: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    current: bool


@dataclass(frozen=True, slots=True)
class Ended:
    uuid: UUID
    kind: str
    method: str


_sessions = s.many("auth_tokens.sessions", Session)
_end_session = s.one_or_none("auth_tokens.end_session", Ended)
_revoke_all = s.rowcount("auth_tokens.revoke_all")


class SessionRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def list(self, actor: Actor, current_token: str | None) -> list[Session]:
        current = tokens.hash_token(current_token) if current_token else None
        return _sessions(self.conn, user_id=actor.id, current_hash=current)

    def end(self, actor: Actor, uuid: UUID) -> Ended:
        ended = _end_session(self.conn, uuid=uuid, user_id=actor.id)
        if ended is None:
            raise NotFound("no live session of yours has this id")
        return ended

    def end_others(self, actor: Actor, keep_token: str | None) -> int:
        """End every live session of the account but `keep_token`'s; how many ended."""
        keep = tokens.hash_token(keep_token) if keep_token else None
        return _revoke_all(self.conn, user_id=actor.id, keep_hash=keep)
