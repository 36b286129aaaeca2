"""The web interface in a real headless Chromium, against a real uvicorn and a real `opentr worker`.

register → upload a WAV with a transcript file and a speaker-count hint (a URL import of this machine is refused
with a sentence) → the status becomes completed without reloading → tag it with a bulk action, filter the library
by that tag → open the file: the analytics table →
play: the highlighted segment follows currentTime → click a later segment: currentTime jumps there → edit a
segment's text and rename a speaker, reload: both persisted → search a word, open the hit: the player is at the
hit's time → every other page → sign out: the file page redirects to sign in. Every page is checked for console
errors and axe-core's serious/critical accessibility violations; library, file and search pages are photographed
at desktop and phone width into the screenshot folder (printed at the end).

The upload page's import from a URL has its own test (a second worker and server).

CSRF refusals and another user's file page are covered without a browser in tests/test_web_sessions.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from config.settings import Settings
from repo import schema
from tests.browser_support import (
    DESKTOP,
    PHONE,
    SCREENSHOTS,
    chromium,
    console_errors,
    screenshot,
    serious_accessibility_violations,
    wait,
)
from tests.fault_support import serve_app
from tests.fuzz_support import private_redis as private_redis_server
from tests.workers_support import WorkerEnv, pcm_wav, srt

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

PASSWORD = "correct horse battery 9"
CUES = [
    (0.0, 1.5, "SPEAKER_00", "Welcome to the planning meeting"),
    (1.5, 4.0, "SPEAKER_01", "We are discussing the budgets today"),
    (4.0, 6.0, "SPEAKER_00", "Let us begin"),
]


def speech_like_wav(seconds: float, rate: int = 8000) -> bytes:
    """A tone whose loudness rises and falls like speech, quiet at the turns: the waveform has a shape."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = 0.15 + 0.6 * np.abs(np.sin(t * 2.3) * np.sin(t * 7.1))
    envelope = np.where((np.abs(t - 1.5) < 0.12) | (np.abs(t - 4.0) < 0.12), 0.02, envelope)
    return pcm_wav(envelope * np.sin(2 * np.pi * 220 * t), rate)


FITS_WIDTH = "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
PLAYER_STATE = """
const player = document.getElementById('player');
const current = document.querySelector('#transcript li.segment.current');
return {time: player.currentTime, paused: player.paused,
        start: current ? Number(current.dataset.start) : null, end: current ? Number(current.dataset.end) : null};
"""


@pytest.fixture
def private_redis() -> Iterator[str]:
    with private_redis_server() as url:
        yield url


@pytest.fixture
def workers(fresh_url: str, private_redis: str, tmp_path: Path) -> WorkerEnv:
    return WorkerEnv(fresh_url, private_redis, tmp_path / "home")


@contextlib.contextmanager
def running_worker(workers: WorkerEnv, log: Path, **env: str) -> Iterator[subprocess.Popen[str]]:
    worker = workers.serve(log, **env)
    try:
        yield worker
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)


def page_is_clean(driver: WebDriver, name: str) -> None:
    """No console errors since the last check, and no serious or critical accessibility violations."""
    assert console_errors(driver) == [], f"console errors on the {name} page"
    assert serious_accessibility_violations(driver) == [], f"accessibility violations on the {name} page"


def css(driver: WebDriver, selector: str) -> Any:
    return driver.find_element(By.CSS_SELECTOR, selector)


def press(driver: WebDriver, key: str) -> None:
    ActionChains(driver).send_keys(key).perform()


def player_state(driver: WebDriver) -> dict[str, Any]:
    state: dict[str, Any] = driver.execute_script(PLAYER_STATE)
    return state


def submit(driver: WebDriver, form_selector: str) -> None:
    css(driver, f"{form_selector} button[type=submit]").click()


def register(driver: WebDriver, base: str) -> None:
    driver.get(f"{base}/register")
    page_is_clean(driver, "register")
    css(driver, "#full_name").send_keys("Robin")
    css(driver, "#email").send_keys("robin@example.com")
    css(driver, "#password").send_keys(PASSWORD)
    css(driver, "#password_again").send_keys(PASSWORD)
    submit(driver, "main form")
    wait(driver, lambda d: d.current_url == f"{base}/", what="the library after registering")


