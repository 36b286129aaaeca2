"""Rough edges seen in the browser, measured in a real headless Chromium: no filter panel on an empty library; the
tag filter shows every tag at its own height, with no list box to scroll; the bulk actions and the merge form start
on no choice, and an unchosen merge is refused with a sentence; a refused upload's bar turns red and says why; the
404 page of a signed-in person leads to the library, not to "Sign in / Register"; a summary asked for without a
language model says so in words, with a link to Settings; the detected language is shown on the file page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from config.settings import Settings
from repo import schema
from repo.rows import Actor
from repo.tags import TagRepository
from tests import factories
from tests.browser_support import (
    chromium,
    console_errors,
    element_screenshot,
    serious_accessibility_violations,
    wait,
)
from tests.fault_support import serve_app
from tests.fuzz_support import private_redis
from tests.test_ui_browser import register
from tests.workers_support import wav

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

NAME = "会議の記録 🎙️ Müller.wav"
TAGS = ["会議 🎙️", "Müller", "مراجعة", "budget", "planning", "weekly"]
# What the tag filter looks like on the page: its box, each tag's box, and whether anything in it scrolls.
TAG_FILTER = """
const box = document.getElementById('f-tags').getBoundingClientRect();
const tags = [...document.querySelectorAll('#f-tags label.tag-choice')].map(l => l.getBoundingClientRect());
const scrolls = [...document.querySelectorAll('#f-tags, #f-tags *')].some(e => e.scrollHeight > e.clientHeight + 1);
return {height: box.height, top: box.top, bottom: box.bottom, scrolls,
        tags: tags.map(t => ({top: t.top, bottom: t.bottom, height: t.height})),
        lists: document.querySelectorAll('form.filters select[multiple]').length};
"""


@pytest.fixture
def settings(fresh_url: str, tmp_path: Path) -> Iterator[Settings]:
    with private_redis() as url:
        yield Settings(
            database_url=schema.to_url(fresh_url),
            redis_url=url,
            opentr_home=tmp_path / "home",
            db_pool_min=1,
            db_pool_max=4,
        )


def clean(driver: WebDriver, name: str) -> None:
    assert console_errors(driver) == [], f"console errors on the {name} page"
    assert serious_accessibility_violations(driver) == [], f"accessibility violations on the {name} page"


def css(driver: WebDriver, selector: str) -> str:
    text: str = driver.find_element(By.CSS_SELECTOR, selector).text
    return text


def arrange_file(conninfo: str, storage: Path) -> str:
    """A processed recording of the signed-in person: two speakers, six tags, German detected."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        [(user_id,)] = conn.execute("SELECT id FROM users").fetchall()
        owner = Actor(user_id)
        relative = f"{user_id}/{os.urandom(8).hex()}"
        media = wav(3.0)
        (storage / relative).parent.mkdir(parents=True, exist_ok=True)
        (storage / relative).write_bytes(media)
        file_id, file_uuid = factories.media_file(
            conn,
            owner,
            filename=NAME,
            status="completed",
            storage_path=relative,
            file_size=len(media),
            content_type="audio/wav",
            duration=3.0,
            language="de",
            language_probability=0.93,
        )
        first = factories.speaker(conn, owner, file_id, "SPEAKER_00")
        factories.speaker(conn, owner, file_id, "SPEAKER_01")
        factories.segments(conn, file_id, ["Guten Morgen, Frau Müller"], first)
        for tag in TAGS:
            TagRepository(conn).attach(owner, file_uuid, tag)
    return str(file_uuid)


