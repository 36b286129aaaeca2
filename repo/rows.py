"""Shared row types: who is acting, and small helpers every repository uses."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from repo.errors import Invalid


@dataclass(frozen=True, slots=True)
class Actor:
    """The user on whose behalf a query runs; every read and write of user data is filtered by it in SQL (the
    fragments file_readable / file_commentable / file_editable / file_owned of sql/fragments.sql).

    `sees_all` is an admin's explicit "all files" view: only then does an admin reach other people's files; an admin
    acting as themselves sees what any user sees (their own and what is shared with them)."""

    id: int
    is_admin: bool = False
    sees_all: bool = False

    def scope(self) -> dict[str, object]:
        return {"actor_id": self.id, "actor_sees_all": self.is_admin and self.sees_all}

    def seeing_all(self) -> Actor:
        """This admin in the explicit "all files" view (a non-admin stays as they are)."""
        return Actor(self.id, self.is_admin, sees_all=self.is_admin)


# White space, as the API's documents and validators say it (web/fields.py): Python's own str.strip() also strips
# the separators \x1c-\x1f, which JSON Schema's and Rust's `\s` do not, so a name of one U+001C passed the API's
# checks and became empty here (a 422 for a value the document accepts).
WHITE_SPACE_CHARS = "".join(
    ["\t\n\u000b\u000c\r \u0085\u00a0\u1680", *map(chr, range(0x2000, 0x200B)), "\u2028\u2029\u202f\u205f\u3000"]
)


def strip_white(value: str) -> str:
    """`value` without the white space at either end (WHITE_SPACE_CHARS)."""
    return value.strip(WHITE_SPACE_CHARS)


def trimmed(value: str, field: str, max_length: int, what: str) -> str:
    """`value` without surrounding white space; Invalid naming `field` unless 1..max_length characters remain."""
    cleaned = strip_white(value)
    if not 1 <= len(cleaned) <= max_length:
        raise Invalid(f"{what} has 1 to {max_length} characters", field)
    return cleaned


def inet_or_none(value: str | None) -> str | None:
    """An IP address as PostgreSQL's inet takes it, else None (a test client's "testclient", a proxy's garbage)."""
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None
