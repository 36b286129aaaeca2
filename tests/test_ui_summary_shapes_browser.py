"""The file page's summaries in a real headless Chromium: a Markdown summary rendered with its markup and none of the
model's HTML, a JSON one as nested lists, a summary requested in a chosen language, then cancelled from the page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from config.settings import Settings
from repo import schema
from repo.llm_configs import LlmConfigRepository
from repo.rows import Actor
from repo.summaries import SummaryRepository
from tests import factories
from tests.browser_support import chromium, console_errors, serious_accessibility_violations, wait
from tests.fault_support import serve_app
from tests.fuzz_support import private_redis
from tests.test_ui_browser import register
from tests.workers_support import wav

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

MARKDOWN = (
    "## 決定事項\n\n- **12日**に出荷 🚀\n- مرحبا <img src=x onerror=\"document.title='owned'\">\n\n*Müller* agreed."
)


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


def arrange(conninfo: str, settings: Settings) -> str:
    """A transcribed file of the signed-in person with a Markdown and a JSON summary, and an active LLM."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        [(user_id,)] = conn.execute("SELECT id FROM users").fetchall()
        owner = Actor(user_id)
        relative = f"{user_id}/{os.urandom(8).hex()}"
        media = wav(3.0)
        (settings.storage_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (settings.storage_dir / relative).write_bytes(media)
        file_id, file_uuid = factories.media_file(
            conn,
            owner,
            status="completed",
            language="de",
            storage_path=relative,
            file_size=len(media),
            content_type="audio/wav",
            duration=3.0,
        )
        speaker = factories.speaker(conn, owner, file_id, "SPEAKER_00")
        factories.segments(conn, file_id, ["Guten Morgen, Frau Müller"], speaker)
        configs = LlmConfigRepository(conn, settings.secret_key())
        config = configs.create(owner, "Local", "openai", "m", base_url="http://127.0.0.1:9/v1")
        configs.activate(owner, config.uuid)
        summaries = SummaryRepository(conn)
        shaped = summaries.create_pending(owner, file_id, None, config.id, "openai", "m", "json", "de")
        summaries.start(shaped.id)
        content = {"owner": "Frau Müller", "decisions": ["<b>ship</b>", {"when": "الثاني عشر"}]}
        summaries.complete(shaped.id, None, None, [], [], [], [], "raw", 500, 45, 5, content=content)
        notes = summaries.create_pending(owner, file_id, None, config.id, "openai", "m", "markdown", "ja")
        summaries.start(notes.id)
        summaries.complete(notes.id, None, None, [], [], [], [], "raw", 100, 20, 5, markdown=MARKDOWN)
    return str(file_uuid)


def test_summaries_show_in_their_shapes_and_one_is_requested_in_a_language_then_cancelled(
    settings: Settings, fresh_url: str
) -> None:
    with serve_app(settings) as served, chromium() as driver:
        base = served.url
        register(driver, base)
        file_uuid = arrange(fresh_url, settings)
        driver.get(f"{base}/files/{file_uuid}")
        newest = driver.find_element(By.CSS_SELECTOR, "#summaries details.summary[open]")
        assert newest.find_element(By.CSS_SELECTOR, ".summary-markdown h4").text == "決定事項"
        assert newest.find_element(By.CSS_SELECTOR, ".summary-markdown li strong").text == "12日"
        assert "<img src=x" in newest.find_element(By.CSS_SELECTOR, ".summary-markdown").text  # shown as text
        assert driver.find_elements(By.CSS_SELECTOR, ".summary-markdown img") == []
        assert driver.title != "owned" and "Japanese" in newest.find_element(By.TAG_NAME, "summary").text
        assert "Tokens: 100 in, 20 out" in newest.text
        older = driver.find_elements(By.CSS_SELECTOR, "#summaries details.summary")[1]
        older.find_element(By.TAG_NAME, "summary").click()
        terms = [dt.text for dt in older.find_elements(By.CSS_SELECTOR, "dl.summary-content dt")]
        assert terms[:2] == ["owner", "decisions"] and "<b>ship</b>" in older.text and "الثاني عشر" in older.text
        assert console_errors(driver) == []
        assert serious_accessibility_violations(driver) == []

        Select(driver.find_element(By.ID, "summary-language")).select_by_value("ar")
        driver.find_element(By.CSS_SELECTOR, "[data-action=summarise]").click()
        cancel = wait(
            driver, lambda d: d.find_elements(By.CSS_SELECTOR, "[data-action=cancel-summary]"), what="the request"
        )[0]
        heading = driver.find_element(By.CSS_SELECTOR, "#summaries details.summary[open] summary").text
        assert heading.startswith("Version 3 · pending") and "Arabic" in heading
        cancel.click()
        wait(
            driver,
            lambda d: d.find_element(By.CSS_SELECTOR, "#summaries details.summary[open] summary").text.startswith(
                "Version 3 · cancelled"
            ),
            what="the cancelled summary",
        )
        assert "Cancelled: nothing of it was kept." in driver.find_element(By.ID, "summaries").text
        with psycopg.connect(fresh_url) as conn:
            assert conn.execute(
                "SELECT version, status, language FROM file_summaries WHERE version = 3"
            ).fetchall() == [(3, "cancelled", "ar")]