def test_rough_edges_are_smoothed(settings: Settings, fresh_url: str, tmp_path: Path) -> None:
    with serve_app(settings) as served, chromium() as driver:
        base = served.url
        register(driver, base)
        assert "Nothing here yet" in css(driver, "main")
        assert driver.find_elements(By.CSS_SELECTOR, "form.filters") == [], "nothing to filter in an empty library"
        clean(driver, "empty library")

        file_uuid = arrange_file(fresh_url, settings.storage_dir)
        driver.get(f"{base}/")
        assert driver.find_element(By.CSS_SELECTOR, "form.filters").is_displayed()
        tag_filter = driver.execute_script(TAG_FILTER)
        assert tag_filter["lists"] == 0 and not tag_filter["scrolls"], tag_filter
        assert len(tag_filter["tags"]) == len(TAGS)
        for tag in tag_filter["tags"]:  # every tag in sight, inside the filter's box, at a readable height
            assert tag["height"] >= 16 and tag_filter["top"] <= tag["top"] and tag["bottom"] <= tag_filter["bottom"]
        assert tag_filter["height"] > 30, tag_filter
        assert Select(driver.find_element(By.ID, "bulk-action")).first_selected_option.get_attribute("value") == ""
        clean(driver, "library")
        element_screenshot(driver, "form.filters", "library-filters")

        # the file page: the detected language in words; the merge form starts unchosen and refuses so
        driver.get(f"{base}/files/{file_uuid}")
        assert css(driver, "[data-role=language]") == "Language: German (detected)"
        for select in ("merge-source", "merge-target"):
            chosen = Select(driver.find_element(By.ID, select)).first_selected_option
            assert (chosen.get_attribute("value"), chosen.text) == ("", "choose a speaker…")
        clean(driver, "file")

        # a summary without a language model: words and a way to Settings, not the API's field
        driver.find_element(By.CSS_SELECTOR, "[data-action=summarise]").click()
        problem = wait(
            driver, lambda d: (p := d.find_element(By.ID, "summary-problem")).is_displayed() and p, what="the words"
        )
        assert problem.text.startswith("Summaries are written by a language model (LLM), and none is set up")
        assert "llm_config" not in problem.text and "activate one or name it" not in problem.text
        link = problem.find_element(By.TAG_NAME, "a")
        assert (link.text, link.get_attribute("href")) == ("Settings", f"{base}/settings#llm")
        console_errors(driver)  # Chromium logs the refused request (409) as a failed resource load
        assert serious_accessibility_violations(driver) == []

        merge = driver.find_element(By.CSS_SELECTOR, "form[action$='/speakers-merge'] button[type=submit]")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", merge)  # clear of the sticky player
        merge.click()
        wait(driver, lambda d: d.execute_script("return document.querySelector('h1').textContent") != NAME, what="no")
        assert "Speaker to merge: choose one from the list." in css(driver, "main")
        console_errors(driver)  # the refusal's 422, likewise
        with psycopg.connect(fresh_url) as conn:
            assert conn.execute("SELECT count(*) FROM speakers").fetchall() == [(2,)], "nothing merged"

        # a refused upload: the bar turns red and the reason is written next to it
        not_media = tmp_path / "notes.txt"
        not_media.write_text("Protokoll: Müller, 会議, مراجعة\n")
        driver.get(f"{base}/upload")
        driver.find_element(By.ID, "files").send_keys(str(not_media))
        driver.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
        state = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.failed .state"), what="415")[0]
        assert state.text.startswith("Not uploaded: "), state.text
        bar = driver.find_element(By.CSS_SELECTOR, "#uploads li.failed progress")
        assert bar.get_attribute("aria-invalid") == "true"
        assert bar.get_attribute("aria-label") == "Upload of notes.txt refused"
        colour = driver.execute_script("return getComputedStyle(arguments[0]).accentColor", bar)
        assert (bar.get_attribute("value"), colour) == ("1", "rgb(185, 28, 28)")  # full and --danger, never blue
        console_errors(driver)  # the 415 as a failed resource load
        element_screenshot(driver, "#uploads", "upload-refused")

        # the 404 page of a signed-in person
        driver.get(f"{base}/no-such-page/会議")
        assert css(driver, "h1") == "Not found"
        links = {a.text for a in driver.find_elements(By.CSS_SELECTOR, "main a, header a")}
        assert "Open your library" in links and not {"Sign in", "Register"} & links, links
        assert driver.find_element(By.CSS_SELECTOR, "form.signout").is_displayed()
        console_errors(driver)  # the 404 itself
        assert serious_accessibility_violations(driver) == []
