"""The file page's translations panel and its forms (web/ui/translations_panel.py, web/ui/translations.py), through
the app with a signed-in browser session, no browser."""

from __future__ import annotations

import html
from typing import Any

import psycopg
from redis import Redis
from rq import Queue

from jobs.queues import SUMMARIES
from tests.test_translations import SEGMENTS, new_config, transcribed, translated
from tests.web import actor_of, sign_up


def panel(page: str) -> str:
    start = page.index('<section id="translations"')
    return html.unescape(page[start : page.index("</section>", start)])


def test_the_panel_shows_a_translation_side_by_side_and_its_exports(client: Any, fresh_url: str) -> None:
    csrf = {"X-CSRF-Token": sign_up(client)}
    file_id, file_uuid = transcribed(client, fresh_url, {})
    done = translated(fresh_url, actor_of(client, fresh_url, {}), file_id, new_config(client, csrf), "ja")

    shown = panel(client.get(f"/files/{file_uuid}").text)

    assert "<h3>Japanese " in shown and "completed · current" in shown
    assert '<option value="ja">Japanese</option>' in shown and '<option value="ar">Arabic</option>' in shown
    for fmt in ("srt", "vtt", "txt"):
        assert f'href="/api/translations/{done}/export?format={fmt}"' in shown
    for start, _end, _who, original, translation in SEGMENTS:
        assert f'data-seek="{start}"' in shown  # the times seek the player
        assert original in shown and translation in shown
    assert "edited since" not in shown
    assert client.get(f"/api/translations/{done}/export?format=srt").text.startswith("1\n00:00:01,500 --> ")


def test_a_translation_is_requested_from_the_page_and_redone_after_an_edit(client: Any, fresh_url: str) -> None:
    csrf = sign_up(client)
    file_id, file_uuid = transcribed(client, fresh_url, {})
    config = new_config(client, {"X-CSRF-Token": csrf})
    done = translated(fresh_url, actor_of(client, fresh_url, {}), file_id, config, "ar")

    asked = client.post(
        f"/files/{file_uuid}/translations", data={"csrf": csrf, "language": "de"}, follow_redirects=False
    )

    assert asked.status_code == 303 and asked.headers["location"] == f"/files/{file_uuid}#translations"
    listed = client.get(f"/api/files/{file_uuid}/translations").json()
    assert [(t["language"], t["status"]) for t in listed] == [("de", "pending"), ("ar", "completed")]
    assert (
        listed[0]["task_id"] in Queue(SUMMARIES, connection=Redis.from_url(client.app.state.services.redis_url)).job_ids
    )
    shown = panel(client.get(f"/files/{file_uuid}").text)
    assert f'action="/files/{file_uuid}/translations/{listed[0]["uuid"]}/cancel"' in shown  # while it runs
    assert "The transcript was edited since" not in shown

    segment = client.get(f"/api/files/{file_uuid}/transcript").json()[0]["uuid"]
    client.post(f"/files/{file_uuid}/segments/{segment}", data={"csrf": csrf, "text": "Let us begin."})
    shown = panel(client.get(f"/files/{file_uuid}").text)
    assert "The transcript was edited since this translation was made. Translate it again:" in shown
    redone = client.post(f"/files/{file_uuid}/translations/{done}/redo", data={"csrf": csrf}, follow_redirects=False)
    assert redone.status_code == 303
    languages = [(t["language"], t["status"]) for t in client.get(f"/api/files/{file_uuid}/translations").json()]
    assert languages == [("ar", "pending"), ("de", "pending"), ("ar", "completed")]

    cancelled = client.post(
        f"/files/{file_uuid}/translations/{listed[0]['uuid']}/cancel", data={"csrf": csrf}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    assert client.get(f"/api/llm-runs/{listed[0]['uuid']}").json()["status"] == "cancelled"
    deleted = client.post(f"/files/{file_uuid}/translations/{done}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert deleted.status_code == 303
    assert client.get(f"/api/translations/{done}").status_code == 404


def test_a_language_not_on_the_list_is_refused_saying_so(client: Any, fresh_url: str) -> None:
    csrf = sign_up(client)
    _, file_uuid = transcribed(client, fresh_url, {})
    new_config(client, {"X-CSRF-Token": csrf})

    refused = client.post(f"/files/{file_uuid}/translations", data={"csrf": csrf, "language": "klingon"})

    assert refused.status_code == 422
    assert "Language: choose one from the list" in html.unescape(refused.text)
    assert client.get(f"/api/files/{file_uuid}/translations").json() == []
    with psycopg.connect(fresh_url) as conn:
        assert conn.execute("SELECT count(*) FROM llm_runs").fetchall() == [(0,)]
