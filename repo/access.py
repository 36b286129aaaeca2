"""Why a write on a file matched no row: the one place that tells 404 from 403.

Every query on behalf of a user filters by the access fragments of sql/fragments.sql, so a refused write simply
matches nothing. Only then do repositories ask `require`, which reads the actor's rank on the file
(media_files.access_rank, the same shared_files() rule) and raises NotFound when they cannot see it at all (its
existence is not told), Forbidden when they see it at a rank below the one the action needs. When the rank suffices,
`require` returns and the caller knows the write failed for another reason of its own (a stale version: 412; a
status guard: 409).
"""

from __future__ import annotations

from typing import Final
from uuid import UUID

from repo import statements as s
from repo.database import Connection
from repo.errors import Forbidden, NotFound
from repo.rows import Actor

NONE: Final = 0
VIEWER: Final = 1
COMMENTER: Final = 2
EDITOR: Final = 3
OWNER: Final = 4

# What each rank lets one do, for the 403's message.
_NEEDS = {
    COMMENTER: "commenting needs the commenter role or higher",
    EDITOR: "editing needs the editor role",
    OWNER: "only the file's owner may do this",
}

_access_rank = s.scalar("media_files.access_rank", int)


def rank(
    conn: Connection,
    actor: Actor,
    *,
    file_uuid: UUID | None = None,
    file_id: int | None = None,
    speaker_uuid: UUID | None = None,
    segment_uuid: UUID | None = None,
    comment_uuid: UUID | None = None,
    summary_uuid: UUID | None = None,
) -> int:
    """The actor's rank on the file named directly or through one of its rows: 0 none ... 4 owner."""
    return _access_rank(
        conn,
        file_uuid=file_uuid,
        file_id=file_id,
        speaker_uuid=speaker_uuid,
        segment_uuid=segment_uuid,
        comment_uuid=comment_uuid,
        summary_uuid=summary_uuid,
        **actor.scope(),
    )


def require(
    conn: Connection,
    actor: Actor,
    needed: int,
    *,
    what: str = "file",
    file_uuid: UUID | None = None,
    file_id: int | None = None,
    speaker_uuid: UUID | None = None,
    segment_uuid: UUID | None = None,
    comment_uuid: UUID | None = None,
    summary_uuid: UUID | None = None,
) -> int:
    """NotFound (naming `what`) when the actor cannot see the file, Forbidden when their rank is below `needed`;
    otherwise their rank."""
    found = rank(
        conn,
        actor,
        file_uuid=file_uuid,
        file_id=file_id,
        speaker_uuid=speaker_uuid,
        segment_uuid=segment_uuid,
        comment_uuid=comment_uuid,
        summary_uuid=summary_uuid,
    )
    if found <= NONE:
        raise NotFound(f"{what} not found")
    if found < needed:
        raise Forbidden(f"{_NEEDS.get(needed, 'your role on this file does not allow this')}", "role")
    return found
