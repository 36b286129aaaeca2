"""What "download everything of mine" puts in the archive, read from the database (sql/my_data.sql).

Read acting for the person (row-level security applies) and filtered by them in every query: their account
(profile, identities, settings, notification preferences, LLM configurations without their keys, prompts,
collections, speaker profiles, groups, shares they made, questions they asked, their comments on others' files),
then each file they own, one at a time (a transcript can be large: only one is in memory at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from repo import statements as s
from repo.database import Connection


@dataclass(frozen=True, slots=True)
class OwnedFile:
    id: int
    uuid: UUID
    filename: str
    storage_path: str
    file_size: int


_account = s.scalar("my_data.account", dict)
_files = s.many("my_data.files", OwnedFile)
_file = s.scalar("my_data.file", dict)


class MyDataRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def account(self, user_id: int) -> dict[str, Any]:
        data: dict[str, Any] = _account(self.conn, user_id=user_id)
        return data

    def files(self, user_id: int) -> list[OwnedFile]:
        return _files(self.conn, user_id=user_id)

    def file(self, user_id: int, file_id: int) -> dict[str, Any]:
        """One owned file with its speakers, segments (and words), tags, comments, summaries, analytics and links;
        NotFound when it is no longer theirs (deleted since the list was read)."""
        data: dict[str, Any] = _file(self.conn, user_id=user_id, file_id=file_id)
        return data
