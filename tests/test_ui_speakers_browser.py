"""Speakers across recordings in a real headless Chromium, against a real uvicorn and a real `opentr worker` running
the tiny Whisper model and the tiny diarization models (tests/tiny_whisper.py, tests/tiny_diarization.py), whose
"voices" are two tones.

register → upload a dialogue of the two voices → on its page, name the speaker who talks last and tick "Remember
this voice" → upload a second, different recording of the same two voices → its page says who is speaking ("Recognised
as …", with the similarity) → reject that → process the file again: the rejection stays → the speakers page: the
profile with the files it is heard in and its talk time, its voice sample plays → create a second profile, merge it
into the first, rename the first, delete it. Every page is checked for console errors and accessibility violations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver import Chrome as WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select

from config.settings import Settings
from repo import schema
from tests.browser_support import DESKTOP, PHONE, chromium, screenshot, wait
from tests.fault_support import serve_app, wait_until
from tests.fuzz_support import private_redis as private_redis_server
from tests.test_ui_browser import css, page_is_clean, register, running_worker, submit
from tests.tiny_diarization import alternating
from tests.workers_support import WorkerEnv, pcm_wav

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

JAPANESE, ARABIC, EMOJI = "佐藤 花子", "مريم", "Zoë 🎧"
SAMPLE_STATE = """
const audio = document.querySelector('audio[data-role=sample]');
return {time: audio.currentTime, paused: audio.paused, error: audio.error && audio.error.code,
        src: audio.currentSrc, ready: audio.readyState};
"""
REPROCESS = """
const done = arguments[arguments.length - 1];
import("/static/app.js").then(m => m.api("POST", arguments[0])).then(() => done("ok"), e => done(String(e)));
"""


@pytest.fixture
def workers(fresh_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    """A Redis of this test's own, and the environment of its worker."""
    with private_redis_server() as redis_url:
        yield WorkerEnv(fresh_url, redis_url, tmp_path / "home")


@pytest.fixture
def engine(tiny_whisper_dir: Path, tiny_diarization_models: tuple[Path, Path]) -> dict[str, str]:
    """The real engine on the tiny model (as tests/test_worker_transcription.py runs it) and real diarization."""
    segmentation, embedding = tiny_diarization_models
    return {
        "OPENTR_ASR_ENGINE": "faster-whisper",
        "OPENTR_ASR_MODEL": str(tiny_whisper_dir),
        "OPENTR_ASR_DEVICE": "cpu",
        "OPENTR_ASR_BEAM_SIZE": "1",
        "OPENTR_ASR_VAD": "off",
        "OPENTR_ASR_TEMPERATURE_FALLBACK": "off",
        "HF_HUB_OFFLINE": "1",
        "OPENTR_DIARIZATION": "auto",
        "OPENTR_DIARIZATION_SEGMENTATION_MODEL": str(segmentation),
        "OPENTR_DIARIZATION_EMBEDDING_MODEL": str(embedding),
    }


def finished_runs(conninfo: str, file_url: str) -> int:
    """How many processing runs of the file have completed, with the file itself completed (0 until it is)."""
    file_uuid = file_url.rstrip("/").rsplit("/", 1)[1]
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT f.status, (SELECT count(*) FROM tasks t WHERE t.media_file_id = f.id AND t.status = 'completed'"
            " AND t.task_type = 'transcription')"
            " FROM media_files f WHERE f.uuid = %s",
            [file_uuid],
        ).fetchone()
    assert row is not None
    return int(row[1]) if row[0] == "completed" else 0


def upload(driver: WebDriver, base: str, media: Path) -> str:
    """Upload through the upload page; the address of the new file's page."""
    driver.get(f"{base}/upload")
    css(driver, "#files").send_keys(str(media))
    css(driver, "#choices summary").click()  # the processing choices are folded away
    Select(css(driver, "#language")).select_by_value("en")
    submit(driver, "#upload-form")
    links = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.done a"), what="the upload")
    href: str = links[-1].get_attribute("href")
    return href


