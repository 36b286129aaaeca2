"""Shared row types: who is acting, and small helpers every repository uses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """The user on whose behalf a query runs; every owned read and write is filtered by it in SQL."""

    id: int
    is_admin: bool = False

    def scope(self) -> dict[str, object]:
        return {"actor_id": self.id, "actor_is_admin": self.is_admin}
