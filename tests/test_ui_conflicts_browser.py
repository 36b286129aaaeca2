"""Concurrent edits on the file page in a real headless Chromium, against a real uvicorn: the page's segment edit
meets a change made meanwhile over the API (the same person's other session), is refused (412), and the page shows
the newer text with a sentence, keeping the unsaved text in view; redone over the newer text, it saves.
"""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from selenium.webdriver.common.by import By

from config.settings import Settings
from repo.rows import Actor
from repo.segments import SegmentRepository
from tests import factories
from tests.browser_support import chromium, serious_accessibility_violations, wait
from tests.fault_support import serve_app
from tests.test_ui_browser import PASSWORD, css, register
from transcript.segments import Segment

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

MINE, THEIRS, REDONE = "こんにちは、皆さん 👋", "مرحبا بالجميع 🎉", "こんにちは、مرحبا 🎉"
MESSAGE = "Someone else changed this segment; here is their version — your text was not saved: "


def a_transcribed_file(conninfo: str, email: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchone()
        assert row is not None
        owner = Actor(row[0], False)
        file_id, file_uuid = factories.media_file(conn, owner, status="completed", duration=4.0)
        SegmentRepository(conn).replace_transcript(
            file_id, [Segment(0.0, 2.0, "first words", "SPEAKER_00"), Segment(2.0, 4.0, "second words")]
        )
    return str(file_uuid)


def text_of(driver: Any, segment: str) -> str:
    return str(css(driver, f"#seg-{segment} [data-role=text]").text)


def test_a_segment_edit_that_meets_a_newer_change_shows_it_and_keeps_the_unsaved_text(
    app_settings: Settings, fresh_url: str
) -> None:
    with serve_app(app_settings) as served, chromium() as driver:
        base = served.url
        register(driver, base)
        file_uuid = a_transcribed_file(fresh_url, "robin@example.com")
        with httpx.Client(base_url=base, timeout=30) as api:
            token = api.post("/api/auth/token", data={"username": "robin@example.com", "password": PASSWORD})
            other = {"Authorization": f"Bearer {token.json()['access_token']}"}
            segment = api.get(f"/api/files/{file_uuid}/transcript", headers=other).json()[0]["uuid"]
            driver.get(f"{base}/files/{file_uuid}")
            css(driver, f"#seg-{segment} details.edit summary").click()
            box = css(driver, f"#text-{segment}")
            box.clear()
            box.send_keys(MINE)
            # Meanwhile, the other session corrects the same segment from the version it read.
            path = f"/api/files/{file_uuid}/transcript/segments/{segment}"
            read = api.get(path, headers=other)
            changed = api.put(path, json={"text": THEIRS}, headers={**other, "If-Match": read.headers["etag"]})
            assert changed.status_code == 200 and changed.headers["etag"] == '"v2"'

            css(driver, f"#seg-{segment} form button[type=submit]").click()
            conflict = wait(
                driver,
                lambda d: (found := css(d, f"#seg-{segment} [data-role=conflict]")).is_displayed() and found,
                what="the conflict message",
            )
            assert conflict.text.startswith(MESSAGE.rstrip()) and MINE in conflict.text
            assert conflict.find_element(By.CSS_SELECTOR, "q[data-role=unsaved]").text == MINE
            assert text_of(driver, segment) == THEIRS  # the newer text replaced what the page showed
            assert box.get_attribute("value") == THEIRS  # and is what a new edit starts from
            assert "your text was not saved" in css(driver, "#toast").text
            assert api.get(path, headers=other).json()["text"] == THEIRS  # nothing overwritten
            assert serious_accessibility_violations(driver) == []

            # Redone over their text: the page now holds their version, so this save goes through.
            box.clear()
            box.send_keys(REDONE)
            css(driver, f"#seg-{segment} form button[type=submit]").click()
            wait(driver, lambda d: css(d, "#toast").text == "Segment saved.", what="the segment to save")
            assert text_of(driver, segment) == REDONE
            assert not css(driver, f"#seg-{segment} [data-role=conflict]").is_displayed()
            stored = api.get(path, headers=other)
            assert (stored.json()["text"], stored.headers["etag"]) == (REDONE, '"v3"')
