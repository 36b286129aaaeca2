"""The file page's "Who is speaking?" section (web/ui/speaker_names_panel.py, web/ui/speaker_names.py) through the
app with a signed-in browser session, no browser: the proposals with their evidence, and accepting, rejecting,
asking and cancelling with plain forms."""

from __future__ import annotations

import html
from typing import Any

import pytest

from repo.rows import Actor
from tests.test_speaker_names import proposed, share
from tests.web import actor_of, csrf_in, sign_up


@pytest.fixture
def signed_in(client: Any, fresh_url: str) -> tuple[str, Actor]:
    token = sign_up(client)
    return token, actor_of(client, fresh_url, {})


def section(page: str) -> str:
    start = page.index('<section id="speaker-names"')
    return html.unescape(page[start : page.index("</section>", start)])


def test_accept_and_reject_through_the_page(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    rec = proposed(fresh_url, owner, {"SPEAKER_01": [("Maria", 0.8), ("مريم", 0.3)], "SPEAKER_00": [("さくら", 0.55)]})
    maria, maryam = rec.proposals[("SPEAKER_01", "Maria")], rec.proposals[("SPEAKER_01", "مريم")]

    shown = section(client.get(f"/files/{rec.file_uuid}").text)
    assert "Who is speaking?" in shown
    assert "SPEAKER_01 may be <strong>Maria</strong> (80 %)" in shown
    assert "SPEAKER_01 may be <strong>مريم</strong> (30 %)" in shown
    assert "SPEAKER_00 may be <strong>さくら</strong> (55 %)" in shown
    assert "500 tokens in, 80 out" in shown
    # the evidence, with its time as a link that seeks the player (and, without a script, opens the page there)
    assert 'class="seek" data-seek="0.0"' in shown and "<q>Maria</q>" in shown
    assert f'href="/files/{rec.file_uuid}?t=0.0#seg-' in shown
    assert shown.count('value="accept"') == 3

    accepted = client.post(
        f"/files/{rec.file_uuid}/speaker-names/{maria}",
        data={"csrf": token, "action": "accept"},
        follow_redirects=False,
    )
    assert accepted.status_code == 303, accepted.text
    assert accepted.headers["location"] == f"/files/{rec.file_uuid}#speaker-names"
    page = client.get(f"/files/{rec.file_uuid}").text
    after = section(page)
    assert "named Maria" in after and '<span class="badge" data-role="decision">accepted</span>' in after
    assert '<span data-role="speaker-title">Maria</span>' in page  # the speaker card says the name now
    assert shown.count('value="accept"') - 1 == after.count('value="accept"')  # the other proposals stay open

    rejected = client.post(
        f"/files/{rec.file_uuid}/speaker-names/{maryam}",
        data={"csrf": token, "action": "reject"},
        follow_redirects=False,
    )
    assert rejected.status_code == 303
    after = section(client.get(f"/files/{rec.file_uuid}").text)
    assert after.count('data-role="decision">rejected</span>') == 1 and after.count('value="accept"') == 1
    # decided already: a page saying so, nothing changed
    again = client.post(f"/files/{rec.file_uuid}/speaker-names/{maryam}", data={"csrf": token, "action": "accept"})
    assert again.status_code == 409 and "rejected" in again.text
    without_csrf = client.post(
        f"/files/{rec.file_uuid}/speaker-names/{rec.proposals[('SPEAKER_00', 'さくら')]}", data={"action": "accept"}
    )
    assert without_csrf.status_code == 403
    speakers = client.get(f"/api/files/{rec.file_uuid}/speakers", headers={"X-CSRF-Token": token}).json()
    assert {s["label"]: s["display_name"] for s in speakers} == {"SPEAKER_00": "Alice", "SPEAKER_01": "Maria"}


def test_a_viewer_reads_the_proposals_without_buttons(client: Any, fresh_url: str) -> None:
    owner_token = sign_up(client)
    owner = actor_of(client, fresh_url, {})
    rec = proposed(fresh_url, owner, {"SPEAKER_01": [("Maria", 0.8)]})
    client.cookies.clear()
    token = sign_up(client)
    share(fresh_url, rec.file_uuid, actor_of(client, fresh_url, {}), "viewer")

    shown = section(client.get(f"/files/{rec.file_uuid}").text)

    assert "SPEAKER_01 may be <strong>Maria</strong> (80 %)" in shown
    assert 'value="accept"' not in shown and "Propose speaker names" not in shown
    refused = client.post(
        f"/files/{rec.file_uuid}/speaker-names/{rec.proposals[('SPEAKER_01', 'Maria')]}",
        data={"csrf": token, "action": "accept"},
    )
    assert refused.status_code == 403 and owner_token != token


def test_ask_for_names_then_cancel_through_the_page(client: Any, fresh_url: str, signed_in: Any) -> None:
    token, owner = signed_in
    rec = proposed(fresh_url, owner, {})
    page = client.get(f"/files/{rec.file_uuid}").text
    assert "Propose speaker names" in section(page) and "No names were found in what was said." in section(page)

    refused = client.post(f"/files/{rec.file_uuid}/speaker-names", data={"csrf": token})
    assert refused.status_code == 409 and "No active LLM configuration: add one in settings" in refused.text

    headers = {"X-CSRF-Token": csrf_in(page)}
    config = client.post(
        "/api/llm-configs",
        headers=headers,
        json={"name": "lokal", "provider": "custom", "model_name": "m", "base_url": "http://127.0.0.1:9"},
    )
    assert client.post(f"/api/llm-configs/{config.json()['uuid']}/activate", headers=headers).status_code == 200
    asked = client.post(f"/files/{rec.file_uuid}/speaker-names", data={"csrf": token}, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"] == f"/files/{rec.file_uuid}#speaker-names"
    running = section(client.get(f"/files/{rec.file_uuid}").text)
    assert "Looking for names (waiting for a worker)" in running and "Propose speaker names" not in running
    [run] = [
        r
        for r in client.get(f"/api/files/{rec.file_uuid}/llm-runs", headers=headers).json()
        if r["status"] == "pending"
    ]
    assert f'data-running="{run["uuid"]}"' in running

    cancelled = client.post(
        f"/files/{rec.file_uuid}/speaker-names/runs/{run['uuid']}/cancel", data={"csrf": token}, follow_redirects=False
    )
    assert cancelled.status_code == 303
    after = section(client.get(f"/files/{rec.file_uuid}").text)
    assert "The last request for names was cancelled." in after and "Propose speaker names" in after
    # the proposals of the earlier run are still shown
    assert "Proposals of an earlier request" in after
