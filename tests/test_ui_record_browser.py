"""Recording in the browser, in a real headless Chromium with its fake microphone (a beep tone): Record, the timer
and the level meter move, Stop → the recording goes up like any chosen file (same route, same progress bar), named
"Recording <date> <time>.webm", stored as audio/webm, and a real `opentr worker` on the tiny Whisper model
processes it to completed with a duration of about the time recorded, and one notification says so. Without a
microphone permission, or without MediaRecorder, the page says what to do instead."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By

from config.settings import Settings
from repo import schema
from tests.browser_support import (
    FAKE_MICROPHONE,
    chromium,
    console_errors,
    element_screenshot,
    serious_accessibility_violations,
    wait,
)
from tests.fault_support import serve_app
from tests.fuzz_support import private_redis
from tests.test_ui_browser import register, running_worker
from tests.workers_support import WorkerEnv

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

NAME = re.compile(r"^Recording \d{4}-\d{2}-\d{2} \d{2}-\d{2}\.webm$")


@pytest.fixture
def workers(fresh_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    with private_redis() as url:
        yield WorkerEnv(fresh_url, url, tmp_path / "home")


def settings_for(workers: WorkerEnv) -> Settings:
    return Settings(
        database_url=schema.to_url(workers.conninfo),
        redis_url=workers.redis_url,
        opentr_home=workers.home,
        db_pool_min=1,
        db_pool_max=4,
    )


def engine(model: Path) -> dict[str, str]:
    """The real engine on the tiny model, as tests/test_worker_transcription.py runs it."""
    return {
        "OPENTR_ASR_ENGINE": "faster-whisper",
        "OPENTR_ASR_MODEL": str(model),
        "OPENTR_ASR_DEVICE": "cpu",
        "OPENTR_ASR_BEAM_SIZE": "1",
        "OPENTR_ASR_VAD": "off",
        "OPENTR_ASR_TEMPERATURE_FALLBACK": "off",
        "HF_HUB_OFFLINE": "1",
    }


def clean(driver: WebDriver, name: str) -> None:
    assert console_errors(driver) == [], f"console errors on the {name} page"
    assert serious_accessibility_violations(driver) == [], f"accessibility violations on the {name} page"


def text(driver: WebDriver, selector: str) -> str:
    found: str = driver.find_element(By.CSS_SELECTOR, selector).text
    return found


def test_record_three_seconds_upload_and_process_it(workers: WorkerEnv, tiny_whisper_dir: Path, tmp_path: Path) -> None:
    with serve_app(settings_for(workers)) as served, chromium(FAKE_MICROPHONE) as driver:
        base = served.url
        register(driver, base)
        driver.get(f"{base}/upload")
        assert text(driver, "#recorder h2") == "Record in the browser"
        assert driver.find_element(By.ID, "record-stop").get_attribute("disabled") is not None
        clean(driver, "upload")

        driver.find_element(By.ID, "record-start").click()
        wait(driver, lambda d: text(d, "#record-time") == "0:01", what="the timer to count")
        wait(driver, lambda d: float(d.find_element(By.ID, "record-level").get_attribute("value")) > 0, what="a level")
        assert driver.find_element(By.ID, "record-start").get_attribute("disabled") is not None
        element_screenshot(driver, "#recorder", "upload-recording")
        wait(driver, lambda d: text(d, "#record-time") == "0:03", what="three seconds recorded")
        driver.find_element(By.ID, "record-stop").click()

        link = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.done a"), what="the upload")[0]
        name = text(driver, "#uploads li.done .name")
        assert NAME.match(name), name
        assert driver.find_element(By.CSS_SELECTOR, "#uploads progress").get_attribute("value") == "1"
        assert text(driver, "#record-message").startswith("Recorded 0:03; uploading “Recording ")
        assert driver.find_element(By.ID, "record-level").get_attribute("value") == "0", "the microphone is let go"
        clean(driver, "upload, after recording")
        file_url = link.get_attribute("href")
        [(stored_name, content_type)] = workers.query("SELECT filename, content_type FROM media_files")
        assert (stored_name, content_type) == (name, "audio/webm")

        driver.get(file_url)
        assert text(driver, "[data-role=badge]") in ("pending", "queued")
        live = 'import("/static/app.js").then(m => arguments[arguments.length - 1](m.live.open))'
        wait(driver, lambda d: d.execute_async_script(live), what="the live socket")
        driver.execute_script(KEEP_STEPS)
        with running_worker(workers, tmp_path / "worker.log", **engine(tiny_whisper_dir)):
            wait(
                driver,
                lambda d: text(d, "[data-role=badge]") == "completed",
                120,
                "the recording to be processed (the page reloads by itself)",
            )
            assert text(driver, "[data-role=language]") == "Language: English (detected)"  # the English-only model
            wait(driver, lambda d: text(d, "#unread-count") == "(1 new)", what="one notification, not one per step")
            steps = driver.execute_script("return JSON.parse(sessionStorage.getItem('steps') || '[]')")
    assert steps[:3] == ["Processing started", "Read the technical metadata", "Computed the waveform"], steps
    assert steps[-1] == "Computed analytics", f"each step shown live on the page, in order: {steps}"
    [(status, duration, codec)] = workers.query("SELECT status, duration, codec FROM media_files")
    assert (status, codec) == ("completed", "opus")
    assert 2.5 <= duration <= 6.0, f"about the 3 s recorded (a busy machine clicks Stop late): {duration}"
    assert workers.query("SELECT kind, title FROM notifications") == [("transcription", f"{name}: transcript ready")]


# The file page shows each step live (until it reloads, finished): keep what it showed, across the reload.
KEEP_STEPS = """
const step = document.querySelector('[data-role=step]');
new MutationObserver(() => {
  const seen = JSON.parse(sessionStorage.getItem('steps') || '[]');
  if (seen[seen.length - 1] !== step.textContent) seen.push(step.textContent);
  sessionStorage.setItem('steps', JSON.stringify(seen));
}).observe(step, {childList: true, characterData: true, subtree: true});
"""
REFUSE_MICROPHONE = """
navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""
NO_MEDIA_RECORDER = "delete window.MediaRecorder;"


def test_a_refused_microphone_and_a_browser_without_media_recorder_are_explained(workers: WorkerEnv) -> None:
    with serve_app(settings_for(workers)) as served, chromium(FAKE_MICROPHONE) as driver:
        register(driver, served.url)
        driver.get(f"{served.url}/upload")
        driver.execute_script(REFUSE_MICROPHONE)
        driver.find_element(By.ID, "record-start").click()
        wait(driver, lambda d: text(d, "#record-message").startswith("The microphone was refused."), what="refusal")
        assert "error" in (driver.find_element(By.ID, "record-message").get_attribute("class") or "")
        assert driver.find_element(By.ID, "record-start").get_attribute("disabled") is None, "it may be tried again"
        assert text(driver, "#uploads") == "", "nothing was uploaded"

        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": NO_MEDIA_RECORDER})
        driver.get(f"{served.url}/upload")
        wait(driver, lambda d: text(d, "#record-message") != "", what="the explanation")
        assert text(driver, "#record-message") == (
            "This browser cannot record audio (it has no MediaRecorder). Record with another app and upload the file."
        )
        assert driver.find_element(By.ID, "record-start").get_attribute("disabled") is not None
        clean(driver, "upload, without MediaRecorder")
    assert workers.query("SELECT count(*) FROM media_files") == [(0,)]
