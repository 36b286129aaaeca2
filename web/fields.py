"""Field types shared by the request models: explicit formats for query strings, bounded numbers for bodies.

Every bound here is one the database would otherwise enforce with its own words (or a renderer would trip over):
the API states it in its schema and refuses the value with a 422 naming the field before any SQL runs. A pattern a
value is checked against is declared with `worded(pattern, words)`: the refusal says the words, never the regular
expression (web/errors.py); tests/test_web_errors.py fails for a checked pattern declared without them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from repo.rows import strip_white

ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$")
QUERY_TRUE, QUERY_FALSE = ("true", "1"), ("false", "0")
MAX_SECONDS = 7 * 24 * 3600.0  # a week: longer than any recording the platform takes
MIN_NONZERO_REAL = 1e-6  # far above 1.2e-38, where a PostgreSQL `real` underflows
PATTERN_WORDS: dict[str, str] = {}  # a checked pattern -> what a person is told a value must look like


def worded(pattern: str, words: str) -> str:
    """`pattern`, registered with the words a refused value is answered with (e.g. "an http(s) address")."""
    PATTERN_WORDS[pattern] = words
    return pattern


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, str) and not ISO_DATETIME.match(value):
        raise ValueError("expected an ISO 8601 date-time such as 2024-05-01T12:00:00Z")
    return value


def _query_bool(value: Any) -> Any:
    if isinstance(value, str):
        if value.lower() in QUERY_TRUE:
            return True
        if value.lower() in QUERY_FALSE:
            return False
        raise ValueError("expected true, false, 1 or 0")
    return value


def _storable_real(value: float) -> float:
    """PostgreSQL `real` underflows below 1.2e-38 ("value out of range: underflow"): refuse tiny values here."""
    if value != 0 and abs(value) < MIN_NONZERO_REAL:
        raise ValueError(f"must be 0 or at least {MIN_NONZERO_REAL:g} in size")
    return value


def _email(value: str) -> str:
    """Normalised: the domain in lower case (it is case-insensitive; the local part is not)."""
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


# An account's email address: an identifier for signing in (no mail is sent), checked as the pattern says and no
# more: one "@", no ASCII space or control character, a dotted domain. (pydantic's EmailStr refused `.test` or
# `.arpa` domains that a client reading `format: email` would send.)
EMAIL_PATTERN = worded(
    r"^[^@\x00-\x20\x7f]{1,64}@[^@\x00-\x20\x7f]+\.[^@\x00-\x20\x7f]+$",
    "an address needs one @ and a domain, like ann@example.com (no spaces, at most 64 characters before the @)",
)
Email = Annotated[str, Field(max_length=320, pattern=EMAIL_PATTERN), AfterValidator(_email)]
# White space as pydantic's strip_whitespace (Rust's `trim`) sees it, spelled out: regex engines disagree on `\s`.
WHITE_SPACE = "\\t\\n\\u000b\\u000c\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
# What a stripped text with min_length=1 accepts, for the document: something besides white space (and no NUL).
NOT_BLANK = Field(json_schema_extra={"pattern": f"^[^\\u0000]*[^\\u0000{WHITE_SPACE}][^\\u0000]*$"})


def _trimmed(value: str) -> str:
    return strip_white(value)


def _trimmed_not_blank(value: str) -> str:
    value = _trimmed(value)
    if not value:
        raise ValueError("must hold something besides white space")
    return value


# A text's white space at either end goes, after its length is checked as sent: the document's maxLength counts what
# a client sends, so a value that fits there is never refused, nor one that does not accepted (pydantic's
# strip_whitespace would strip first and accept 1 tab + the maximum). Put after StringConstraints.
TRIMMED = AfterValidator(_trimmed)
TRIMMED_NOT_BLANK = AfterValidator(_trimmed_not_blank)  # with NOT_BLANK, which says so in the document
# A keyset cursor as the server writes it (url-safe base64); one it did not write reads as a page not found.
Cursor = Annotated[
    str,
    Field(
        max_length=1000,
        pattern=worded(r"^[A-Za-z0-9_-]*$", "not a cursor this server wrote: send next_cursor of the previous page"),
        description="next_cursor of the previous page",
    ),
]
QueryDateTime = Annotated[datetime, BeforeValidator(_iso_datetime), Field(json_schema_extra={"format": "date-time"})]
QueryBool = Annotated[
    bool,
    BeforeValidator(_query_bool),
    Field(json_schema_extra={"description": "true or false (1 and 0 are accepted too)"}),
]
# Seconds into a recording: finite, not negative, at most MAX_SECONDS (a file's own duration is checked on top).
Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]


# The two halves of a PostgreSQL `real` field, used after its own bounds (which keep it far from overflow):
# `Annotated[float, Field(ge=0, le=2, allow_inf_nan=False), REAL_GAP, REAL_CHECK]`. The value is 0 or at least 1e-6
# in size, so it never underflows; the schema states the gap with a `not`.
REAL_GAP = Field(
    json_schema_extra={
        "not": {"exclusiveMinimum": -MIN_NONZERO_REAL, "exclusiveMaximum": MIN_NONZERO_REAL, "not": {"const": 0}}
    }
)
REAL_CHECK = AfterValidator(_storable_real)

# An http(s) URL an HTTP client can open: ASCII host labels of 1-63 characters (an international name in its
# xn-- form) or an IPv6 literal, a port up to 65535, then a path of visible ASCII (LLM servers, URL imports).
HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PORT = r"(?:6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3})"
H16 = "[0-9A-Fa-f]{1,4}"
IPV6 = "|".join(  # the RFC 4291 text forms (no embedded IPv4, no zone): what a client can open
    [
        rf"(?:{H16}:){{7}}{H16}",
        rf"(?:{H16}:){{1,7}}:",
        *(rf"(?:{H16}:){{1,{6 - n}}}(?::{H16}){{1,{n + 1}}}" for n in range(6)),
        rf":(?:(?::{H16}){{1,7}}|:)",
    ]
)
URL = rf"https?://(?:{HOST_LABEL}(?:\.{HOST_LABEL})*\.?|\[(?:{IPV6})\])(?::{PORT})?(?:/[\x21-\x7e]*)?"
