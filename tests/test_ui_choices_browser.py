"""Processing choices in a real headless Chromium, against a real uvicorn and a real `opentr worker`: the upload
page keeps its Upload button in view at 1280x900 with the choices folded away; a recording uploaded with a language,
a vocabulary, a speaker count and diarization off is transcribed with them (a stand-in OpenAI-compatible speech
server records what it was asked) and its page shows them; re-running only the summary from the file page writes a
summary and leaves the transcript's segments as they were."""

from __future__ import annotations

import contextlib
import json
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
from tests.browser_support import chromium, wait
from tests.fault_support import serve_app, wait_until
from tests.fuzz_support import private_redis as private_redis_server
from tests.llm_servers import LocalServer, Reply, in_turn, openai_answer, serving
from tests.test_asr_remote import nested_words, upload_of
from tests.test_ui_browser import css, page_is_clean, register, running_worker, speech_like_wav, submit
from tests.test_worker_summaries import BLUF
from tests.workers_support import WorkerEnv

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

SPEECH_MODEL = "whisper-stand-in"
VOCABULARY = "Müller, 東京, 🚀"
IN_VIEW = "const r = arguments[0].getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight"


@pytest.fixture
def workers(fresh_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    with private_redis_server() as url:
        yield WorkerEnv(fresh_url, url, tmp_path / "home")


@pytest.fixture
def speech() -> Iterator[LocalServer]:
    with serving() as start:
        yield start(nested_words)


@pytest.fixture
def llm() -> Iterator[LocalServer]:
    with serving() as start:
        yield start(in_turn(Reply(body=openai_answer(json.dumps(BLUF)))))


def status_of(workers: WorkerEnv) -> str:
    [(status,)] = workers.query("SELECT status FROM media_files")
    return str(status)


def test_upload_with_choices_see_them_applied_and_rerun_only_the_summary(
    workers: WorkerEnv, speech: LocalServer, llm: LocalServer, fresh_url: str, tmp_path: Path
) -> None:
    media = tmp_path / "Besprechung.wav"
    media.write_bytes(speech_like_wav(3.0))
    engine = {"OPENTR_ASR_ENGINE": "openai", "OPENTR_ASR_REMOTE_URL": speech.url}
    settings = Settings(
        database_url=schema.to_url(fresh_url),
        redis_url=workers.redis_url,
        opentr_home=workers.home,
        db_pool_min=1,
        db_pool_max=4,
        opentr_asr_engine="openai",
        opentr_asr_remote_url=speech.url,
        opentr_asr_remote_model=SPEECH_MODEL,
    )
    with serve_app(settings) as served, chromium() as driver, contextlib.ExitStack() as stack:
        base = served.url
        register(driver, base)
        [(user_id,)] = workers.query("SELECT id FROM users")
        with psycopg.connect(fresh_url, autocommit=True) as conn:
            configs = LlmConfigRepository(conn, settings.secret_key())
            config = configs.create(Actor(user_id), "local", "openai", "chat-1", base_url=f"{llm.url}/v1", api_key="k")
            configs.activate(Actor(user_id), config.uuid)

        driver.get(f"{base}/upload")
        page_is_clean(driver, "upload")
        assert driver.execute_script(IN_VIEW, css(driver, "#upload-form button[type=submit]")), "Upload in view"
        css(driver, "#choices summary").click()
        page_is_clean(driver, "upload, choices open")
        assert [o.get_attribute("value") for o in Select(css(driver, "#model")).options] == ["", SPEECH_MODEL]
        Select(css(driver, "#model")).select_by_value(SPEECH_MODEL)
        Select(css(driver, "#language")).select_by_value("de")
        css(driver, "#vocabulary").send_keys(VOCABULARY)
        css(driver, "#num_speakers").send_keys("2")
        Select(css(driver, "#diarization")).select_by_value("false")
        css(driver, "#files").send_keys(str(media))
        submit(driver, "#upload-form")
        link = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.done a"), what="the upload")[0]
        file_url = link.get_attribute("href")

        stack.enter_context(running_worker(workers, tmp_path / "worker.log", **engine))
        wait_until(lambda: status_of(workers) == "completed", 120, "the transcription")
        (asked,) = speech.requests
        fields = upload_of(asked).fields
        assert (fields["model"], fields["language"], fields["prompt"]) == ([SPEECH_MODEL], ["de"], [VOCABULARY])

        driver.get(file_url)
        page_is_clean(driver, "file")
        shown = {
            item.get_attribute("data-choice"): item.text
            for item in driver.find_elements(By.CSS_SELECTOR, "#choices-list dd")
        }
        assert shown == {
            "model": SPEECH_MODEL,
            "language": "de",
            "task": "transcribe",
            "vocabulary": VOCABULARY,
            "speakers": "exactly 2",
            "diarization": "off",
            "summary": "on request",
        }
        segments = workers.query("SELECT id, text FROM transcript_segments ORDER BY id")
        assert segments

        Select(css(driver, "#rerun-stage")).select_by_value("summary")
        submit(driver, "#rerun-form")
        wait(driver, lambda d: d.current_url.endswith("#processing"), what="back on the file page")
        wait_until(lambda: workers.query("SELECT status FROM file_summaries") == [("completed",)], 120, "the summary")
        driver.get(file_url)
        assert BLUF["bluf"] in css(driver, "#summaries").text
        page_is_clean(driver, "file, summarised")
    assert workers.query("SELECT id, text FROM transcript_segments ORDER BY id") == segments
    assert len(speech.requests) == 1, "the speech engine was not asked again"
    assert len(llm.requests) == 1
