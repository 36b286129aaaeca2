"""Working together in a real headless Chromium against a real uvicorn (no worker: the recording and its
transcript are rows): Ann creates a group, adds Bea, and shares her recording with the group as editor through the
file page's share dialog, and with Cat directly as viewer; Bea signs in, finds it under "Shared with me" with
Ann's name, and corrects a segment in place; Cat sees the recording but no edit controls and no comment form.
Every page is checked for console errors and accessibility violations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from config.settings import Settings
from repo import schema
from repo.rows import Actor
from storage.backend import open_storage
from tests.browser_support import chromium, wait
from tests.fault_support import serve_app
from tests.fuzz_support import private_redis as private_redis_server
from tests.sharing_pages import ARABIC, EMOJI, JAPANESE, transcribed
from tests.test_ui_browser import css, page_is_clean, submit
from tests.web import PAGE_PASSWORD, csrf_in
from tests.workers_support import wav

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

PEOPLE = {"ann@example.com": JAPANESE, "bea@example.com": ARABIC, "cat@example.com": EMOJI}


@pytest.fixture
def redis_url() -> Iterator[str]:
    with private_redis_server() as url:
        yield url


def register_all(base: str) -> None:
    """The three accounts, registered through the register page over HTTP (the browser signs in with them)."""
    for email, name in PEOPLE.items():
        with httpx.Client(base_url=base) as http:
            token = csrf_in(http.get("/register").text)
            fields = {"csrf": token, "email": email, "full_name": name}
            done = http.post("/register", data={**fields, "password": PAGE_PASSWORD, "password_again": PAGE_PASSWORD})
            assert done.status_code == 303, done.text


def sign_in(driver: WebDriver, base: str, email: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/signin")
    css(driver, "#email").send_keys(email)
    css(driver, "#password").send_keys(PAGE_PASSWORD)
    submit(driver, "main form")
    wait(driver, lambda d: d.current_url == f"{base}/", what=f"the library of {email}")


def store_recording(settings: Settings, conninfo: str, file_uuid: str) -> None:
    """The recording itself where the file's row says it is, so that the player loads it."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT storage_path FROM media_files WHERE uuid = %s", [file_uuid]).fetchone()
    assert row is not None
    open_storage(settings).put_bytes(row[0], wav(4.0))


def owner_of(conninfo: str, email: str) -> Actor:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT id FROM users WHERE email = %s", [email]).fetchone()
    assert row is not None
    return Actor(row[0])


