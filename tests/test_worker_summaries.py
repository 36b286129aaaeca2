"""Summaries run by a real `opentr worker --burst` against real HTTP servers on 127.0.0.1 that speak the OpenAI
chat-completions API, answer garbage, or never answer: every summary ends stored, or failed with the reason."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import Redis

from config.settings import Settings
from jobs import dispatch
from repo.errors import Conflict
from repo.llm_configs import LlmConfig, LlmConfigRepository
from repo.llm_usage import LlmUsageRepository
from repo.prompts import Prompt, PromptRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from repo.summaries import SummaryRepository
from repo.user_settings import SettingsRepository
from tests import factories
from tests.llm_servers import LocalServer, Received, Reply, Responder, in_turn, openai_answer, serving
from tests.workers_support import WorkerEnv, kill_group, srt, wav
from transcript.segments import Segment
from workers.summarizer import SYSTEM_PROMPT

API_KEY = "sk-local-3c1f9a-worker-test"
MODEL = "local-chat-1"
CUES = [
    (0.0, 4.0, "SPEAKER_00", "Good morning, the release slipped by a week because of the database migration."),
    (4.0, 7.5, "SPEAKER_01", "Then we ship on the twelfth; I will tell the customers today."),
    (7.5, 9.0, "SPEAKER_00", "Agreed. Bob owns the customer email."),
]
BLUF: dict[str, Any] = {
    "bluf": "The release moves to the twelfth because of the database migration.",
    "brief_summary": "Alice reported the slip; Bob will inform the customers. The team agreed on the new date.",
    "major_topics": ["release date", "database migration"],
    "action_items": ["Bob emails the customers today"],
    "key_decisions": ["ship on the twelfth"],
    "follow_up_items": ["check the migration progress on Monday"],
}
LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] .+$", re.MULTILINE)
PART_NOTE = re.compile(r"\(This is part (\d+) of (\d+) of a longer transcript")


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
    """Replaces conftest's rolled-back `conn`: autocommit on the worker's database, so that every repository call
    is committed before the worker runs."""
    with psycopg.connect(workers.conninfo, autocommit=True) as connection:
        yield connection


@dataclass(frozen=True)
class Queued:
    summary_id: int
    task_id: str
    file_id: int


def master_key(workers: WorkerEnv) -> bytes:
    """The key the worker seals and opens api keys with: dev generates it under its OPENTR_HOME."""
    return Settings(opentr_home=workers.home).secret_key()


def add_config(
    workers: WorkerEnv,
    conn: psycopg.Connection[Any],
    owner: Actor,
    server: LocalServer,
    *,
    name: str = "local",
    provider: str = "openai",
    max_tokens: int = 1024,
    activate: bool = True,
    api_key: str = API_KEY,
    base_url: str | None = None,
    context_tokens: int | None = None,
) -> LlmConfig:
    configs = LlmConfigRepository(conn, master_key(workers))
    config = configs.create(
        owner,
        name,
        provider,
        MODEL,
        base_url=base_url or f"{server.url}/v1",
        api_key=api_key,
        max_tokens=max_tokens,
        temperature=0.2,
        context_tokens=context_tokens,
    )
    return configs.activate(owner, config.uuid) if activate else config


def transcribed_file(
    conn: psycopg.Connection[Any],
    owner: Actor,
    cues: list[tuple[float, float, str, str]],
    filename: str = "standup.wav",
) -> int:
    """A completed file with its segments and speakers, SPEAKER_00 named Alice and SPEAKER_01 named Bob."""
    file_id, _ = factories.media_file(conn, owner, filename=filename, status="completed")
    SegmentRepository(conn).replace_transcript(file_id, [Segment(a, b, text, who) for a, b, who, text in cues])
    for label, name in (("SPEAKER_00", "Alice"), ("SPEAKER_01", "Bob")):
        conn.execute(
            "UPDATE speakers SET display_name = %s WHERE media_file_id = %s AND label = %s", (name, file_id, label)
        )
    return file_id


def queue(
    workers: WorkerEnv,
    conn: psycopg.Connection[Any],
    owner: Actor,
    file_id: int,
    config: LlmConfig | None = None,
    *,
    prompt: Prompt | None = None,
    language: str | None = None,
) -> Queued:
    with conn.transaction():
        summary_id, task_id = dispatch.queue_summary(
            conn,
            owner.id,
            file_id,
            prompt.id if prompt else None,
            config.id if config else None,
            language,
        )
    assert dispatch.enqueue_summary(Redis.from_url(workers.redis_url), summary_id, task_id)
    return Queued(summary_id, task_id, file_id)


def summary_row(workers: WorkerEnv, summary_id: int) -> dict[str, Any]:
    with psycopg.connect(workers.conninfo) as conn:
        cursor = conn.execute("SELECT * FROM file_summaries WHERE id = %s", (summary_id,))
        names = [column.name for column in cursor.description or []]
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def notifications(workers: WorkerEnv, task_id: str) -> list[tuple[str, str, str]]:
    return [
        (kind, title, message)
        for kind, title, message in workers.query(
            "SELECT kind, title, message FROM notifications WHERE task_id = %s ORDER BY id", task_id
        )
    ]


def user_prompt(request: Received) -> str:
    messages = request.json()["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    text: str = messages[1]["content"]
    return text


def run(workers: WorkerEnv, **env: str) -> float:
    started = time.monotonic()
    result = workers.run_burst(timeout=120, **env)
    assert result.returncode == 0, result.stderr[-3000:]
    return time.monotonic() - started


def test_a_summary_is_stored_with_every_bluf_field(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF), prompt_tokens=812, completion_tokens=143))))
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES))
    assert workers.query("SELECT summary_status FROM media_files WHERE id = %s", job.file_id) == [("pending",)]

    run(workers)

    row = summary_row(workers, job.summary_id)
    assert row["status"] == "completed" and row["error_message"] is None
    assert {key: row[key] for key in BLUF} == BLUF
    assert (row["input_tokens"], row["output_tokens"]) == (812, 143)
    assert (row["provider"], row["model_name"], row["llm_configuration_id"]) == ("openai", MODEL, config.id)
    assert row["raw_response"] == json.dumps(BLUF) and row["version"] == 1
    assert row["processing_ms"] is not None and row["processing_ms"] >= 0
    assert row["started_at"] is not None and row["completed_at"] >= row["started_at"]
    assert workers.query("SELECT summary_status FROM media_files WHERE id = %s", job.file_id) == [("completed",)]
    assert workers.query("SELECT task_type, status, progress, error_message FROM tasks WHERE id = %s", job.task_id) == [
        ("summarization", "completed", 1.0, None)
    ]
    assert notifications(workers, job.task_id) == [  # the outcome only: "summarising" went live, unstored
        ("summary", "standup.wav: summary ready", BLUF["bluf"]),
    ]

    [request] = server.requests  # one call: the transcript fits
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"  # opened with the worker's master key
    body = request.json()
    assert (body["model"], body["max_tokens"], body["temperature"]) == (MODEL, 1024, 0.2)
    assert body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    prompt = user_prompt(request)
    assert LINE.findall(prompt) == [
        "[00:00:00] Alice: Good morning, the release slipped by a week because of the database migration.",
        "[00:00:04] Bob: Then we ship on the twelfth; I will tell the customers today.",
        "[00:00:07] Alice: Agreed. Bob owns the customer email.",
    ]
    assert "- Alice: 00:00:05 talk time (61%), 19 words, 2 turns" in prompt
    assert "- Bob: 00:00:03 talk time (39%), 12 words, 1 turns" in prompt
    assert "{transcript}" not in prompt and "{speaker_data}" not in prompt


GARBAGE: dict[str, tuple[Reply, str, bool]] = {
    # case: (the server's reply, what error_message says, whether the model's answers are kept: asked twice then)
    "prose instead of JSON": (
        Reply(body=openai_answer("Sure! The meeting was about the release, which slipped.")),
        "the model answered with unusable JSON twice (the answer contains no JSON object); its last answer: "
        "«Sure! The meeting was about the release, which slipped.»",
        True,
    ),
    "JSON that is not a BLUF": (
        Reply(body=openai_answer('{"summary": "a meeting", "topics": ["release"]}')),
        "(the answer's JSON is missing 'bluf'; is missing 'brief_summary')",
        True,
    ),
    "BLUF with an empty bottom line": (
        Reply(body=openai_answer(json.dumps({**BLUF, "bluf": "  "}))),
        "the answer's JSON has an unusable 'bluf'",
        True,
    ),
    "an HTTP body that is not JSON": (
        Reply(body="<html><body>502 Bad Gateway</body></html>"),
        "/v1/chat/completions is not JSON: <html><body>502 Bad Gateway</body></html>",
        False,
    ),
    "JSON that is not a chat completion": (
        Reply(body={"object": "error", "detail": "model is loading"}),
        "answer has no choices",
        False,
    ),
}


def test_garbage_answers_fail_the_summary_with_the_reason(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    owner = factories.user(conn)
    jobs: dict[str, tuple[Queued, LocalServer]] = {}
    for number, (case, (reply, _, _)) in enumerate(GARBAGE.items()):
        server = serve(in_turn(reply))
        config = add_config(workers, conn, owner, server, name=f"garbage {number}", activate=False)
        file_id = transcribed_file(conn, owner, CUES, filename=f"garbage-{number}.wav")
        jobs[case] = (queue(workers, conn, owner, file_id, config), server)

    run(workers)  # one burst worker takes every job

    for case, (job, server) in jobs.items():
        _, reason, raw_kept = GARBAGE[case]
        row = summary_row(workers, job.summary_id)
        assert row["status"] == "failed", case
        assert reason in row["error_message"], (case, row["error_message"])
        assert API_KEY not in row["error_message"]
        assert row["bluf"] is None and row["completed_at"] is not None
        if raw_kept:  # asked once to repair it, then given up: both answers kept, nothing of them stored as summary
            said = _content(GARBAGE[case][0])
            assert row["raw_response"] == f"--- answer ---\n{said}\n\n--- repair ---\n{said}", case
            assert len(server.requests) == 2, case
            assert said[:40] in user_prompt(server.requests[1]) and "cannot be used" in user_prompt(server.requests[1])
        else:
            assert row["raw_response"] is None, case
            assert len(server.requests) == 1, case  # a malformed HTTP answer is not retried
        assert workers.query("SELECT summary_status FROM media_files WHERE id = %s", job.file_id) == [("failed",)]
        assert workers.query("SELECT status, error_message FROM tasks WHERE id = %s", job.task_id) == [
            ("failed", row["error_message"])
        ]
        assert notifications(workers, job.task_id)[-1] == ("error", "summary failed", row["error_message"]), case
    assert workers.query("SELECT count(*) FROM file_summaries WHERE status NOT IN ('completed', 'failed')") == [(0,)]


def _content(reply: Reply) -> str:
    content: str = reply.body["choices"][0]["message"]["content"]
    return content


@pytest.mark.slow
def test_a_server_that_never_answers_fails_the_summary_in_bounded_time(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)), sleep=120)))  # held until the test ends
    owner = factories.user(conn)
    add_config(workers, conn, owner, server)
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES))

    elapsed = run(workers, OPENTR_LLM_TIMEOUT_SECONDS="0.5")

    # 3 attempts of 0.5 s with 1 s and 2 s of backoff between them, plus the worker's start
    assert elapsed < 30, f"the burst worker took {elapsed:.1f} s"
    assert len(server.requests) == 3
    row = summary_row(workers, job.summary_id)
    assert row["status"] == "failed"
    assert "timed out after 0.5 s (gave up after 3 attempts)" in row["error_message"]
    assert workers.query("SELECT summary_status FROM media_files WHERE id = %s", job.file_id) == [("failed",)]
    assert workers.query("SELECT status FROM tasks WHERE id = %s", job.task_id) == [("failed",)]
    assert notifications(workers, job.task_id)[-1] == ("error", "summary failed", row["error_message"])


SMALL_CONTEXT = 2048  # what the stand-in's /v1/models says of its model (vLLM's max_model_len)


def chats(server: LocalServer) -> list[Received]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def _part_or_merge(request: Received) -> Reply:
    if request.path.endswith("/models"):
        return Reply(body={"object": "list", "data": [{"id": MODEL, "max_model_len": SMALL_CONTEXT}]})
    prompt = user_prompt(request)
    if "Part summaries:" in prompt:
        merged = {**BLUF, "major_topics": ["the whole meeting"], "action_items": ["merged action"]}
        return Reply(body=openai_answer(json.dumps(merged), prompt_tokens=300, completion_tokens=30))
    found = PART_NOTE.search(prompt)
    assert found is not None, "a long transcript must be sent in parts"
    part = int(found.group(1))
    partial = {**BLUF, "bluf": f"Part {part} bottom line.", "major_topics": [f"topic of part {part}"]}
    return Reply(body=openai_answer(json.dumps(partial), prompt_tokens=1000, completion_tokens=40))


def test_a_long_transcript_is_summarised_in_parts_that_fit_the_context_the_server_states_then_merged(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(_part_or_merge)
    owner = factories.user(conn)
    # a self-hosted model whose server says its context (no context_tokens configured), answering in 256 tokens
    add_config(workers, conn, owner, server, provider="custom", max_tokens=256)
    cues = [
        (
            i * 3.0,
            i * 3.0 + 2.5,
            f"SPEAKER_0{i % 2}",
            f"point {i}: we discussed item {i} of the quarterly plan at length",
        )
        for i in range(300)
    ]
    job = queue(workers, conn, owner, transcribed_file(conn, owner, cues))

    run(workers)

    assert [r.path for r in server.requests if not r.path.endswith("/chat/completions")] == ["/v1/models"]
    parts = [r for r in chats(server) if "Part summaries:" not in user_prompt(r)]
    merges = [r for r in chats(server) if "Part summaries:" in user_prompt(r)]
    notes = [PART_NOTE.search(user_prompt(r)) for r in parts]
    total = len(parts)
    assert total >= 3 and len(merges) == 1 and len(chats(server)) == total + 1
    assert [(int(n.group(1)), int(n.group(2))) for n in notes if n] == [(i, total) for i in range(1, total + 1)]
    sent_lines = [line for r in parts for line in LINE.findall(user_prompt(r))]
    assert len(sent_lines) == len(cues)  # every segment sent once, in order, none twice
    assert [int(line.split("point ", 1)[1].split(":")[0]) for line in sent_lines] == list(range(len(cues)))
    for request in chats(server):  # each request fits the stated context with room for the answer
        messages = request.json()["messages"]
        assert len(messages[0]["content"]) + len(messages[1]["content"]) <= (SMALL_CONTEXT - 256) * 4
        assert request.json()["max_tokens"] == 256
    merge_prompt = user_prompt(merges[0])
    assert all(f"topic of part {i}" in merge_prompt for i in range(1, total + 1))

    row = summary_row(workers, job.summary_id)
    assert row["status"] == "completed"
    assert row["major_topics"] == ["the whole meeting"] and row["action_items"] == ["merged action"]
    assert row["bluf"] == BLUF["bluf"]
    assert (row["input_tokens"], row["output_tokens"]) == (1000 * total + 300, 40 * total + 30)
    assert row["raw_response"].startswith("--- part 1 ---\n") and f"--- part {total} ---" in row["raw_response"]
    assert "--- merge 1.1 ---" in row["raw_response"]
    assert workers.query("SELECT status FROM tasks WHERE id = %s", job.task_id) == [("completed",)]
    assert workers.query("SELECT count(*) FROM llm_usage WHERE subject = %s", row["uuid"]) == [(total + 1,)]


def test_a_context_too_small_for_any_part_fails_the_summary_before_anything_is_sent(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)))))
    owner = factories.user(conn)
    add_config(workers, conn, owner, server, provider="custom", context_tokens=256)
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES))

    run(workers)

    row = summary_row(workers, job.summary_id)
    assert row["status"] == "failed"
    assert row["error_message"].startswith("the model's context of 256 tokens leaves no room for the transcript")
    assert row["bluf"] is None and row["content"] is None and row["markdown"] is None
    assert server.requests == []  # configured: the server was not even asked its context
    assert notifications(workers, job.task_id)[-1] == ("error", "summary failed", row["error_message"])


def test_auto_summary_runs_after_processing_in_the_same_burst(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)))))
    owner = factories.user(conn)
    SettingsRepository(conn).set(owner, "summary.auto", True)
    add_config(workers, conn, owner, server)
    no_config = factories.user(conn)  # wants summaries but has no LLM configured
    SettingsRepository(conn).set(no_config, "summary.auto", True)
    manual = factories.user(conn)  # has a configuration but did not turn auto-summary on
    add_config(workers, conn, manual, server)
    cues = [(0.0, 2.0, "SPEAKER_00", "Welcome to the budget review"), (2.0, 4.0, "SPEAKER_01", "Numbers look fine")]
    auto = workers.arrange(wav(4.0), srt(cues), owner=owner)
    skipped = workers.arrange(wav(4.0), srt(cues), owner=no_config)
    untouched = workers.arrange(wav(4.0), srt(cues), owner=manual)

    run(workers)

    for job in (auto, skipped, untouched):
        assert workers.query("SELECT status FROM media_files WHERE id = %s", job.file_id) == [("completed",)]
    [(summary_id, version, status, task_status)] = workers.query(
        "SELECT s.id, s.version, s.status, t.status FROM file_summaries s "
        "JOIN tasks t ON t.id = 'summary-' || s.uuid::text WHERE s.media_file_id = %s",
        auto.file_id,
    )
    assert (version, status, task_status) == (1, "completed", "completed")
    assert {key: summary_row(workers, summary_id)[key] for key in BLUF} == BLUF
    assert workers.query("SELECT summary_status FROM media_files WHERE id = %s", auto.file_id) == [("completed",)]
    [request] = server.requests  # only the auto file was summarised
    assert LINE.findall(user_prompt(request)) == [
        "[00:00:00] SPEAKER_00: Welcome to the budget review",
        "[00:00:02] SPEAKER_01: Numbers look fine",
    ]
    assert workers.query("SELECT count(*) FROM file_summaries WHERE media_file_id <> %s", auto.file_id) == [(0,)]
    assert workers.query(
        "SELECT kind, title, message FROM notifications WHERE media_file_id = %s ORDER BY id DESC LIMIT 1",
        skipped.file_id,
    ) == [("summary", "talk.wav: automatic summary skipped", "no active LLM configuration: add one and activate it")]


@pytest.mark.slow
def test_a_slow_answer_survives_recovery_by_another_worker(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    """A worker that starts while the LLM is still thinking runs recovery: the job holds its lock, so recovery
    leaves it alone however long the answer takes, and the summary and its task both complete."""
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)), sleep=60)))  # answers when released
    owner = factories.user(conn)
    add_config(workers, conn, owner, server)
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES))
    worker = workers.start()
    try:
        deadline = time.monotonic() + 60
        while not server.requests:
            assert time.monotonic() < deadline and worker.poll() is None, "the summary request never arrived"
            time.sleep(0.05)
        run(workers)  # finds no job to take, but runs recovery at start
        server.released.set()
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            kill_group(worker)
    row = summary_row(workers, job.summary_id)
    assert row["status"] == "completed" and {key: row[key] for key in BLUF} == BLUF
    assert workers.query("SELECT summary_status FROM media_files WHERE id = %s", job.file_id) == [("completed",)]
    [(task_status,)] = workers.query("SELECT status FROM tasks WHERE id = %s", job.task_id)
    assert task_status == "completed"
    assert notifications(workers, job.task_id)[-1] == ("summary", "standup.wav: summary ready", BLUF["bluf"])


def test_summaries_that_cannot_start_fail_with_the_reason(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)))))
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    deleted = queue(workers, conn, owner, transcribed_file(conn, owner, CUES, filename="deleted-config.wav"))
    LlmConfigRepository(conn, b"").delete(owner, config.uuid)  # after queueing, before the worker runs
    add_config(workers, conn, owner, server, name="second")
    empty = queue(workers, conn, owner, transcribed_file(conn, owner, [], filename="silent.wav"))

    run(workers)

    for job, reason in (
        (deleted, "the LLM configuration of this summary was deleted"),
        (empty, "the file has no transcript to summarise"),
    ):
        row = summary_row(workers, job.summary_id)
        assert (row["status"], row["error_message"]) == ("failed", reason)
        assert workers.query("SELECT summary_status FROM media_files WHERE id = %s", job.file_id) == [("failed",)]
        assert workers.query("SELECT status, error_message FROM tasks WHERE id = %s", job.task_id) == [
            ("failed", reason)
        ]
        assert notifications(workers, job.task_id)[-1] == ("error", "summary failed", reason)
    assert server.requests == []


@pytest.mark.parametrize(
    ("api_key", "host"),
    [("sk-clé-non-ascii", None), (API_KEY, "a" * 64 + ".example")],
    ids=["non-ascii-key", "host-label-over-63"],
)
def test_an_unexpected_client_error_fails_the_summary_once(
    workers: WorkerEnv,
    conn: psycopg.Connection[Any],
    serve: Callable[[Responder], LocalServer],
    api_key: str,
    host: str | None,
) -> None:
    """Configurations stored before the API refused them make the HTTP client itself raise: the summary and its
    task still end `failed` with a message, once, and a second worker run finds nothing left to do."""
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)))))
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server, api_key=api_key, base_url=f"http://{host}/v1" if host else None)
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES), config)

    run(workers)
    run(workers)

    row = summary_row(workers, job.summary_id)
    assert row["status"] == "failed" and row["error_message"].startswith("the LLM request failed: "), row
    assert api_key not in row["error_message"]
    assert workers.query("SELECT status FROM tasks WHERE id = %s", job.task_id) == [("failed",)]
    assert [n[:2] for n in notifications(workers, job.task_id)] == [("error", "summary failed")]
    assert server.requests == []


def test_a_private_llm_server_is_refused_at_use_when_the_deployment_says_so(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)))))
    owner = factories.user(conn)
    add_config(workers, conn, owner, server)  # saved while allowed; the deployment tightened since
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES))

    run(workers, OPENTR_LLM_ALLOW_PRIVATE="0")

    reason = "base_url: 127.0.0.1: a loopback, private or link-local address, which this server does not fetch"
    row = summary_row(workers, job.summary_id)
    assert (row["status"], row["error_message"]) == ("failed", reason)
    assert server.requests == []


OWNER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "owner": {"type": "string"},
        "decisions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["owner", "decisions"],
    "additionalProperties": False,
}


def schema_prompt(conn: psycopg.Connection[Any], owner: Actor) -> Prompt:
    return PromptRepository(conn).create(
        owner,
        "Decisions and owner",
        "Who owns the release, and what was decided?\n\n{transcript}",
        output_format="json",
        output_schema=OWNER_SCHEMA,
    )


def test_a_schema_answer_that_is_repaired_is_stored_with_both_requests_in_its_costs(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    repaired = {"owner": "Bob", "decisions": ["ship on the twelfth"]}
    server = serve(
        in_turn(
            Reply(body=openai_answer('{"owner": 42, "decisions": "ship"}', prompt_tokens=500, completion_tokens=20)),
            Reply(body=openai_answer(json.dumps(repaired), prompt_tokens=600, completion_tokens=25)),
        )
    )
    owner = factories.user(conn)
    add_config(workers, conn, owner, server)
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES), prompt=schema_prompt(conn, owner))

    run(workers)

    row = summary_row(workers, job.summary_id)
    assert (row["status"], row["output_format"], row["content"]) == ("completed", "json", repaired)
    assert row["bluf"] is None and row["markdown"] is None and row["error_message"] is None
    assert (row["input_tokens"], row["output_tokens"]) == (1100, 45)
    first, repair = chats(server)
    stated = first.json()["messages"][0]["content"].split("JSON Schema:\n", 1)[1].splitlines()[0]
    assert json.loads(stated) == OWNER_SCHEMA  # the schema goes with the request
    assert "/owner: 42 is not of type 'string'" in user_prompt(repair)
    costs = workers.query(
        "SELECT purpose, input_tokens, output_tokens, reported FROM llm_usage WHERE subject = %s ORDER BY id",
        row["uuid"],
    )
    assert costs == [("summary", 500, 20, True), ("summary", 600, 25, True)]
    assert notifications(workers, job.task_id)[-1][:2] == ("summary", "standup.wav: summary ready")


def test_a_schema_answer_invalid_twice_fails_quoting_the_model_and_stores_no_content(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer('{"owner": "Bob"}'))))
    owner = factories.user(conn)
    add_config(workers, conn, owner, server)
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES), prompt=schema_prompt(conn, owner))

    run(workers)

    row = summary_row(workers, job.summary_id)
    assert row["status"] == "failed" and row["content"] is None
    assert row["error_message"] == (
        "the model answered with unusable JSON twice (the answer: 'decisions' is a required property); "
        'its last answer: «{"owner": "Bob"}»'
    )
    assert row["raw_response"] == '--- answer ---\n{"owner": "Bob"}\n\n--- repair ---\n{"owner": "Bob"}'
    assert len(chats(server)) == 2
    assert workers.query("SELECT count(*) FROM llm_usage WHERE subject = %s", row["uuid"]) == [(2,)]


def test_a_markdown_summary_in_the_chosen_language_round_trips_any_script(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    text = "# 会議の要約\n\n- リリースは**12日**に延期 🚀\n- مرحبا بالعالم: القرار *نهائي*\n- Größe: Übermäßig ✅"
    server = serve(in_turn(Reply(body=openai_answer(text))))
    owner = factories.user(conn)
    add_config(workers, conn, owner, server)
    prompt = PromptRepository(conn).create(owner, "Notes", "Notes, please:\n{transcript}", output_format="markdown")
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES), prompt=prompt, language="ja")

    run(workers)

    row = summary_row(workers, job.summary_id)
    assert (row["status"], row["output_format"], row["language"]) == ("completed", "markdown", "ja")
    assert row["markdown"] == text and row["content"] is None and row["bluf"] is None
    [request] = chats(server)
    assert "Write the summary in Japanese (language code ja)." in request.json()["messages"][0]["content"]
    assert workers.query(
        "SELECT count(*) FROM file_summaries WHERE id = %s AND search_vector @@ plainto_tsquery('english', 'Größe')",
        job.summary_id,
    ) == [(1,)]


def test_the_daily_token_limit_stops_a_summary_with_a_clear_message(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)))))
    owner = factories.user(conn)
    admin = factories.user(conn, admin=True)
    add_config(workers, conn, owner, server)
    LlmUsageRepository(conn).set_limit(admin, owner.id, 50)  # less than the transcript and its prompt need
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES))

    run(workers)

    row = summary_row(workers, job.summary_id)
    assert row["status"] == "failed" and row["bluf"] is None
    assert row["error_message"].startswith("daily LLM token limit reached: 0 of 50 tokens used today")
    assert chats(server) == []
    assert notifications(workers, job.task_id)[-1] == ("error", "summary failed", row["error_message"])


def test_a_summary_cancelled_mid_request_ends_cancelled_with_nothing_stored(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)), sleep=120)))  # held until the test ends
    owner = factories.user(conn)
    add_config(workers, conn, owner, server)
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES))
    [(summary_uuid,)] = workers.query("SELECT uuid FROM file_summaries WHERE id = %s", job.summary_id)
    worker = workers.start()
    try:
        deadline = time.monotonic() + 60
        while not chats(server):
            assert time.monotonic() < deadline and worker.poll() is None, "the summary request never arrived"
            time.sleep(0.05)
        asked = SummaryRepository(conn).request_cancel(owner, summary_uuid)
        assert (asked.status, asked.cancel_requested) == ("processing", True)
        assert worker.wait(timeout=60) == 0  # it gave up the request it was waiting on: the server never answered
    finally:
        if worker.poll() is None:
            kill_group(worker)
    row = summary_row(workers, job.summary_id)
    assert row["status"] == "cancelled" and row["completed_at"] is not None
    assert row["bluf"] is None and row["raw_response"] is None and row["content"] is None
    assert workers.query("SELECT summary_status FROM media_files WHERE id = %s", job.file_id) == [("cancelled",)]
    assert workers.query("SELECT status FROM tasks WHERE id = %s", job.task_id) == [("cancelled",)]
    assert workers.query("SELECT count(*) FROM llm_usage WHERE subject = %s", summary_uuid) == [(0,)]
    with pytest.raises(Conflict, match="the summary has ended \\(cancelled\\)"):
        SummaryRepository(conn).request_cancel(owner, summary_uuid)


def test_a_pending_summary_is_cancelled_at_once_and_its_job_does_nothing(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(BLUF)))))
    owner = factories.user(conn)
    add_config(workers, conn, owner, server)
    job = queue(workers, conn, owner, transcribed_file(conn, owner, CUES))
    [(summary_uuid,)] = workers.query("SELECT uuid FROM file_summaries WHERE id = %s", job.summary_id)

    assert SummaryRepository(conn).request_cancel(owner, summary_uuid).status == "cancelled"
    run(workers)

    assert summary_row(workers, job.summary_id)["status"] == "cancelled"
    assert workers.query("SELECT status FROM tasks WHERE id = %s", job.task_id) == [("cancelled",)]
    assert server.requests == []
