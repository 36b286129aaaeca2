"""Public links: read-only, unguessable, expiring, revocable links to one file, each use counted.

A link is a random token (`secrets.token_urlsafe(32)`: 256 bits, 43 characters) given to its creator once; only its
SHA-256 is stored, so a copy of the database opens no link. Only the file's owner (or an admin in the explicit
"all files" view) creates, lists and revokes a file's links: someone the file is shared with is refused (403), a
stranger is told nothing (404).

Whoever holds the token reads the file through `resolve`, which answers the file and its owner: the caller then
reads that one file as its owner (an `Actor` of the owner, the file's uuid only). An unknown token is NotFound
(404); a link that expired or was revoked is Gone (410): only the holder of the secret can ask, so telling them
costs nothing and saves them guessing. Revoking a link twice is a Conflict (409): the owner sees their links.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from repo import access
from repo import statements as s
from repo.database import Connection
from repo.errors import Conflict, Gone, Invalid, NotFound
from repo.rows import Actor

MAX_DAYS = 366  # the furthest expiry a link may be given; a link without one lasts until revoked
TOKEN_BYTES = 32
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # what token_urlsafe(32) writes: anything else is no link


@dataclass(frozen=True, slots=True)
class PublicLink:
    uuid: UUID
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    use_count: int
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class CreatedLink:
    """A new link and its token: the only time the token is known to anyone but the person given it."""

    link: PublicLink
    token: str


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a token opens: one file, read as its owner."""

    file_uuid: UUID
    owner_id: int
    expires_at: datetime | None
    live: bool
    link_uuid: UUID  # the link's public id (the audit trail's object of each use), never its token

    @property
    def owner(self) -> Actor:
        return Actor(self.owner_id)


_create = s.one_or_none("public_links.create", PublicLink)
_list_for_file = s.many("public_links.list_for_file", PublicLink)
_revoke = s.one_or_none("public_links.revoke", PublicLink)
_exists_for_file = s.scalar("public_links.exists_for_file", bool)
_use = s.one_or_none("public_links.use", LinkTarget)
_state = s.one_or_none("public_links.state", LinkTarget)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def expiry(*, days: int | None = None, at: datetime | None = None, now: datetime | None = None) -> datetime | None:
    """When a link made now expires: in `days` days or `at` (not both), None for never. Invalid (422) naming the
    field for what a request's schema refuses too (days outside 1..MAX_DAYS, a time without a zone); Conflict (409)
    naming it for what no schema can state: a moment already past, or more than MAX_DAYS ahead, or both given."""
    now = now or datetime.now(UTC)
    if days is not None and at is not None:
        raise Conflict("expires_at: give either expires_in_days or expires_at, not both", "expires_at")
    if days is not None:
        if not 1 <= days <= MAX_DAYS:
            raise Invalid(f"expires_in_days: from 1 to {MAX_DAYS} days", "expires_in_days")
        return now + timedelta(days=days)
    if at is None:
        return None
    if at.tzinfo is None:
        raise Invalid("expires_at: give a time zone (e.g. 2030-01-31T12:00:00Z)", "expires_at")
    if at <= now:
        raise Conflict("expires_at: must be in the future", "expires_at")
    if at > now + timedelta(days=MAX_DAYS):
        raise Conflict(f"expires_at: at most {MAX_DAYS} days ahead", "expires_at")
    return at


class PublicLinkRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _require_owner(self, actor: Actor, file_uuid: UUID) -> None:
        """NotFound for a file the actor cannot see; Forbidden for one shared with them but not theirs."""
        access.require(self.conn, actor, access.OWNER, file_uuid=file_uuid)

    def create(self, actor: Actor, file_uuid: UUID, expires_at: datetime | None = None) -> CreatedLink:
        """A new link to the actor's file; `expires_at` as `expiry()` gives it (None: until revoked)."""
        self._require_owner(actor, file_uuid)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        link = _create(
            self.conn, file_uuid=file_uuid, token_hash=token_hash(token), expires_at=expires_at, **actor.scope()
        )
        if link is None:  # deleted meanwhile
            raise NotFound("file not found")
        return CreatedLink(link, token)

    def list_for_file(self, actor: Actor, file_uuid: UUID) -> list[PublicLink]:
        """The file's links, newest first, revoked and expired ones too (with their counts)."""
        self._require_owner(actor, file_uuid)
        return _list_for_file(self.conn, file_uuid=file_uuid, **actor.scope())

    def revoke(self, actor: Actor, file_uuid: UUID, link_uuid: UUID) -> PublicLink:
        """The link stops working at once (410 to whoever opens it). Revoked already: Conflict."""
        self._require_owner(actor, file_uuid)
        scope = {"file_uuid": file_uuid, "link_uuid": link_uuid, **actor.scope()}
        revoked = _revoke(self.conn, **scope)
        if revoked is not None:
            return revoked
        if _exists_for_file(self.conn, **scope):
            raise Conflict("this link is revoked already", "link_uuid")
        raise NotFound("link not found")

    def resolve(self, token: str, *, count: bool = True) -> LinkTarget:
        """The file a token opens, counting one use when `count` (atomically: concurrent uses each count).
        NotFound for a token that is no link (malformed ones are never looked up); Gone when expired or revoked."""
        if not TOKEN_SHAPE.fullmatch(token):
            raise NotFound("no such link")
        hashed = token_hash(token)
        if count:
            used = _use(self.conn, token_hash=hashed)
            if used is not None:
                return used
        target = _state(self.conn, token_hash=hashed)
        if target is None:
            raise NotFound("no such link")
        if not target.live:
            raise Gone("this link has expired or was revoked; ask its owner for a new one")
        return target
