"""Public links in a real headless Chromium, against a real uvicorn: the owner makes a link on the file page, copies
its address (shown once), and a visitor without an account opens it: the title, the player (which plays the media
through the link), the transcript whose time buttons seek, downloads; no console error, no serious accessibility
violation, nothing to edit. Revoked, the same address says the link is gone.
"""

from __future__ import annotations

import secrets

import psycopg
import pytest
from selenium.webdriver.common.by import By

from config.settings import Settings
from repo.rows import Actor
from repo.segments import SegmentRepository
from tests import factories
from tests.browser_support import chromium, wait
from tests.fault_support import serve_app
from tests.test_ui_browser import css, page_is_clean, player_state, register, speech_like_wav
from transcript.segments import Segment

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

TITLE = "会議 · اجتماع 🎙️"


def a_file_with_media(settings: Settings, conninfo: str, email: str) -> str:
    data = speech_like_wav(6.0)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchone()
        assert row is not None
        owner = Actor(row[0])
        storage_path = f"{owner.id}/{secrets.token_hex(8)}.wav"
        target = settings.storage_dir / storage_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        file_id, file_uuid = factories.media_file(
            conn,
            owner,
            title=TITLE,
            status="completed",
            duration=6.0,
            storage_path=storage_path,
            content_type="audio/wav",
            file_size=len(data),
        )
        SegmentRepository(conn).replace_transcript(
            file_id,
            [Segment(0.0, 3.0, "Guten Morgen, willkommen", "SPEAKER_00"), Segment(3.0, 6.0, "こんにちは皆さん")],
        )
    return str(file_uuid)


def test_a_link_made_on_the_file_page_opens_for_a_visitor(app_settings: Settings, fresh_url: str) -> None:
    with serve_app(app_settings) as served, chromium() as driver:
        base = served.url
        register(driver, base)
        file_uuid = a_file_with_media(app_settings, fresh_url, "robin@example.com")
        driver.get(f"{base}/files/{file_uuid}")
        css(driver, "#link-expiry option[value='30']").click()
        css(driver, "#link-form button[type=submit]").click()
        shown = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#new-link-url"), what="the new link")[0]
        url = shown.get_attribute("value")
        assert url.startswith(f"{base}/p/") and len(url) == len(f"{base}/p/") + 43
        copy = css(driver, "[data-action=copy-link]")
        assert copy.is_displayed()
        copy.click()
        wait(driver, lambda d: css(d, "[data-action=copy-link]").text == "Copied", what="the copy to be confirmed")
        assert "0 uses" in css(driver, "#links").text and "expires" in css(driver, "#links").text
        page_is_clean(driver, "file (with a new public link)")

        driver.delete_all_cookies()  # a visitor without an account
        driver.get(url)
        assert css(driver, "h1").text == TITLE
        assert driver.find_elements(By.CSS_SELECTOR, "textarea, form[method=post] input[name=csrf], details.edit") == []
        robots = css(driver, "meta[name=robots]").get_attribute("content")
        assert robots == "noindex, nofollow"
        segments = driver.find_elements(By.CSS_SELECTOR, "#transcript li.segment")
        assert [s.find_element(By.CSS_SELECTOR, ".text").text for s in segments] == [
            "Guten Morgen, willkommen",
            "こんにちは皆さん",
        ]
        wait(
            driver,
            lambda d: d.execute_script("return document.getElementById('player').readyState") >= 1,
            what="the media to load through the link",
        )
        segments[1].find_element(By.CSS_SELECTOR, "button.seek").click()
        wait(driver, lambda d: player_state(d)["start"] == 3.0, what="the second segment to play")
        assert player_state(driver)["time"] >= 3.0
        downloads = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#exports a")]
        assert f"{url}/export/srt" in downloads and f"{url}/export/txt" in downloads
        page_is_clean(driver, "public link")

        with psycopg.connect(fresh_url, autocommit=True) as conn:  # revoked (the owner's form: test_web_public_links)
            conn.execute("UPDATE public_links SET revoked_at = now()")
        driver.get(url)
        assert "expired or was revoked" in css(driver, "main").text
        assert css(driver, "h1").text == "No longer available"
