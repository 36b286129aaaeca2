"""Asking in a real headless Chromium, against a real uvicorn on a database with pgvector, the tiny embedding model and
a stand-in LLM on loopback: on the file page the answer streams in (its first piece shows while the model is still
held back), then its citation links to the moment it cites, which opens the file there; the Ask page keeps the
question, and deletes it. No console error, no serious accessibility violation.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from selenium.webdriver.common.by import By

from config.settings import Settings
from embeddings.models import load_encoder, model_name
from repo import schema
from tests import factories
from tests.browser_support import chromium, wait
from tests.fault_support import serve_app
from tests.llm_servers import Reply, openai_stream, serving
from tests.test_ui_browser import css, page_is_clean, register
from tests.test_ui_public_links_browser import a_file_with_media

pytestmark = pytest.mark.renders_pages  # page rendering in a browser: the same on every server kind (see conftest)

PASSAGES = ["Guten Morgen, willkommen", "こんにちは皆さん"]
QUESTION = "Wie begrüßte man sich? 挨拶は\uff1f"


def test_an_answer_streams_in_and_its_citation_opens_the_moment(
    vector_url: str, redis_url: str, tmp_path: Path, tiny_embedding_dir: Path
) -> None:
    settings = Settings(
        database_url=schema.to_url(vector_url),
        redis_url=redis_url,
        opentr_home=tmp_path / "home",
        db_pool_min=1,
        db_pool_max=4,
        opentr_embedding_model=str(tiny_embedding_dir),
    )
    pieces = ("Man begrüßte sich ", "auf Deutsch und Japanisch [1][2]. 🎙️")
    with (
        serving() as start,
        serve_app(settings) as served,
        chromium() as driver,
    ):
        llm = start(lambda _: Reply(events=openai_stream(*pieces), stall_after=2, sleep=30))
        base = served.url
        register(driver, base)
        file_uuid = a_file_with_media(settings, vector_url, "robin@example.com")
        vectors = load_encoder(settings).passages(PASSAGES)
        with psycopg.connect(vector_url, autocommit=True) as conn:
            row = conn.execute("SELECT m.id, m.user_id FROM media_files m WHERE m.uuid = %s", [file_uuid]).fetchone()
            assert row is not None
            for i, (text, vector) in enumerate(zip(PASSAGES, vectors, strict=True)):
                factories.passage(conn, row[0], i, 3.0 * i, 3.0 * i + 3, text, vector, model_name(settings))
            conn.execute(
                "INSERT INTO user_llm_configurations (user_id, name, provider, model_name, base_url, is_active) "
                "VALUES (%s, 'Stand-in', 'custom', 'stand-in', %s, true)",
                [row[1], f"{llm.url}/v1"],
            )

        driver.get(f"{base}/files/{file_uuid}")
        css(driver, "#ask-question").send_keys(QUESTION)
        css(driver, "form.ask-form button[type=submit]").click()
        answer = '[data-role="answer-text"]'
        wait(driver, lambda d: css(d, answer).text == pieces[0].strip(), what="the first piece of the answer")
        assert driver.find_elements(By.CSS_SELECTOR, '[data-role="citations"] li') == [], "not done yet"
        llm.released.set()  # the model goes on
        wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-role="citations"] li')) == 2, what="done")
        assert css(driver, answer).text == "".join(pieces).strip()
        links = driver.find_elements(By.CSS_SELECTOR, f"{answer} a")
        assert [link.text for link in links] == ["1", "2"]
        hrefs = {link.get_attribute("href") for link in links}
        assert hrefs == {f"{base}/files/{file_uuid}?t=0", f"{base}/files/{file_uuid}?t=3"}
        page_is_clean(driver, "file (asked)")
        target = next(link for link in links if str(link.get_attribute("href")).endswith("?t=3"))
        target.click()
        wait(driver, lambda d: d.current_url == f"{base}/files/{file_uuid}?t=3", what="the cited moment")
        assert css(driver, "#file").get_attribute("data-start") == "3.0"

        driver.get(f"{base}/ask")
        assert QUESTION in css(driver, "section.questions").text
        page_is_clean(driver, "ask")
        css(driver, "article.question form button[type=submit]").click()
        wait(driver, lambda d: "No questions yet." in css(d, "section.questions").text, what="the question deleted")
