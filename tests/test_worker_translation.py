"""Translations run by a real `opentr worker --burst` against a stand-in OpenAI-compatible server on 127.0.0.1 that
translates deterministically, forgets a segment, answers garbage, never answers, or holds a request: every
translation ends stored whole, or failed / cancelled with the reason and nothing of it stored.

Also the shared machinery's two end-to-end proofs, through a translation: the daily token limit an administrator
sets stops a run between its requests (and refuses the next request with 429), and a cancellation ends a run while
its request is still being answered."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection
from typing import Any
from uuid import UUID

import psycopg
import pytest
from redis import Redis

from jobs import llm_runs as run_jobs
from repo.llm_configs import LlmConfig
from repo.llm_runs import LlmRunRepository
from repo.llm_usage import LlmUsageRepository
from repo.rows import Actor
from tests import factories
from tests.llm_servers import LocalServer, Received, Reply, Responder, openai_answer
from tests.test_worker_summaries import add_config, conn, notifications, run, serve, transcribed_file, workers
from tests.web import actor_of, register
from tests.workers_support import WorkerEnv, kill_group
from workers.translation_job import SYSTEM_PROMPT

__all__ = ["conn", "serve", "workers"]  # the fixtures, shared with the summary worker's tests

SEGMENT_LINE = re.compile(r'^\{"id": (\d+), "speaker": .*\}$', re.MULTILINE)
SENT = "Segments to translate, one JSON object per line:\n"
CONTEXT = "(do not include them in your answer):\n"


def cues(count: int, empty: Collection[int] = ()) -> list[tuple[float, float, str, str]]:
    """`count` segments, 1-based numbers in `empty` without text."""
    return [
        (i * 2.0, i * 2.0 + 1.5, f"SPEAKER_0{i % 2}", "" if i + 1 in empty else f"Sentence {i + 1} about the budget.")
        for i in range(count)
    ]


def translation_of(number: int) -> str:
    return f"第{number}文、予算について。 مرحبا 🎌"


def sent_ids(prompt: str) -> list[int]:
    asked = prompt.split(SENT, 1)[1].split("\n\n", 1)[0]
    return [int(n) for n in SEGMENT_LINE.findall(asked)]


def context_of(prompt: str) -> list[dict[str, Any]]:
    if CONTEXT not in prompt:
        return []
    block = prompt.split(CONTEXT, 1)[1].split("\n\n", 1)[0]
    return [json.loads(line) for line in block.splitlines()]


def user_prompt(request: Received) -> str:
    messages = request.json()["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    text: str = messages[1]["content"]
    return text


def answer(ids: list[int], prompt_tokens: int = 400, completion_tokens: int = 300) -> Reply:
    segments = [{"id": n, "text": translation_of(n)} for n in ids]
    body = json.dumps({"segments": segments}, ensure_ascii=False)
    return Reply(body=openai_answer(body, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens))


def translator(request: Received) -> Reply:
    return answer(sent_ids(user_prompt(request)))


def queue(
    workers: WorkerEnv, conn: psycopg.Connection[Any], owner: Actor, file_id: int, config: LlmConfig, language: str
) -> UUID:
    with conn.transaction():
        created, queued = run_jobs.queue_run(conn, owner, "translation", file_id, config.id, language=language)
    assert run_jobs.enqueue(Redis.from_url(workers.redis_url), queued)
    return created.uuid


def run_row(workers: WorkerEnv, uuid: UUID) -> dict[str, Any]:
    with psycopg.connect(workers.conninfo) as c:
        cursor = c.execute("SELECT * FROM llm_runs WHERE uuid = %s", (uuid,))
        names = [column.name for column in cursor.description or []]
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def stored(workers: WorkerEnv, uuid: UUID) -> list[tuple[float, str, str]]:
    """The run's translated segments: (start time, original, translation), in time order."""
    return [
        (start, original, text)
        for start, original, text in workers.query(
            "SELECT ts.start_time, ts.text, t.text FROM translated_segments t "
            "JOIN transcript_segments ts ON ts.id = t.segment_id JOIN llm_runs r ON r.id = t.run_id "
            "WHERE r.uuid = %s ORDER BY ts.start_time",
            uuid,
        )
    ]


