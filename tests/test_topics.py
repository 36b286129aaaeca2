"""A file's topics through the API (web/topics.py) over repo/topics.py: shown, never applied by the run itself,
accepted in one click (a tag, a collection made or reused), dismissed, idempotent; refused by role; found by the
library's `q` and `topic` filter. The runs here are written as a worker would complete them (the worker itself:
tests/test_worker_topics.py)."""

from __future__ import annotations

from typing import Any

import psycopg
from redis import Redis
from rq import Queue

from repo.llm_runs import LlmRunRepository
from repo.rows import Actor
from repo.topics import NewTopic, TopicRepository
from tests import factories
from tests.web import actor_of, register, sign_up

UNKNOWN = "00000000-0000-4000-8000-000000000000"
UNICODE = ["会議", "اجتماع", "🎉", "Größe"]


def topic(label: str, tag: str | None = None, collection: str | None = None, relevance: float = 0.5) -> NewTopic:
    return NewTopic(label, f"about {label}", relevance, [1.5, 30.0], tag, collection)


def new_file(fresh_url: str, owner: Actor, **columns: Any) -> str:
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        _, uuid = factories.media_file(conn, owner, status="completed", **columns)
    return str(uuid)


def completed_run(fresh_url: str, requester: Actor, file_uuid: str, topics: list[NewTopic]) -> str:
    """A topics run of `requester` on the file, completed with these topics as the worker completes one."""
    with psycopg.connect(fresh_url, autocommit=True) as conn, conn.transaction():
        config = conn.execute(
            "INSERT INTO user_llm_configurations (user_id, name, provider, model_name, base_url) "
            "VALUES (%s, %s, 'custom', 'stand-in', 'http://127.0.0.1:9') RETURNING id",
            [requester.id, f"c-{len(topics)}-{file_uuid[:8]}-{id(topics)}"],
        ).fetchone()
        assert config is not None
        file_id = conn.execute("SELECT id FROM media_files WHERE uuid = %s", [file_uuid]).fetchone()
        assert file_id is not None
        runs = LlmRunRepository(conn)
        run = runs.create(requester, "topics", file_id[0], config[0])
        runs.start(run.id)
        TopicRepository(conn).store(run.id, topics)
        runs.complete(run.id, '{"topics": []}')
    return str(run.uuid)