def test_a_team_shares_a_recording_and_edits_it_by_role(fresh_url: str, redis_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=schema.to_url(fresh_url),
        redis_url=redis_url,
        opentr_home=tmp_path / "home",
        db_pool_min=1,
        db_pool_max=4,
    )
    with serve_app(settings) as served, chromium() as driver:
        base = served.url
        register_all(base)
        file_uuid, segment_uuid = transcribed(fresh_url, owner_of(fresh_url, "ann@example.com"), "Board meeting")
        store_recording(settings, fresh_url, file_uuid)

        # Ann: a group with Bea in it
        sign_in(driver, base, "ann@example.com")
        driver.get(f"{base}/groups")
        css(driver, "#new-group-name").send_keys("編集部 Newsroom")
        submit(driver, "#new-group")
        wait(driver, lambda d: "/groups/" in d.current_url, what="the new group's page")
        css(driver, "#member-email").send_keys("bea@example.com")
        submit(driver, "#add-member")
        wait(driver, lambda d: ARABIC in css(d, "#members").text, what="Bea among the members")
        page_is_clean(driver, "group")

        # ... shares the recording with the group as editor, and with Cat as viewer, through the dialog
        driver.get(f"{base}/files/{file_uuid}")
        css(driver, "#share-dialog summary").click()
        Select(css(driver, "#share-group")).select_by_visible_text("編集部 Newsroom")
        Select(css(driver, "#share-role")).select_by_value("editor")
        submit(driver, "#share-form")
        wait(driver, lambda d: "編集部 Newsroom" in css(d, "#access").text, what="the group in the access list")
        css(driver, "#share-dialog summary").click()
        css(driver, "#share-email").send_keys("cat@example.com")
        submit(driver, "#share-form")
        wait(driver, lambda d: EMOJI in css(d, "#access").text, what="Cat in the access list")
        page_is_clean(driver, "file page with its shares")

        # Bea: the recording is under "Shared with me" with Ann's name; she corrects a segment in place
        sign_in(driver, base, "bea@example.com")
        driver.find_element(By.LINK_TEXT, "Shared with me").click()
        row = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "li.file"), what="the shared file")[0]
        assert "Board meeting" in row.text and f"Shared by {JAPANESE} · editor" in row.text
        page_is_clean(driver, "library, shared with me")
        row.find_element(By.CSS_SELECTOR, "a.file-title").click()
        wait(driver, lambda d: d.current_url.endswith(f"/files/{file_uuid}"), what="the shared file's page")
        assert f"Shared with you by {JAPANESE} as editor" in css(driver, "#share").text
        segment = css(driver, f"#seg-{segment_uuid}")
        segment.find_element(By.CSS_SELECTOR, "details.edit summary").click()
        text = segment.find_element(By.CSS_SELECTOR, "textarea")
        text.clear()
        text.send_keys(f"Hello from {ARABIC}")
        segment.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(driver, lambda d: css(d, "#toast").text == "Segment saved.", what="the segment saved")
        assert not driver.find_elements(By.CSS_SELECTOR, "[data-action=delete], #share-form")
        page_is_clean(driver, "shared file page, as editor")
        driver.refresh()
        assert css(driver, f"#seg-{segment_uuid} [data-role=text]").text == f"Hello from {ARABIC}"

        # Cat, a viewer: reads the corrected transcript, and has nothing to edit or comment with
        sign_in(driver, base, "cat@example.com")
        driver.get(f"{base}/files/{file_uuid}")
        assert css(driver, f"#seg-{segment_uuid} [data-role=text]").text == f"Hello from {ARABIC}"
        assert f"Shared with you by {JAPANESE} as viewer" in css(driver, "#share").text
        controls = "details.edit, #comment-form, form.rename, #rerun-form, [data-action=delete], #share-form"
        assert driver.find_elements(By.CSS_SELECTOR, controls) == []
        page_is_clean(driver, "shared file page, as viewer")


def test_an_admin_in_the_all_files_view_corrects_a_segment_in_place(
    fresh_url: str, redis_url: str, tmp_path: Path
) -> None:
    """The file page's script calls the API in the page's view: opened with ?view=all, an admin's in-place edit
    (a PUT through app.js) reaches another person's file instead of answering 404."""
    settings = Settings(
        database_url=schema.to_url(fresh_url),
        redis_url=redis_url,
        opentr_home=tmp_path / "home",
        db_pool_min=1,
        db_pool_max=4,
    )
    with serve_app(settings) as served, chromium() as driver:
        base = served.url
        register_all(base)
        file_uuid, segment_uuid = transcribed(fresh_url, owner_of(fresh_url, "ann@example.com"), "審査 مراجعة")
        store_recording(settings, fresh_url, file_uuid)
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET role = 'admin' WHERE email = 'cat@example.com'")

        sign_in(driver, base, "cat@example.com")
        driver.get(f"{base}/files/{file_uuid}?view=all")
        segment = css(driver, f"#seg-{segment_uuid}")
        segment.find_element(By.CSS_SELECTOR, "details.edit summary").click()
        text = segment.find_element(By.CSS_SELECTOR, "textarea")
        text.clear()
        text.send_keys(f"Geprüft von {EMOJI}")
        segment.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait(driver, lambda d: css(d, "#toast").text == "Segment saved.", what="the segment saved in the view")
        page_is_clean(driver, "another's file page in the all-files view")
        driver.refresh()
        assert css(driver, f"#seg-{segment_uuid} [data-role=text]").text == f"Geprüft von {EMOJI}"