def text_of(driver: WebDriver, selector: str) -> str:
    """The element's text, or "" while the page it was found on is being replaced by the next one."""
    try:
        text: str = css(driver, selector).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""
    return text


def cards(driver: WebDriver) -> dict[str, Any]:
    """The speaker cards of the file page by label."""
    found = {}
    for card in driver.find_elements(By.CSS_SELECTOR, "li.speaker-card"):
        title = card.find_element(By.CSS_SELECTOR, ".speaker-title").text
        found[title.split()[-1]] = card
    return found


def test_a_remembered_voice_is_recognised_in_the_next_recording_and_profiles_are_managed(
    workers: WorkerEnv, fresh_url: str, tmp_path: Path, engine: dict[str, str]
) -> None:
    first, second = tmp_path / "monday.wav", tmp_path / "tuesday.wav"
    first.write_bytes(pcm_wav(alternating(turns=6, seconds=3.0), 16_000))
    second.write_bytes(pcm_wav(alternating(turns=4, seconds=3.0), 16_000))  # the same voices, other bytes
    settings = Settings(
        database_url=schema.to_url(fresh_url),
        redis_url=workers.redis_url,
        opentr_home=workers.home,
        db_pool_min=1,
        db_pool_max=4,
    )
    with (
        serve_app(settings) as served,
        chromium() as driver,
        running_worker(workers, tmp_path / "worker.log", **engine),
    ):
        base = served.url
        register(driver, base)

        # the first recording: name a speaker and remember the voice
        monday = upload(driver, base, first)
        wait_until(lambda: finished_runs(fresh_url, monday) == 1, 180, "the first recording to be processed")
        driver.get(monday)
        # the voice that speaks last (the tiny model's segments lie at the end, and both recordings end with it)
        last = driver.find_elements(By.CSS_SELECTOR, "#transcript li.segment")[-1].get_attribute("data-speaker")
        card = css(driver, f"#speaker-{last}")
        label = card.find_element(By.CSS_SELECTOR, "[data-role=speaker-title]").text
        name = card.find_element(By.NAME, "display_name")
        name.clear()
        name.send_keys(JAPANESE)
        card.find_element(By.NAME, "remember").click()
        card.find_element(By.CSS_SELECTOR, "button[value=rename]").click()
        wait(driver, lambda d: d.current_url.endswith("#speakers"), what="the name to be saved")
        card = css(driver, f"#speaker-{last}")
        assert card.find_element(By.CSS_SELECTOR, "[data-role=speaker-title]").text == JAPANESE
        assert card.find_element(By.CSS_SELECTOR, "[data-role=profile] a").text == JAPANESE
        spoken = {s.text for s in driver.find_elements(By.CSS_SELECTOR, "#transcript .speaker")}
        assert JAPANESE in spoken and label not in spoken
        page_is_clean(driver, "file, after remembering a voice")

        # the second recording of the same voices: the page says who is speaking, with the similarity
        tuesday = upload(driver, base, second)
        wait_until(lambda: finished_runs(fresh_url, tuesday) == 1, 180, "the second recording to be processed")
        driver.get(tuesday)
        said = {
            label: [e.text for e in c.find_elements(By.CSS_SELECTOR, "[data-role=suggestion]")]
            for label, c in cards(driver).items()
        }
        recognised = [
            label for label, texts in said.items() if any(t.startswith(f"Recognised as {JAPANESE}") for t in texts)
        ]
        assert len(recognised) == 1, said
        suggestion = cards(driver)[recognised[0]].find_element(By.CSS_SELECTOR, "[data-role=suggestion]").text
        assert suggestion.startswith(f"Recognised as {JAPANESE} (") and suggestion.endswith("% similar)")
        page_is_clean(driver, "file, with a recognised speaker")
        for size in (DESKTOP, PHONE):
            screenshot(driver, "file-recognised", size)

        # not her after all: reject it in place; processing the file again does not bring it back
        cards(driver)[recognised[0]].find_element(By.CSS_SELECTOR, "button[value=reject]").click()
        wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-role=suggestion]"), what="the rejection")
        assert driver.execute_async_script(REPROCESS, f"/api/files/{tuesday.rsplit('/', 1)[1]}/reprocess") == "ok"
        wait_until(lambda: finished_runs(fresh_url, tuesday) == 2, 180, "the second recording to be processed again")
        driver.get(tuesday)
        assert recognised[0] in cards(driver)
        assert driver.find_elements(By.CSS_SELECTOR, "[data-role=suggestion]") == []
        assert driver.find_elements(By.CSS_SELECTOR, "#speakers [data-role=profile]") == []  # not linked either
        page_is_clean(driver, "file, processed again")

        # the speakers page: heard in one file, with its talk time; the sample plays
        css(driver, "nav a[href='/speakers']").click()
        wait(driver, lambda d: d.current_url == f"{base}/speakers", what="the speakers page")
        [profile] = driver.find_elements(By.CSS_SELECTOR, "li.profile")
        assert profile.find_element(By.CSS_SELECTOR, "[data-role=profile-name]").text == JAPANESE
        heard = profile.find_element(By.CSS_SELECTOR, "[data-role=heard]").text
        assert heard.startswith("Heard in 1 file,") and heard.endswith("talk time") and "0:00 talk" not in heard
        page_is_clean(driver, "speakers")
        for size in (DESKTOP, PHONE):
            screenshot(driver, "speakers", size)
        before = driver.execute_script(SAMPLE_STATE)
        assert before["paused"] and "#t=" in css(driver, "audio[data-role=sample]").get_attribute("src")
        driver.execute_script("document.querySelector('audio[data-role=sample]').play()")
        playing = wait(driver, lambda d: (s := d.execute_script(SAMPLE_STATE))["time"] > 0 and s, what="the sample")
        assert playing["error"] is None and playing["src"].startswith(f"{base}/api/files/"), playing
        page_is_clean(driver, "speakers, playing a sample")

        # a second profile, merged into the first; then the first renamed, and deleted
        css(driver, "#new-name").send_keys(EMOJI)
        submit(driver, "form[action='/speakers/new']")
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "li.profile")) == 2, what="the new profile")
        names = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "[data-role=profile-name]")]
        assert sorted(names) == sorted([JAPANESE, EMOJI])
        kept = next(p for p in driver.find_elements(By.CSS_SELECTOR, "li.profile") if JAPANESE in p.text)
        kept_id = kept.get_attribute("id")
        kept.find_element(By.CSS_SELECTOR, "details summary").click()
        Select(kept.find_element(By.CSS_SELECTOR, "form.merge select")).select_by_visible_text(EMOJI)
        kept.find_element(By.CSS_SELECTOR, "form.merge button").click()
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "li.profile")) == 1, what="the merge")
        assert css(driver, "[data-role=profile-name]").text == JAPANESE
        css(driver, f"#{kept_id} details summary").click()
        rename = css(driver, f"#{kept_id} input[name=name]")
        rename.clear()
        rename.send_keys(ARABIC)
        css(driver, f"#{kept_id} form[action$='/edit'] button").click()
        wait(driver, lambda d: text_of(d, "[data-role=profile-name]") == ARABIC, what="the rename")
        page_is_clean(driver, "speakers, after merging and renaming")
        driver.get(monday)  # the profile's new name is the one the speaker's card links to
        assert ARABIC in css(driver, "#speakers").text
        driver.get(f"{base}/speakers")
        css(driver, f"#{kept_id} details summary").click()
        css(driver, f"#{kept_id} form[action$='/delete'] button").click()
        wait(driver, lambda d: "No speaker profiles yet." in text_of(d, "main"), what="the deletion")
        page_is_clean(driver, "speakers, empty")
