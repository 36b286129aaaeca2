"""Several people in one test client, for the page tests of working together (tests/test_ui_groups.py,
tests/test_ui_sharing.py): each registers through the register page with a name, and the client switches between
them by signing in, as one browser would."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import psycopg

from repo.rows import Actor
from repo.segments import SegmentRepository
from tests import factories
from tests.web import PAGE_PASSWORD, csrf_in
from transcript.segments import Segment

JAPANESE, ARABIC, EMOJI = "山田 花子", "ليلى حسن", "Zoë 🎧 Grüße"


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    actor: Actor


def join(client: Any, conninfo: str, name: str, email: str) -> Person:
    """Register through the page as `name` (signed in afterwards)."""
    client.cookies.clear()
    fields = {"csrf": csrf_in(client.get("/register").text), "email": email, "full_name": name}
    done = client.post(
        "/register",
        data={**fields, "password": PAGE_PASSWORD, "password_again": PAGE_PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchone()
    assert row is not None
    return Person(email, name, Actor(row[0]))


def become(client: Any, person: Person) -> str:
    """Sign in as `person`; the CSRF token of their session."""
    client.cookies.clear()
    fields = {"csrf": csrf_in(client.get("/signin").text), "email": person.email, "password": PAGE_PASSWORD}
    done = client.post("/signin", data={**fields, "next": "/"}, follow_redirects=False)
    assert done.status_code == 303, done.text
    return csrf_in(client.get("/").text)


def transcribed(conninfo: str, owner: Actor, title: str) -> tuple[str, str]:
    """A completed file of `owner` with a two-segment transcript; its uuid and its first segment's uuid."""
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", duration=4.0, title=title)
        SegmentRepository(conn).replace_transcript(
            file_id, [Segment(0.0, 1.0, "Hello there", "SPEAKER_00"), Segment(1.0, 4.0, "Good morning", "SPEAKER_01")]
        )
        row = conn.execute(
            "SELECT uuid FROM transcript_segments WHERE media_file_id = %s ORDER BY start_time LIMIT 1", [file_id]
        ).fetchone()
    assert row is not None
    return str(file_uuid), str(row[0])


def section(page: str, element_id: str) -> str:
    """The text of one <section id=...> (or other element with that id) up to its closing tag, unescaped."""
    start = page.index(f'id="{element_id}"')
    tag = page.rfind("<", 0, start)
    name = re.match(r"<(\w+)", page[tag:])
    assert name is not None
    end = page.index(f"</{name.group(1)}>", start)
    return html.unescape(page[tag:end])


def text(response: Any) -> str:
    """A page's HTML with its entities resolved, to find the sentences a person reads."""
    return html.unescape(response.text)