def topics_of(client: Any, headers: dict[str, str], file_uuid: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/files/{file_uuid}/topics", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["topics"]
    return items


def tags_of(client: Any, headers: dict[str, str], file_uuid: str) -> list[str]:
    tags: list[str] = client.get(f"/api/files/{file_uuid}", headers=headers).json()["tags"]
    return tags


def collections_of(client: Any, headers: dict[str, str]) -> dict[str, int]:
    return {c["name"]: c["file_count"] for c in client.get("/api/collections", headers=headers).json()}


def share(client: Any, headers: dict[str, str], file_uuid: str, other: dict[str, str], role: str) -> None:
    email = client.get("/api/users/me", headers=other).json()["email"]
    body = {"user_email": email, "role": role}
    assert client.post(f"/api/files/{file_uuid}/shares", headers=headers, json=body).status_code == 200


def test_topics_are_shown_most_relevant_first_and_nothing_is_applied_until_accepted(
    client: Any, fresh_url: str
) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    file_uuid = new_file(fresh_url, owner)
    run_uuid = completed_run(
        fresh_url,
        owner,
        file_uuid,
        [topic("Budget", "budget", "Finance", 0.9), topic("Hiring", "hiring", None, 0.4)],
    )

    response = client.get(f"/api/files/{file_uuid}/topics", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["run"]["uuid"] == run_uuid and body["run"]["status"] == "completed"
    assert [(t["label"], t["relevance"], t["proposed_tag"], t["proposed_collection"]) for t in body["topics"]] == [
        ("Budget", 0.9, "budget", "Finance"),
        ("Hiring", 0.4, "hiring", None),
    ]
    first = body["topics"][0]
    assert first["moments"] == [1.5, 30.0] and first["description"] == "about Budget"
    assert (first["tag_decision"], first["collection_decision"], first["run_uuid"]) == (None, None, run_uuid)
    # the run proposed; nothing is the file's until someone accepts
    assert tags_of(client, headers, file_uuid) == []
    assert collections_of(client, headers) == {}


def test_accepting_a_tag_adds_it_once_however_often_it_is_accepted(client: Any, fresh_url: str) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    file_uuid = new_file(fresh_url, owner)
    completed_run(fresh_url, owner, file_uuid, [topic("Budget", "budget-2027")])
    [budget] = topics_of(client, headers, file_uuid)

    for _ in range(2):
        accepted = client.post(f"/api/topics/{budget['uuid']}/accept-tag", headers=headers)
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["tag_decision"] == "accepted"
        assert accepted.json()["collection_decision"] is None
        assert tags_of(client, headers, file_uuid) == ["budget-2027"]
    assert topics_of(client, headers, file_uuid)[0]["tag_decision"] == "accepted"
    assert collections_of(client, headers) == {}  # the tag only


def test_accepting_a_collection_makes_it_once_then_reuses_it(client: Any, fresh_url: str) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    first_file, second_file = new_file(fresh_url, owner), new_file(fresh_url, owner)
    completed_run(fresh_url, owner, first_file, [topic("Planung", None, "Besprechungen 2027")])
    completed_run(fresh_url, owner, second_file, [topic("Roadmap", None, "besprechungen 2027")])
    [planning] = topics_of(client, headers, first_file)
    [roadmap] = topics_of(client, headers, second_file)

    for _ in range(2):
        made = client.post(f"/api/topics/{planning['uuid']}/accept-collection", headers=headers)
        assert made.status_code == 200, made.text
        assert made.json()["collection_decision"] == "accepted" and made.json()["tag_decision"] is None
        assert collections_of(client, headers) == {"Besprechungen 2027": 1}
    # the same name but for case: the collection there is, not a second one
    reused = client.post(f"/api/topics/{roadmap['uuid']}/accept-collection", headers=headers)
    assert reused.status_code == 200, reused.text
    assert collections_of(client, headers) == {"Besprechungen 2027": 2}
    for file_uuid in (first_file, second_file):
        detail = client.get(f"/api/files/{file_uuid}", headers=headers).json()
        assert [c["name"] for c in detail["collections"]] == ["Besprechungen 2027"]
    assert tags_of(client, headers, first_file) == []


def test_dismissing_closes_open_proposals_and_keeps_an_accepted_one(client: Any, fresh_url: str) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    file_uuid = new_file(fresh_url, owner)
    completed_run(fresh_url, owner, file_uuid, [topic("Budget", "budget", "Finanzen", 0.9), topic("Urlaub", "urlaub")])
    budget, holiday = topics_of(client, headers, file_uuid)

    assert client.post(f"/api/topics/{budget['uuid']}/accept-tag", headers=headers).status_code == 200
    for _ in range(2):
        dismissed = client.post(f"/api/topics/{budget['uuid']}/dismiss", headers=headers)
        assert dismissed.status_code == 200, dismissed.text
        assert (dismissed.json()["tag_decision"], dismissed.json()["collection_decision"]) == ("accepted", "dismissed")
    other = client.post(f"/api/topics/{holiday['uuid']}/dismiss", headers=headers)
    assert (other.json()["tag_decision"], other.json()["collection_decision"]) == ("dismissed", "dismissed")
    assert tags_of(client, headers, file_uuid) == ["budget"]
    assert collections_of(client, headers) == {}


def test_a_topic_without_a_proposal_says_which_is_missing(client: Any, fresh_url: str) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    file_uuid = new_file(fresh_url, owner)
    completed_run(fresh_url, owner, file_uuid, [topic("Nichts")])
    [nothing] = topics_of(client, headers, file_uuid)
    no_tag = client.post(f"/api/topics/{nothing['uuid']}/accept-tag", headers=headers)
    assert no_tag.status_code == 409 and no_tag.json()["field"] == "proposed_tag"
    no_collection = client.post(f"/api/topics/{nothing['uuid']}/accept-collection", headers=headers)
    assert no_collection.status_code == 409 and no_collection.json()["field"] == "proposed_collection"


def test_roles_viewer_403_stranger_404_and_only_the_owner_collects(client: Any, fresh_url: str) -> None:
    owner_headers = register(client)
    owner = actor_of(client, fresh_url, owner_headers)
    viewer, editor, stranger = register(client), register(client), register(client)
    file_uuid = new_file(fresh_url, owner)
    share(client, owner_headers, file_uuid, viewer, "viewer")
    share(client, owner_headers, file_uuid, editor, "editor")
    completed_run(fresh_url, owner, file_uuid, [topic("Budget", "budget", "Finanzen")])
    [budget] = topics_of(client, owner_headers, file_uuid)
    decisions = [f"/api/topics/{budget['uuid']}/{action}" for action in ("accept-tag", "accept-collection", "dismiss")]

    assert [t["label"] for t in topics_of(client, viewer, file_uuid)] == ["Budget"]  # a viewer reads them
    for path in decisions:
        assert client.post(path, headers=viewer).status_code == 403, path
        assert client.post(path, headers=stranger).status_code == 404, path
    assert client.get(f"/api/files/{file_uuid}/topics", headers=stranger).status_code == 404
    assert client.post(f"/api/files/{file_uuid}/topics", headers=viewer, json={}).status_code == 403
    assert client.post(f"/api/files/{file_uuid}/topics", headers=stranger, json={}).status_code == 404
    for unknown in (f"/api/topics/{UNKNOWN}/accept-tag", f"/api/topics/{UNKNOWN}/dismiss"):
        assert client.post(unknown, headers=owner_headers).status_code == 404

    # an editor accepts the tag; a collection holds its owner's files, so only the owner files it in one
    assert client.post(decisions[0], headers=editor).status_code == 200
    refused = client.post(decisions[1], headers=editor)
    assert refused.status_code == 409 and refused.json()["field"] == "collection", refused.text
    assert collections_of(client, editor) == {}
    assert tags_of(client, owner_headers, file_uuid) == ["budget"]
    assert topics_of(client, owner_headers, file_uuid)[0]["tag_decision"] == "accepted"


def test_unicode_labels_round_trip_and_become_tags_and_collections(client: Any, fresh_url: str) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    file_uuid = new_file(fresh_url, owner)
    completed_run(fresh_url, owner, file_uuid, [topic(label, label, f"{label} 📁") for label in UNICODE])
    topics = topics_of(client, headers, file_uuid)
    assert [t["label"] for t in topics] == UNICODE
    assert [t["proposed_collection"] for t in topics] == [f"{label} 📁" for label in UNICODE]
    for t in topics:
        assert client.post(f"/api/topics/{t['uuid']}/accept-tag", headers=headers).status_code == 200
        assert client.post(f"/api/topics/{t['uuid']}/accept-collection", headers=headers).status_code == 200
    assert sorted(tags_of(client, headers, file_uuid)) == sorted(UNICODE)
    assert collections_of(client, headers) == {f"{label} 📁": 1 for label in UNICODE}


def test_the_library_finds_files_by_topic_in_q_and_in_the_topic_filter(client: Any, fresh_url: str) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    meeting = new_file(fresh_url, owner, title="Aufnahme eins")
    other = new_file(fresh_url, owner, title="Aufnahme zwei")
    completed_run(fresh_url, owner, meeting, [topic(label) for label in UNICODE])
    completed_run(fresh_url, owner, other, [topic("Budget")])

    def found(**params: str) -> list[str]:
        response = client.get("/api/files", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [f["uuid"] for f in response.json()["items"]]

    assert found(q="اجتماع") == [meeting]
    assert found(q="議") == [meeting]  # a part of a label, as q matches titles
    assert found(q="budg") == [other]
    assert found(topic="größe") == [meeting]  # the whole label, case aside
    assert found(topic="BUDGET") == [other]
    assert found(topic="Größ") == []
    assert found(topic="🎉", q="Aufnahme") == [meeting]
    searched = client.get("/api/search", headers=headers, params={"q": "Aufnahme", "topic": "会議"})
    assert searched.status_code == 200, searched.text

    values = client.get("/api/files/filters", headers=headers).json()
    assert sorted((t["name"], t["file_count"]) for t in values["topics"]) == sorted(
        [(label, 1) for label in UNICODE] + [("Budget", 1)]
    )

    # a newer run's topics replace the earlier ones, for the file page and for the library alike
    completed_run(fresh_url, owner, other, [topic("Hiring")])
    assert [t["label"] for t in topics_of(client, headers, other)] == ["Hiring"]
    assert found(topic="Budget") == [] and found(q="hiring") == [other]


def test_requesting_topics_queues_a_run_with_the_language_asked_for(client: Any, fresh_url: str) -> None:
    headers = register(client)
    owner = actor_of(client, fresh_url, headers)
    file_uuid = new_file(fresh_url, owner)
    no_llm = client.post(f"/api/files/{file_uuid}/topics", headers=headers, json={})
    assert no_llm.status_code == 409 and no_llm.json()["field"] == "llm_config_uuid", no_llm.text
    body = {"name": "Local", "provider": "ollama", "model_name": "m", "base_url": "http://127.0.0.1:9"}
    config = client.post("/api/llm-configs", headers=headers, json=body).json()["uuid"]
    assert client.post(f"/api/llm-configs/{config}/activate", headers=headers).status_code == 200
    bad = client.post(f"/api/files/{file_uuid}/topics", headers=headers, json={"language": "xx"})
    assert bad.status_code == 422 and "language" in bad.text

    queued = client.post(f"/api/files/{file_uuid}/topics", headers=headers, json={"language": "ja"})
    assert queued.status_code == 202, queued.text
    run = queued.json()
    assert (run["kind"], run["status"], run["language"], run["model_name"]) == ("topics", "pending", "ja", "m")
    assert run["task_id"] in Queue("summaries", connection=Redis.from_url(client.app.state.services.redis_url)).job_ids
    shown = client.get(f"/api/files/{file_uuid}/topics", headers=headers).json()
    assert shown["run"]["uuid"] == run["uuid"] and shown["topics"] == []


def test_the_library_page_offers_topics_and_filters_by_one(client: Any, fresh_url: str) -> None:
    sign_up(client)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        row = conn.execute("SELECT id FROM users ORDER BY id DESC LIMIT 1").fetchone()
    assert row is not None
    owner = Actor(row[0])
    meeting = new_file(fresh_url, owner, title="Teamrunde")
    new_file(fresh_url, owner, title="Ohne Themen")
    completed_run(fresh_url, owner, meeting, [topic("Größe"), topic("会議")])

    page = client.get("/")
    assert page.status_code == 200
    assert '<option value="Größe" >Größe (1)</option>' in page.text and ">会議 (1)</option>" in page.text
    filtered = client.get("/", params={"topic": "größe"})
    assert filtered.status_code == 200
    assert "Teamrunde" in filtered.text and "Ohne Themen" not in filtered.text
    assert '<option value="Größe" selected>' in filtered.text  # the filter shown as chosen
    by_q = client.get("/", params={"q": "会"})
    assert "Teamrunde" in by_q.text and "Ohne Themen" not in by_q.text
