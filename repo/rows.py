"""Shared row types: who is acting, and small helpers every repository uses."""

from __future__ import annotations

from dataclasses import dataclass

from repo.errors import Invalid


@dataclass(frozen=True, slots=True)
class Actor:
    """The user on whose behalf a query runs; every owned read and write is filtered by it in SQL."""

    id: int
    is_admin: bool = False

    def scope(self) -> dict[str, object]:
        return {"actor_id": self.id, "actor_is_admin": self.is_admin}


def trimmed(value: str, field: str, max_length: int, what: str) -> str:
    """`value` without surrounding white space; Invalid naming `field` unless 1..max_length characters remain."""
    cleaned = value.strip()
    if not 1 <= len(cleaned) <= max_length:
        raise Invalid(f"{what} has 1 to {max_length} characters", field)
    return cleaned