def test_a_transcript_is_translated_in_batches_with_the_segments_before_as_context(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(translator)
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server, max_tokens=8192)
    file_id = transcribed_file(conn, owner, cues(90, empty={57}), filename="会議.wav")
    uuid = queue(workers, conn, owner, file_id, config, "ja")

    run(workers)

    row = run_row(workers, uuid)
    assert (row["status"], row["error_message"], row["progress"]) == ("completed", None, 1.0)
    assert (row["requests"], row["input_tokens"], row["output_tokens"]) == (3, 1200, 900)
    asked = [user_prompt(r) for r in server.requests]
    # 40 segments a batch at most; the empty segment 57 is not sent
    assert [sent_ids(p) for p in asked] == [
        list(range(1, 41)),
        [n for n in range(41, 81) if n != 57],
        list(range(81, 91)),
    ]
    assert all('"speaker": "Alice"' in p and '"speaker": "Bob"' in p for p in asked)
    assert all('into Japanese (language code "ja")' in p for p in asked)
    assert [r.json()["messages"][0]["content"] for r in server.requests] == [
        SYSTEM_PROMPT.format(language="Japanese")
    ] * 3
    # each batch after the first carries the three segments before it, original and translated
    assert context_of(asked[0]) == []
    assert context_of(asked[1]) == [
        {
            "id": n,
            "speaker": "Bob" if n % 2 == 0 else "Alice",
            "text": f"Sentence {n} about the budget.",
            "translation": translation_of(n),
        }
        for n in (38, 39, 40)
    ]
    assert [c["id"] for c in context_of(asked[2])] == [78, 79, 80]

    expected = [
        (
            i * 2.0,
            "" if i + 1 == 57 else f"Sentence {i + 1} about the budget.",
            "" if i + 1 == 57 else translation_of(i + 1),
        )
        for i in range(90)
    ]
    assert stored(workers, uuid) == expected
    task_id = f"translation-{uuid}"
    assert workers.query("SELECT status FROM tasks WHERE id = %s", task_id) == [("completed",)]
    assert notifications(workers, task_id)[-1] == (
        "summary",
        "会議.wav: translation ready",
        "90 segments translated into Japanese",
    )
    assert "--- batch 1 of 3 ---" in row["raw_response"] and "--- batch 3 of 3 ---" in row["raw_response"]


def test_a_forgotten_segment_is_asked_for_again_once(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    def forgetful(request: Received) -> Reply:
        prompt = user_prompt(request)
        if "That answer cannot be used" in prompt:
            return answer(sent_ids(prompt))
        return answer([n for n in sent_ids(prompt) if n != 2])

    server = serve(forgetful)
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server, max_tokens=8192)
    file_id = transcribed_file(conn, owner, cues(3))
    uuid = queue(workers, conn, owner, file_id, config, "ar")

    run(workers)

    first, repair = server.requests
    assert sent_ids(user_prompt(first)) == [1, 2, 3]
    assert "That answer cannot be used: missing id 2." in user_prompt(repair)
    assert sent_ids(user_prompt(repair)) == [1, 2, 3]  # the same task, restated
    row = run_row(workers, uuid)
    assert (row["status"], row["requests"]) == ("completed", 2)
    assert [text for _, _, text in stored(workers, uuid)] == [translation_of(n) for n in (1, 2, 3)]


def test_a_model_that_answers_garbage_twice_fails_the_run_quoting_it_with_nothing_stored(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    garbage = 'Voici la traduction : {"segments": [{"id": 41, "text": ""}]}'

    def second_batch_garbled(request: Received) -> Reply:
        ids = sent_ids(user_prompt(request))
        if ids[0] == 1:
            return answer(ids)
        return Reply(body=openai_answer(garbage))

    server = serve(second_batch_garbled)
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server, max_tokens=8192)
    file_id = transcribed_file(conn, owner, cues(45))
    uuid = queue(workers, conn, owner, file_id, config, "fr")

    run(workers)

    assert len(server.requests) == 3  # batch 1, batch 2, its repair
    assert "That answer cannot be used: id 41 has an empty text; missing ids 42, 43, 44, 45." in user_prompt(
        server.requests[2]
    )
    row = run_row(workers, uuid)
    assert row["status"] == "failed"
    assert row["error_message"] == (
        "batch 2 of 2: the model answered with unusable JSON twice (id 41 has an empty text; missing ids 42, 43, 44, "
        f"45); its last answer: «{garbage}»"
    )
    assert "--- batch 2 of 2 (repair) ---\n" + garbage in row["raw_response"]
    assert stored(workers, uuid) == []  # the first batch's translation is not half-stored
    task_id = f"translation-{uuid}"
    assert workers.query("SELECT status, error_message FROM tasks WHERE id = %s", task_id) == [
        ("failed", row["error_message"])
    ]
    assert notifications(workers, task_id)[-1] == ("error", "translation failed", row["error_message"])