def test_the_whole_journey_in_a_real_browser(workers: WorkerEnv, fresh_url: str, tmp_path: Path) -> None:
    media, sidecar = tmp_path / "planning.wav", tmp_path / "planning.srt"
    media.write_bytes(speech_like_wav(6.0))
    sidecar.write_bytes(srt(CUES))
    settings = Settings(
        database_url=schema.to_url(fresh_url),
        redis_url=workers.redis_url,
        opentr_home=workers.home,
        db_pool_min=1,
        db_pool_max=4,
    )
    with serve_app(settings) as served, chromium() as driver, contextlib.ExitStack() as stack:
        base = served.url

        register(driver, base)
        assert "Nothing here yet" in css(driver, "main").text
        page_is_clean(driver, "empty library")

        # upload a WAV with its transcript file; the page shows the upload's progress and a link
        driver.get(f"{base}/upload")
        page_is_clean(driver, "upload")
        css(driver, "#files").send_keys(str(media))
        css(driver, "#transcript").send_keys(str(sidecar))
        css(driver, "#choices summary").click()  # the processing choices are folded away
        Select(css(driver, "#language")).select_by_value("en")
        css(driver, "#num_speakers").send_keys("2")
        submit(driver, "#upload-form")
        link = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.done a"), what="the upload")[0]
        assert css(driver, "#uploads progress").get_attribute("value") == "1"
        file_url = link.get_attribute("href")
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            assert conn.execute("SELECT num_speakers, min_speakers FROM media_files").fetchall() == [(2, None)]
        page_is_clean(driver, "upload, after uploading")
        # the same recording again: a sentence saying why, not JSON
        css(driver, "#files").send_keys(str(media))
        submit(driver, "#upload-form")
        failed = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.failed .state"), what="refusal")
        assert failed[0].text.startswith("Not uploaded: This file was already uploaded as "), failed[0].text
        assert "{" not in failed[0].text
        console_errors(driver)  # the refused upload's 409 is logged by Chromium as a failed resource load
        # an import from an address of this machine: the server's guard refuses it, and the page says so
        css(driver, "#url").send_keys("http://127.0.0.1:9/talk.wav")
        submit(driver, "#url-form")
        failed = wait(
            driver,
            lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.failed .state")[1:],
            what="the refused import",
        )
        assert failed[0].text.startswith("Not imported: Url: "), failed[0].text
        console_errors(driver)  # the refused import's 422, likewise

        # the library: queued; a worker starts; the badge turns completed without a reload
        driver.get(f"{base}/")
        assert css(driver, "li.file [data-role=badge]").text in ("pending", "queued")
        driver.execute_script("window.notReloaded = true")
        live = 'import("/static/app.js").then(m => arguments[arguments.length - 1](m.live.open))'
        wait(driver, lambda d: d.execute_async_script(live), what="the live notification socket")
        stack.enter_context(running_worker(workers, tmp_path / "worker.log"))
        wait(
            driver,
            lambda d: css(d, "li.file [data-role=badge]").text == "completed",
            90,
            "the status to become completed",
        )
        assert driver.execute_script("return window.notReloaded === true")
        assert not css(driver, "li.file progress").is_displayed()
        wait(driver, lambda d: css(d, "li.file [data-role=duration]").text == "0:06", what="the duration")
        page_is_clean(driver, "library")
        # a bulk action on the ticked rows: the tag appears after the page reloads, with a sentence saying so
        css(driver, "li.file input.pick").click()
        wait(driver, lambda d: css(d, "#bulk-count").text == "1 file selected.", what="the selection count")
        submit(driver, "#bulk")  # no action chosen yet: the list starts on none, and says so
        wait(driver, lambda d: css(d, "#toast").text == "Choose what to do with the selected files first.")
        Select(css(driver, "#bulk-action")).select_by_value("add_tag")
        css(driver, "#bulk-tag").send_keys("planning")
        submit(driver, "#bulk")
        wait(driver, lambda d: [t.text for t in d.find_elements(By.CSS_SELECTOR, "li.file a.tag")] == ["planning"])
        assert css(driver, "#toast").text == "Done: 1 changed."
        css(driver, "li.file input.pick").click()  # and its transcript as a zip (POST /api/files/export)
        Select(css(driver, "#bulk-action")).select_by_value("export")
        submit(driver, "#bulk")
        wait(driver, lambda d: css(d, "#toast").text == "Downloading 1 transcript.", what="the zip download")
        # the library's filters: a tag chosen in the form narrows the list to the files carrying it
        css(driver, "#f-tags input[value=planning]").click()
        submit(driver, "form.filters")
        wait(driver, lambda d: "tags=planning" in d.current_url, what="the filtered library")
        assert len(driver.find_elements(By.CSS_SELECTOR, "li.file")) == 1
        page_is_clean(driver, "library, filtered")
        shots = [screenshot(driver, "library", size) for size in (DESKTOP, PHONE)]

        # the file page: play, and the highlighted segment follows currentTime
        css(driver, "li.file a.file-title").click()
        wait(driver, lambda d: d.current_url == file_url, what="the file page")
        segments = driver.find_elements(By.CSS_SELECTOR, "#transcript li.segment")
        assert [s.find_element(By.CSS_SELECTOR, ".text").text for s in segments] == [c[3] for c in CUES]
        talk = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#analytics tbody th")]
        assert talk == ["SPEAKER_00", "SPEAKER_01"]  # the analytics table, most talk time (3.5 s, 2.5 s) first
        page_is_clean(driver, "file")
        wait(driver, lambda d: d.execute_script("return document.getElementById('player').readyState >= 1"))
        assert player_state(driver)["start"] == 0.0  # before playing: the first segment
        driver.execute_script("document.getElementById('player').playbackRate = 0.5")  # slack for a busy machine
        press(driver, "k")
        state = wait(driver, lambda d: (s := player_state(d))["start"] == 1.5 and s, 20, "the second segment")
        assert not state["paused"] and 1.5 <= state["time"] < state["end"] + 0.25, state
        press(driver, "k")
        paused = wait(driver, lambda d: (s := player_state(d))["paused"] and s, what="pause")
        assert paused["start"] is not None and paused["start"] <= paused["time"] < paused["end"], paused

        # click a later segment: currentTime jumps there
        segments[2].find_element(By.CSS_SELECTOR, "button.seek").click()
        state = wait(driver, lambda d: (s := player_state(d))["start"] == 4.0 and s, what="the jump to 4 s")
        assert 4.0 <= state["time"] < 6.0, state
        if not state["paused"]:
            press(driver, "k")
        # the same from the keyboard: Enter on a segment's time button
        segments[1].find_element(By.CSS_SELECTOR, "button.seek").send_keys(Keys.ENTER)
        state = wait(driver, lambda d: (s := player_state(d))["start"] == 1.5 and s, what="the jump by keyboard")
        assert 1.5 <= state["time"] < 4.0, state
        press(driver, "k")  # Enter played from there: pause again
        wait(driver, lambda d: player_state(d)["paused"], what="pause")

        # edit the first segment's text (in place, through the API) and name its speaker (a form)
        first = segments[0]
        first.find_element(By.CSS_SELECTOR, "details.edit summary").click()
        text = first.find_element(By.CSS_SELECTOR, "textarea")
        text.clear()
        text.send_keys("Welcome to the strategy meeting")
        first.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        wait(driver, lambda d: css(d, "#toast").text == "Segment saved.", what="the segment to save")
        speaker = first.get_attribute("data-speaker")
        name = css(driver, f"#name-{speaker}")
        name.clear()
        name.send_keys("Alice")
        css(driver, f"#name-{speaker} ~ button[type=submit]").click()
        wait(driver, lambda d: d.current_url.endswith("#speakers"), what="the rename")
        driver.refresh()
        segments = driver.find_elements(By.CSS_SELECTOR, "#transcript li.segment")
        assert segments[0].find_element(By.CSS_SELECTOR, ".text").text == "Welcome to the strategy meeting"
        names = [s.find_element(By.CSS_SELECTOR, ".speaker").text for s in segments]
        assert names == ["Alice", "SPEAKER_01", "Alice"]
        page_is_clean(driver, "file, after editing")
        wait(driver, lambda d: d.execute_script("return document.getElementById('player').readyState >= 1"))
        driver.execute_script("document.getElementById('player').currentTime = 2.5")  # mid-way, for the picture
        wait(driver, lambda d: player_state(d)["start"] == 1.5, what="the highlight at 2.5 s")
        shots += [screenshot(driver, "file", size) for size in (DESKTOP, PHONE)]
        for size in (DESKTOP, PHONE):  # the side panels and the analytics table fit: no sideways scrolling
            driver.set_window_size(*size)
            assert driver.execute_script(FITS_WIDTH), f"the file page scrolls sideways at {size}"
        driver.set_window_size(*DESKTOP)

        # search a word, open the hit: the player is at the hit's time
        driver.get(f"{base}/search")
        css(driver, "#q").send_keys("budget")
        submit(driver, "form[role=search]")
        hit = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "a.hit"), what="a search hit")[0]
        assert hit.find_element(By.CSS_SELECTOR, "mark").text == "budgets"
        page_is_clean(driver, "search")
        shots += [screenshot(driver, "search", size) for size in (DESKTOP, PHONE)]
        css(driver, "a.hit").click()
        state = wait(driver, lambda d: (s := player_state(d))["start"] == 1.5 and s, what="the player at the hit")
        assert abs(state["time"] - 1.5) < 0.05 and state["paused"], state
        page_is_clean(driver, "file, opened from search")

        # the other pages render cleanly too
        for path in ("/collections", "/notifications", "/settings"):
            driver.get(f"{base}{path}")
            assert css(driver, "h1").is_displayed()
            page_is_clean(driver, path)
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            conn.execute("UPDATE users SET role = 'admin' WHERE email = 'robin@example.com'")
        driver.get(f"{base}/admin")
        assert "robin@example.com" in css(driver, "main").text
        page_is_clean(driver, "admin")

        # sign out: the file page now asks to sign in
        css(driver, "form.signout button").click()
        wait(driver, lambda d: d.current_url == f"{base}/signin", what="signing out")
        driver.get(file_url)
        assert driver.current_url.startswith(f"{base}/signin?next=%2Ffiles%2F")
        assert css(driver, "h1").text == "Sign in"
        page_is_clean(driver, "sign in")
    assert all(p.is_file() and p.stat().st_size > 10_000 and p.parent == SCREENSHOTS for p in shots)


