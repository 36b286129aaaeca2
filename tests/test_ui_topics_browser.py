"""Topics on the file page in a real headless Chromium against a real uvicorn: the topics of a completed run are
shown with their moments (which seek the player), a proposed tag is accepted with one click (on the page and in the
API), a collection made from a proposal, another proposal dismissed; asking for topics shows the run waiting, and
cancelling it says so. No console error, no serious accessibility violation.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from selenium.webdriver.common.by import By

from config.settings import Settings
from repo.rows import Actor
from repo.topics import NewTopic
from tests.browser_support import chromium, element_screenshot, wait
from tests.fault_support import serve_app
from tests.test_topics import completed_run
from tests.test_ui_browser import css, page_is_clean, player_state, register
from tests.test_ui_public_links_browser import a_file_with_media

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

TOPICS = [
    NewTopic("会議の予定", "Wann das nächste Treffen ist 🎉", 0.9, [0.0, 3.0], "会議", "Besprechungen"),
    NewTopic("Begrüßung", "مرحبا بالجميع", 0.5, [3.0], "Größe", None),
]
FETCH_FILE = """
const done = arguments[arguments.length - 1];
fetch(`/api/files/${arguments[0]}`).then((r) => r.json()).then(done, (e) => done({error: String(e)}));
"""


def topic_item(driver: Any, label: str) -> Any:
    items = driver.find_elements(By.CSS_SELECTOR, "#topics li[data-topic]")
    return next(i for i in items if i.find_element(By.CSS_SELECTOR, '[data-role="topic-label"]').text == label)


def test_proposed_tags_are_accepted_in_the_browser(app_settings: Settings, fresh_url: str) -> None:
    with serve_app(app_settings) as served, chromium() as driver:
        base = served.url
        register(driver, base)
        file_uuid = a_file_with_media(app_settings, fresh_url, "robin@example.com")
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            row = conn.execute("SELECT id FROM users WHERE email = 'robin@example.com'").fetchone()
            assert row is not None
        robin = Actor(row[0])

        driver.get(f"{base}/files/{file_uuid}")
        assert "none is set up for you yet" in css(driver, '#topics [data-role="topics-no-llm"]').text
        assert "No topics yet." in css(driver, "#topics").text
        page_is_clean(driver, "file (no topics)")

        completed_run(fresh_url, robin, file_uuid, TOPICS)
        driver.get(f"{base}/files/{file_uuid}")
        labels = [e.text for e in driver.find_elements(By.CSS_SELECTOR, '#topics [data-role="topic-label"]')]
        assert labels == ["会議の予定", "Begrüßung"]
        meeting = topic_item(driver, "会議の予定")
        assert "Wann das nächste Treffen ist 🎉" in meeting.text
        assert [a.text for a in meeting.find_elements(By.CSS_SELECTOR, "a[data-seek]")] == ["0:00", "0:03"]
        assert "0 tokens in" in css(driver, '#topics [data-role="topics-cost"]').text
        assert css(driver, "#tags ul.tags").text == ""  # proposed, not applied
        page_is_clean(driver, "file (topics)")
        element_screenshot(driver, "#topics", "file-topics")

        # a moment seeks the player where it is, without leaving the page
        topic_item(driver, "Begrüßung").find_element(By.CSS_SELECTOR, "a[data-seek]").click()
        wait(driver, lambda d: abs(player_state(d)["time"] - 3.0) < 0.5, what="the player at the topic's moment")
        assert driver.current_url == f"{base}/files/{file_uuid}"

        # one click: the tag is the file's, on the page and in the API
        button = meeting.find_element(By.CSS_SELECTOR, '[data-role="accept-tag"]')
        assert button.text == "Add tag “会議”"
        button.click()
        wait(driver, lambda d: d.current_url == f"{base}/files/{file_uuid}#topics", what="back at the topics")
        assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#tags a.tag")] == ["会議"]
        assert "Tag “会議” is on this file" in topic_item(driver, "会議の予定").text
        detail = driver.execute_async_script(FETCH_FILE, file_uuid)
        assert detail["tags"] == ["会議"] and detail["collections"] == []
        page_is_clean(driver, "file (tag accepted)")

        topic_item(driver, "会議の予定").find_element(By.CSS_SELECTOR, '[data-role="accept-collection"]').click()
        wait(driver, lambda d: "In your collection “Besprechungen”" in topic_item(d, "会議の予定").text, what="filed")
        assert [c["name"] for c in driver.execute_async_script(FETCH_FILE, file_uuid)["collections"]] == [
            "Besprechungen"
        ]
        topic_item(driver, "Begrüßung").find_element(By.CSS_SELECTOR, '[data-role="dismiss"]').click()
        wait(
            driver,
            lambda d: not topic_item(d, "Begrüßung").find_elements(By.CSS_SELECTOR, "form"),
            what="the proposals dismissed",
        )
        assert driver.execute_async_script(FETCH_FILE, file_uuid)["tags"] == ["会議"]

        # asking again (a language model set up now): the run waits for a worker, and can be cancelled
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO user_llm_configurations (user_id, name, provider, model_name, base_url, is_active) "
                "VALUES (%s, 'Stand-in', 'custom', 'stand-in', 'http://127.0.0.1:9/v1', true)",
                [robin.id],
            )
        driver.get(f"{base}/files/{file_uuid}")
        css(driver, "#topics-form button[type=submit]").click()
        wait(driver, lambda d: "Waiting for a worker" in css(d, "#topics").text, what="the run pending")
        assert [e.text for e in driver.find_elements(By.CSS_SELECTOR, '#topics [data-role="topic-label"]')] == labels
        page_is_clean(driver, "file (topics pending)")
        css(driver, '#topics form[action*="/topics/cancel"] button').click()
        wait(driver, lambda d: "was cancelled; these are from an earlier one" in css(d, "#topics").text, what="stop")
