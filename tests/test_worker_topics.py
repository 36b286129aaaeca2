"""Topics found by a real `opentr worker --burst` against a stand-in OpenAI-compatible server on 127.0.0.1 that
answers deterministically, and sometimes badly: the topics are stored (and nothing applied), an unusable answer is
repaired once, a second one fails the run quoting the model with nothing stored, a transcript longer than the
model's context is asked part by part and merged, and a run cancelled mid-request ends with nothing stored."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis

from jobs import llm_runs as run_jobs
from repo.collections import CollectionRepository
from repo.llm_configs import LlmConfig, LlmConfigRepository
from repo.llm_runs import LlmRun, LlmRunRepository, task_id_for
from repo.rows import Actor
from repo.tags import TagRepository
from tests import factories
from tests.llm_servers import LocalServer, Received, Reply, Responder, in_turn, openai_answer, serving
from tests.test_worker_summaries import CUES, master_key, transcribed_file
from tests.workers_support import WorkerEnv, kill_group
from workers.topics_job import SYSTEM_PROMPT

MODEL = "local-chat-1"
TOPICS: dict[str, Any] = {
    "topics": [
        {
            "label": "  Release   date ",
            "description": "The release slipped by a week; the team ships on the twelfth.",
            "relevance": 0.9,
            "moments": [0.0, "00:04", 99999],
            "tag": "release",
            "collection": "Planung 2027",
        },
        {"label": "会議", "description": "وصف قصير 🎉", "relevance": 0.4, "moments": [7.5], "tag": "Größe"},
        {"label": "release DATE", "description": "a duplicate, but for case", "relevance": 0.3, "tag": "x"},
    ]
}
PART = re.compile(r"This is part (\d+) of (\d+) of a longer transcript")


@pytest.fixture
def workers(fresh_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()  # only this test's jobs for the burst worker to find
    yield WorkerEnv(fresh_url, redis_url, tmp_path / "home")
    Redis.from_url(redis_url).flushdb()


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], LocalServer]]:
    with serving() as start:
        yield start


@pytest.fixture
def conn(workers: WorkerEnv) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(workers.conninfo, autocommit=True) as connection:
        yield connection


def add_config(
    workers: WorkerEnv, conn: psycopg.Connection[Any], owner: Actor, server: LocalServer, **options: Any
) -> LlmConfig:
    configs = LlmConfigRepository(conn, master_key(workers))
    config = configs.create(
        owner, "local", "openai", MODEL, base_url=f"{server.url}/v1", api_key="sk-local-topics", **options
    )
    return configs.activate(owner, config.uuid)


def queue(
    workers: WorkerEnv,
    conn: psycopg.Connection[Any],
    owner: Actor,
    file_id: int,
    config: LlmConfig,
    language: str | None = None,
) -> LlmRun:
    with conn.transaction():
        run, queued = run_jobs.queue_run(conn, owner, "topics", file_id, config.id, language=language)
    assert run_jobs.enqueue(Redis.from_url(workers.redis_url), queued)
    return run


def run_row(workers: WorkerEnv, run: LlmRun) -> dict[str, Any]:
    with psycopg.connect(workers.conninfo) as conn:
        cursor = conn.execute("SELECT * FROM llm_runs WHERE id = %s", (run.id,))
        names = [column.name for column in cursor.description or []]
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def stored_topics(workers: WorkerEnv, file_id: int) -> list[tuple[Any, ...]]:
    return workers.query(
        "SELECT label, description, relevance, moments, proposed_tag, proposed_collection, tag_decision "
        "FROM file_topics WHERE media_file_id = %s ORDER BY position",
        file_id,
    )


def prompt_of(request: Received) -> str:
    messages = request.json()["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    text: str = messages[1]["content"]
    return text


def burst(workers: WorkerEnv) -> None:
    result = workers.run_burst(timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_topics_are_stored_tidied_and_nothing_is_applied(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(TOPICS), prompt_tokens=640, completion_tokens=120))))
    owner = factories.user(conn)
    file_id = transcribed_file(conn, owner, CUES)
    file_uuid = workers.query("SELECT uuid FROM media_files WHERE id = %s", file_id)[0][0]
    TagRepository(conn).attach(owner, file_uuid, "weekly")
    CollectionRepository(conn).create(owner, "Produkt 🚀")
    run = queue(workers, conn, owner, file_id, add_config(workers, conn, owner, server), language="de")

    burst(workers)

    row = run_row(workers, run)
    assert (row["status"], row["error_message"], row["progress"]) == ("completed", None, 1.0)
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (1, 640, 120)
    assert row["raw_response"] == json.dumps(TOPICS)
    assert stored_topics(workers, file_id) == [
        # labels trimmed, the duplicate but for case dropped, moments within the 9 s recording, "00:04" read as 4 s
        (
            "Release date",
            "The release slipped by a week; the team ships on the twelfth.",
            0.9,
            [0.0, 4.0],
            "release",
            "Planung 2027",
            None,
        ),
        ("会議", "وصف قصير 🎉", 0.4, [7.5], "Größe", None, None),
    ]
    # proposed only: the file keeps its one tag, the owner's collections stay as they were
    assert [t.name for t in TagRepository(conn).tags_for_file(owner, file_uuid)] == ["weekly"]
    assert [(c.name, c.file_count) for c in CollectionRepository(conn).list(owner)] == [("Produkt 🚀", 0)]
    assert workers.query(
        "SELECT kind, title, message FROM notifications WHERE task_id = %s", task_id_for("topics", run.uuid)
    ) == [("summary", "standup.wav: topics ready", "2 topics: Release date, 会議")]
    assert workers.query(
        "SELECT purpose, input_tokens, output_tokens, reported FROM llm_usage WHERE subject = %s", run.uuid
    ) == [("topics", 640, 120, True)]

    [request] = server.requests
    prompt = prompt_of(request)
    assert "Write labels, descriptions, tags and collection names in German." in prompt
    assert "Tags already on this file: weekly" in prompt and "Collections of the person asking: Produkt 🚀" in prompt
    assert "[0.0] Alice: Good morning, the release slipped by a week" in prompt
    assert "[4.0] Bob: Then we ship on the twelfth" in prompt
    assert "part 1 of" not in prompt


def test_an_answer_that_is_not_json_is_repaired_once(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    garbage = "Here are the topics: {topics: [release date, budget"
    server = serve(in_turn(Reply(body=openai_answer(garbage)), Reply(body=openai_answer(json.dumps(TOPICS)))))
    owner = factories.user(conn)
    file_id = transcribed_file(conn, owner, CUES)
    run = queue(workers, conn, owner, file_id, add_config(workers, conn, owner, server))

    burst(workers)

    row = run_row(workers, run)
    assert (row["status"], row["requests"]) == ("completed", 2)
    assert [t[0] for t in stored_topics(workers, file_id)] == ["Release date", "会議"]
    first, repair = (prompt_of(r) for r in server.requests)
    assert "in the language of the transcript" in first  # the file names no language, the run none either
    assert repair.startswith(first) and garbage in repair and "That answer cannot be used" in repair
    assert garbage in row["raw_response"] and "--- repair ---" in row["raw_response"]


def test_unusable_twice_fails_the_run_quoting_the_model_and_stores_nothing(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    out_of_range = json.dumps({"topics": [{"label": "Budget", "relevance": 7, "tag": "budget"}]})
    server = serve(in_turn(Reply(body=openai_answer("no JSON at all, sorry")), Reply(body=openai_answer(out_of_range))))
    owner = factories.user(conn)
    file_id = transcribed_file(conn, owner, CUES)
    run = queue(workers, conn, owner, file_id, add_config(workers, conn, owner, server))

    burst(workers)

    row = run_row(workers, run)
    assert row["status"] == "failed" and len(server.requests) == 2
    message = row["error_message"]
    assert "unusable JSON twice" in message and "topics[0].relevance must be a number from 0 to 1" in message
    assert '«{"topics": [{"label": "Budget", "relevance": 7' in message  # the model's last answer, quoted
    assert "no JSON at all, sorry" in row["raw_response"]
    assert stored_topics(workers, file_id) == []
    task = workers.query("SELECT status FROM tasks WHERE id = %s", task_id_for("topics", run.uuid))
    assert task == [("failed",)]


def test_a_transcript_longer_than_the_context_is_asked_in_parts_and_merged(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    cues = [
        (i * 10.0, i * 10.0 + 8, f"SPEAKER_0{i % 2}", f"Sentence {i}: we discussed the release date and budget again.")
        for i in range(120)
    ]

    def answer(request: Received) -> Reply:
        found = PART.search(prompt_of(request))
        assert found is not None, "each request says which part it carries"
        part, parts = int(found.group(1)), int(found.group(2))
        first_second = float(re.findall(r"^\[(\d+\.\d)\]", prompt_of(request), re.MULTILINE)[0])
        topics = [
            # the same topic in every part, its case and relevance differing: one topic, the best relevance
            {
                "label": "Release date" if part == parts else "release DATE",
                "relevance": 0.5 + part / (2 * parts),
                "moments": [first_second],
                "tag": "release",
                "description": f"part {part}",
            },
            {"label": f"Part {part} only", "relevance": 0.1, "moments": [first_second], "tag": f"p{part}"},
        ]
        return Reply(body=openai_answer(json.dumps({"topics": topics}), prompt_tokens=300, completion_tokens=50))

    server = serve(answer)
    owner = factories.user(conn)
    file_id = transcribed_file(conn, owner, cues)
    config = add_config(workers, conn, owner, server, context_tokens=2000, max_tokens=256)
    run = queue(workers, conn, owner, file_id, config)

    burst(workers)

    row = run_row(workers, run)
    assert row["status"] == "completed", row["error_message"]
    parts = len(server.requests)
    assert parts >= 3
    numbers = [PART.search(prompt_of(r)) for r in server.requests]
    assert [(int(m.group(1)), int(m.group(2))) for m in numbers if m] == [(i, parts) for i in range(1, parts + 1)]
    # every line was sent once, in order, each part within the context
    sent = [line for r in server.requests for line in prompt_of(r).splitlines() if line.startswith("[")]
    assert len(sent) == 120 and sent[0].startswith("[0.0] Alice: Sentence 0:")
    assert all(len(prompt_of(r)) + len(SYSTEM_PROMPT) < (2000 - 256) * 4 for r in server.requests)
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (parts, 300 * parts, 50 * parts)
    assert "merged here" in row["raw_response"]

    topics = stored_topics(workers, file_id)
    release = topics[0]
    assert (
        release[0] == "Release date" and release[1] == f"part {parts}" and release[2] == 1.0
    )  # the most relevant part's words
    starts = [float(re.findall(r"^\[(\d+\.\d)\]", prompt_of(r), re.MULTILINE)[0]) for r in server.requests]
    assert release[3] == starts  # the moments of every part
    assert len(topics) == min(12, 1 + parts)
    assert [t[0] for t in topics[1:]] == [f"Part {p} only" for p in range(1, len(topics))]


def test_cancelling_mid_request_ends_the_run_cancelled_with_nothing_stored(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(TOPICS)), sleep=120)))  # held until released
    owner = factories.user(conn)
    file_id = transcribed_file(conn, owner, CUES)
    run = queue(workers, conn, owner, file_id, add_config(workers, conn, owner, server))
    worker = workers.start()
    try:
        until(lambda: len(server.requests) == 1, "the request to be sent")
        LlmRunRepository(conn).request_cancel(owner, run.uuid)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            kill_group(worker)

    row = run_row(workers, run)
    assert (row["status"], row["cancel_requested"], row["requests"]) == ("cancelled", True, 0)
    assert stored_topics(workers, file_id) == []
    assert workers.query("SELECT status FROM tasks WHERE id = %s", task_id_for("topics", run.uuid)) == [("cancelled",)]


def until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)