def test_import_from_a_url_shows_its_progress_and_opens_the_file(
    workers: WorkerEnv, fresh_url: str, tmp_path: Path
) -> None:
    """The upload page's import form: the worker downloads from a web address (this machine's, allowed here) and
    the page follows the import until it links to the new file."""
    recording = speech_like_wav(2.0)

    async def media(request: Request) -> Response:
        return Response(recording, media_type="audio/wav")

    allowed = "127.0.0.1/32"
    settings = Settings(
        database_url=schema.to_url(fresh_url),
        redis_url=workers.redis_url,
        opentr_home=workers.home,
        opentr_allow_private_urls=allowed,
        db_pool_min=1,
        db_pool_max=4,
    )
    with (
        serve_app(settings, [Route("/fixture/interview.wav", media)]) as served,
        chromium() as driver,
        running_worker(workers, tmp_path / "worker.log", OPENTR_ALLOW_PRIVATE_URLS=allowed),
    ):
        register(driver, served.url)
        driver.get(f"{served.url}/upload")
        css(driver, "#url").send_keys(f"{served.url}/fixture/interview.wav")
        submit(driver, "#url-form")
        link = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.done a"), 60, "the import")[0]
        assert link.text == "imported; processing — open it"
        assert css(driver, "#uploads progress").get_attribute("value") == "1"
        page_is_clean(driver, "upload, after importing")
        file_uuid = link.get_attribute("href").rsplit("/", 1)[1]
    assert workers.query("SELECT filename, file_size FROM media_files WHERE uuid = %s", file_uuid) == [
        ("interview.wav", len(recording))
    ]
