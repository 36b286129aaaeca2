"""Uploading in a real headless Chromium: the page says no speech model is set up before anyone uploads; a file named
in Japanese with an emoji and an umlaut arrives with exactly that name; the same recording again links to the file
already there; a transcript file attached on the file page queues the file again. No worker runs here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By

from config.settings import Settings
from repo import schema
from tests.browser_support import chromium, console_errors, serious_accessibility_violations, wait
from tests.fault_support import serve_app
from tests.fuzz_support import private_redis
from tests.workers_support import srt, wav

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

NAME = "会議の記録 🎙️ Müller.wav"
PASSWORD = "correct horse battery 9"


@pytest.fixture
def redis() -> Iterator[str]:
    with private_redis() as url:
        yield url


def clean(driver: WebDriver, name: str) -> None:
    assert console_errors(driver) == [], f"console errors on the {name} page"
    assert serious_accessibility_violations(driver) == [], f"accessibility violations on the {name} page"


def test_upload_names_duplicates_and_attaching_in_a_browser(
    fresh_url: str, redis: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    media = tmp_path / NAME
    media.write_bytes(wav(2.0))
    copy = tmp_path / "copy.wav"
    copy.write_bytes(media.read_bytes())
    sidecar = tmp_path / "会議.srt"
    sidecar.write_bytes(srt([(0.0, 1.5, "SPEAKER_00", "Guten Morgen")]))
    settings = Settings(
        database_url=schema.to_url(fresh_url), redis_url=redis, opentr_home=tmp_path / "home", db_pool_max=4
    )
    with serve_app(settings) as served, chromium() as driver:
        base = served.url
        driver.get(f"{base}/register")
        for field, value in (("full_name", "Aiko"), ("email", "aiko@example.com")):
            driver.find_element(By.ID, field).send_keys(value)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "password_again").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
        wait(driver, lambda d: d.current_url == f"{base}/", what="the library after registering")

        driver.get(f"{base}/upload")
        notice = driver.find_element(By.ID, "no-speech-model")
        assert notice.find_element(By.TAG_NAME, "h2").text == "Transcription cannot run on this server yet"
        assert len(notice.find_elements(By.CSS_SELECTOR, "li")) == 3
        clean(driver, "upload")

        driver.find_element(By.ID, "files").send_keys(str(media))
        driver.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
        link = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.done a"), what="the upload")[0]
        file_url = link.get_attribute("href")
        assert driver.find_element(By.CSS_SELECTOR, "#uploads li.done .name").text == NAME
        with psycopg.connect(fresh_url) as conn:
            assert conn.execute("SELECT filename, content_type FROM media_files").fetchall() == [(NAME, "audio/wav")]

        # the same recording under another name: refused, with a way to the file already there
        driver.find_element(By.ID, "files").send_keys(str(copy))
        driver.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
        state = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.failed .state"), what="409")[0]
        assert state.text.startswith(f"Not uploaded: This file was already uploaded as “{NAME}” (")
        existing = state.find_element(By.TAG_NAME, "a")
        assert existing.text == "Open the file already uploaded" and existing.get_attribute("href") == file_url
        console_errors(driver)  # Chromium logs the 409 as a failed resource load

        driver.get(f"{base}/")
        assert NAME in driver.find_element(By.CSS_SELECTOR, "li.file").text

        # the file failed (no model): a transcript file attached on its page queues it again
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            conn.execute("UPDATE media_files SET status = 'error', last_error_message = 'no speech model'")
        driver.get(file_url)
        assert driver.find_element(By.TAG_NAME, "h1").text == NAME
        clean(driver, "file")
        driver.find_element(By.ID, "transcript-file").send_keys(str(sidecar))
        driver.execute_script("window.notReloaded = true")
        driver.find_element(By.CSS_SELECTOR, "#attach-transcript button[type=submit]").click()
        wait(
            driver,
            lambda d: d.execute_script("return !window.notReloaded && document.readyState === 'complete'"),
            what="the page reloaded",
        )
        assert driver.find_element(By.CSS_SELECTOR, "[data-role=badge]").text == "queued"
        with psycopg.connect(fresh_url) as conn:
            assert conn.execute("SELECT status FROM media_files").fetchall() == [("queued",)]
        stored = list((tmp_path / "home" / "storage").rglob("*.transcript"))
        assert [p.read_bytes() for p in stored] == [sidecar.read_bytes()]