@pytest.mark.slow
def test_a_server_that_never_answers_fails_the_run_with_the_reason(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(lambda _: Reply(body=openai_answer("{}"), sleep=120))  # held until the test ends
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    uuid = queue(workers, conn, owner, transcribed_file(conn, owner, cues(3)), config, "de")

    run(workers, OPENTR_LLM_TIMEOUT_SECONDS="0.5")

    assert len(server.requests) == 3  # the client's attempts, then it gives up
    row = run_row(workers, uuid)
    assert row["status"] == "failed"
    assert "timed out after 0.5 s (gave up after 3 attempts)" in row["error_message"]
    assert stored(workers, uuid) == []
    assert workers.query("SELECT status FROM tasks WHERE id = %s", f"translation-{uuid}") == [("failed",)]


def test_the_daily_token_limit_stops_a_run_between_batches_and_refuses_the_next_request(
    workers: WorkerEnv, client: Any, serve: Callable[[Responder], LocalServer]
) -> None:
    # each answered request costs 1,000 tokens in and 1,200 out, as the stand-in reports them
    server = serve(lambda request: answer(sent_ids(user_prompt(request)), 1000, 1200))
    headers = register(client)
    with psycopg.connect(workers.conninfo, autocommit=True) as c:
        owner = actor_of(client, workers.conninfo, headers)
        add_config(workers, c, owner, server, max_tokens=8192)
        file_id = transcribed_file(c, owner, cues(45))
        file_uuid = c.execute("SELECT uuid FROM media_files WHERE id = %s", [file_id]).fetchone()[0]  # type: ignore[index]
        # the first batch (about 1,400 tokens sent) fits under 2,000; after it 2,200 are used
        LlmUsageRepository(c).set_limit(factories.user(c, admin=True), owner.id, 2000)

    requested = client.post(f"/api/files/{file_uuid}/translations", headers=headers, json={"language": "ja"})
    assert requested.status_code == 202, requested.text
    uuid = UUID(requested.json()["uuid"])

    run(workers)

    [request] = server.requests
    assert sent_ids(user_prompt(request)) == list(range(1, 41))
    row = run_row(workers, uuid)
    assert row["status"] == "failed"
    assert row["error_message"].startswith("daily LLM token limit reached: 2,200 of 2,000 tokens used today")
    assert stored(workers, uuid) == []
    ledger = workers.query(
        "SELECT purpose, input_tokens, output_tokens, reported FROM llm_usage WHERE subject = %s", uuid
    )
    assert ledger == [("translation", 1000, 1200, True)]
    assert notifications(workers, f"translation-{uuid}")[-1][:2] == ("error", "translation failed")

    again = client.post(f"/api/files/{file_uuid}/translations", headers=headers, json={"language": "ja"})
    assert again.status_code == 429, again.text
    assert int(again.headers["Retry-After"]) > 0
    assert "daily LLM token limit reached: 2,200 of 2,000 tokens used today" in again.json()["detail"]
    usage = client.get("/api/users/me/llm-usage", headers=headers).json()
    assert (usage["used_today"], usage["daily_limit"], usage["remaining"]) == (2200, 2000, 0)


def test_a_run_cancelled_while_its_request_is_held_ends_at_once_with_nothing_stored(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    def hold_second_batch(request: Received) -> Reply:
        ids = sent_ids(user_prompt(request))
        return answer(ids) if ids[0] == 1 else Reply(body=answer(ids).body, sleep=120)  # until released

    server = serve(hold_second_batch)
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server, max_tokens=8192)
    uuid = queue(workers, conn, owner, transcribed_file(conn, owner, cues(45)), config, "ja")
    worker = workers.start()
    try:
        deadline = time.monotonic() + 60
        while len(server.requests) < 2:
            assert time.monotonic() < deadline and worker.poll() is None, "the second batch was never sent"
            time.sleep(0.05)
        LlmRunRepository(conn).request_cancel(owner, uuid)
        while run_row(workers, uuid)["status"] == "processing":
            assert time.monotonic() < deadline, "the run did not stop"
            time.sleep(0.05)
        assert not server.released.is_set()  # it ended while the second batch's request was still held
        assert worker.wait(timeout=60) == 0
    finally:
        server.released.set()
        if worker.poll() is None:
            kill_group(worker)

    row = run_row(workers, uuid)
    assert (row["status"], row["cancel_requested"], row["requests"]) == ("cancelled", True, 1)
    assert stored(workers, uuid) == []
    assert workers.query("SELECT status FROM tasks WHERE id = %s", f"translation-{uuid}") == [("cancelled",)]
    assert len(server.requests) == 2


def test_a_translation_of_nothing_fails_without_asking(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(translator)
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    uuid = queue(workers, conn, owner, transcribed_file(conn, owner, []), config, "ja")

    run(workers)

    row = run_row(workers, uuid)
    assert (row["status"], row["error_message"]) == ("failed", "the file has no transcript to translate")
    assert server.requests == []
