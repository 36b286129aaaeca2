"""Speaker names proposed by a real `opentr worker --burst` against a stand-in OpenAI-compatible server on
127.0.0.1 (tests/llm_servers.py) that answers deterministically, and sometimes badly: proposals are stored with the
evidence the transcript really holds, never a made-up quote, and never applied to the speakers."""

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

from jobs.llm_runs import queue_run
from repo.llm_configs import LlmConfig
from repo.llm_runs import LlmRunRepository
from repo.rows import Actor
from repo.segments import SegmentRepository
from tests import factories
from tests.llm_servers import LocalServer, Received, Reply, Responder, in_turn, openai_answer, serving
from tests.test_worker_summaries import add_config
from tests.workers_support import WorkerEnv, kill_group
from transcript.segments import Segment

CUES = [
    (0.0, 3.0, "SPEAKER_00", "Good morning everyone, thanks for joining."),
    (3.0, 6.0, "SPEAKER_01", "Morning! Happy to be here."),
    (6.0, 9.0, "SPEAKER_00", "Thanks, Maria. Could you start with the budget?"),
    (9.0, 12.0, "SPEAKER_01", "Sure. I'm Maria Jürgensen from finance, for those who don't know me."),
    (12.0, 15.0, "SPEAKER_00", "And I am Jürgen, I run the project. さくら joins later."),
]
GOOD: dict[str, Any] = {
    "proposals": [
        {
            "speaker": "SPEAKER_01",
            "name": "Maria",
            "confidence": 0.85,
            "evidence": [
                {"segment": 4, "quote": "thanks,   MARIA"},  # in segment 3, a neighbour of the one cited
                {"segment": 4, "quote": "“I'm Maria Jürgensen”"},
                {"segment": 2, "quote": "My name is Maria"},  # said nowhere: dropped
            ],
        },
        {
            "speaker": "SPEAKER_00",
            "name": " Jürgen ",
            "confidence": 0.9,
            "evidence": [{"segment": 5, "quote": "I am Jürgen"}],
        },
        # only made-up evidence: not stored at all
        {
            "speaker": "SPEAKER_00",
            "name": "Alfred",
            "confidence": 0.7,
            "evidence": [{"segment": 1, "quote": "I'm Alfred"}],
        },
        # a label the file does not have
        {
            "speaker": "SPEAKER_07",
            "name": "Ghost",
            "confidence": 0.9,
            "evidence": [{"segment": 1, "quote": "Good morning"}],
        },
    ]
}
NUMBERED = re.compile(r"^\[(\d+)\] (SPEAKER_\d\d)(?: \(([^)]*)\))?: (.*)$", re.MULTILINE)


@pytest.fixture
def workers(fresh_url: str, redis_url: str, tmp_path: Path) -> Iterator[WorkerEnv]:
    Redis.from_url(redis_url).flushdb()
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


def recording(conn: psycopg.Connection[Any], owner: Actor, cues: list[tuple[float, float, str, str]]) -> int:
    """A completed file with these segments; its speakers have no names."""
    file_id, _ = factories.media_file(conn, owner, filename="meeting.wav", status="completed")
    if cues:
        SegmentRepository(conn).replace_transcript(file_id, [Segment(a, b, text, who) for a, b, who, text in cues])
    return file_id


def propose(workers: WorkerEnv, conn: psycopg.Connection[Any], owner: Actor, file_id: int, config: LlmConfig) -> int:
    """Queue a speaker_names run as the API does, run a burst worker; the run's id."""
    with conn.transaction():
        run, queued = queue_run(conn, owner, "speaker_names", file_id, config.id)
    assert queued.enqueue(Redis.from_url(workers.redis_url))
    result = workers.run_burst(timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return run.id


def run_row(workers: WorkerEnv, run_id: int) -> dict[str, Any]:
    with psycopg.connect(workers.conninfo) as conn:
        cursor = conn.execute("SELECT * FROM llm_runs WHERE id = %s", (run_id,))
        names = [column.name for column in cursor.description or []]
        row = cursor.fetchone()
    assert row is not None
    return dict(zip(names, row, strict=True))


def stored(workers: WorkerEnv, run_id: int) -> list[tuple[str, str, float, list[dict[str, Any]], str]]:
    """(label, name, confidence, evidence, status) of the run's proposals; each quote's segment given by its text."""
    rows = workers.query(
        "SELECT sp.label, p.name, p.confidence::float8, p.evidence, p.status FROM speaker_name_proposals p "
        "JOIN speakers sp ON sp.id = p.speaker_id WHERE p.run_id = %s ORDER BY sp.label, p.name",
        run_id,
    )
    texts = dict(workers.query("SELECT uuid::text, text FROM transcript_segments"))
    return [
        (
            label,
            name,
            round(confidence, 3),
            [
                {"start_time": e["start_time"], "quote": e["quote"], "segment": texts[e["segment_uuid"]]}
                for e in evidence
            ],
            status,
        )
        for label, name, confidence, evidence, status in rows
    ]


def user_prompt(request: Received) -> str:
    messages = request.json()["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    text: str = messages[1]["content"]
    return text


def names_of(workers: WorkerEnv, file_id: int) -> list[tuple[str, str | None]]:
    return [
        (label, name)
        for label, name in workers.query(
            "SELECT label, display_name FROM speakers WHERE media_file_id = %s ORDER BY label", file_id
        )
    ]


def test_proposals_are_stored_with_the_evidence_the_transcript_holds(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(GOOD), prompt_tokens=640, completion_tokens=120))))
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    file_id = recording(conn, owner, CUES)

    run_id = propose(workers, conn, owner, file_id, config)

    run = run_row(workers, run_id)
    assert (run["status"], run["error_message"], run["progress"]) == ("completed", None, 1.0)
    assert (run["requests"], run["input_tokens"], run["output_tokens"]) == (1, 640, 120)
    assert stored(workers, run_id) == [
        (
            "SPEAKER_00",
            "Jürgen",
            0.9,
            [{"start_time": 12.0, "quote": "I am Jürgen", "segment": CUES[4][3]}],
            "proposed",
        ),
        (
            "SPEAKER_01",
            "Maria",
            0.85,
            [
                # as the transcript spells it, where it is said: segment 3 (6.0 s), not the 4 the model cited
                {"start_time": 6.0, "quote": "Thanks, Maria", "segment": CUES[2][3]},
                {"start_time": 9.0, "quote": "I'm Maria Jürgensen", "segment": CUES[3][3]},
            ],
            "proposed",
        ),
    ]
    # never applied: the speakers keep their (absent) names
    assert names_of(workers, file_id) == [("SPEAKER_00", None), ("SPEAKER_01", None)]
    assert workers.query("SELECT title, message FROM notifications WHERE media_file_id = %s", file_id) == [
        ("meeting.wav: speaker names ready", "2 names proposed for 2 speakers: accept or reject them")
    ]
    assert workers.query("SELECT purpose, input_tokens, output_tokens FROM llm_usage") == [("speaker_names", 640, 120)]

    [request] = server.requests
    prompt = user_prompt(request)
    assert NUMBERED.findall(prompt) == [
        (str(number), label, "", text) for number, (_, _, label, text) in enumerate(CUES, 1)
    ]
    assert "- SPEAKER_00: no name yet\n- SPEAKER_01: no name yet" in prompt


def test_current_names_are_sent_and_a_name_a_speaker_has_is_not_proposed_again(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    answer = {
        "proposals": [
            {
                "speaker": "SPEAKER_00",
                "name": "jürgen",
                "confidence": 0.9,
                "evidence": [{"segment": 5, "quote": "I am Jürgen"}],
            },
            {
                "speaker": "SPEAKER_01",
                "name": "مريم",
                "confidence": 0.4,
                "evidence": [{"segment": 4, "quote": "Maria"}],
            },
        ]
    }
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(answer, ensure_ascii=False)))))
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    file_id = recording(conn, owner, CUES)
    conn.execute(
        "UPDATE speakers SET display_name = 'Jürgen' WHERE media_file_id = %s AND label = 'SPEAKER_00'", [file_id]
    )

    run_id = propose(workers, conn, owner, file_id, config)

    assert [(label, name, confidence) for label, name, confidence, _, _ in stored(workers, run_id)] == [
        ("SPEAKER_01", "مريم", 0.4)
    ]
    prompt = user_prompt(server.requests[0])
    assert "- SPEAKER_00: Jürgen\n- SPEAKER_01: no name yet" in prompt
    assert "[5] SPEAKER_00 (Jürgen): And I am Jürgen" in prompt
    assert names_of(workers, file_id) == [("SPEAKER_00", "Jürgen"), ("SPEAKER_01", None)]


def test_an_answer_that_is_not_json_is_repaired_once(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(
        in_turn(
            Reply(body=openai_answer("Sure! The speakers are {Maria and Jürgen}.")),
            Reply(body=openai_answer("```json\n" + json.dumps(GOOD) + "\n```")),
        )
    )
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    file_id = recording(conn, owner, CUES)

    run_id = propose(workers, conn, owner, file_id, config)

    run = run_row(workers, run_id)
    assert (run["status"], run["requests"]) == ("completed", 2)
    assert [(label, name) for label, name, _, _, _ in stored(workers, run_id)] == [
        ("SPEAKER_00", "Jürgen"),
        ("SPEAKER_01", "Maria"),
    ]
    repair = user_prompt(server.requests[1])
    assert "Sure! The speakers are {Maria and Jürgen}." in repair and "cannot be used" in repair
    assert "Sure! The speakers are" in run["raw_response"] and "--- repair ---" in run["raw_response"]


def test_invalid_twice_fails_quoting_the_model_and_stores_nothing(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    bad = {"proposals": [{"speaker": "SPEAKER_01", "name": "Maria", "confidence": 7, "evidence": []}]}
    server = serve(
        in_turn(Reply(body=openai_answer("I cannot tell who anyone is.")), Reply(body=openai_answer(json.dumps(bad))))
    )
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    file_id = recording(conn, owner, CUES)

    run_id = propose(workers, conn, owner, file_id, config)

    run = run_row(workers, run_id)
    assert run["status"] == "failed" and run["requests"] == 2
    assert "unusable JSON twice" in run["error_message"]
    assert '"confidence" must be a number from 0 to 1' in run["error_message"]
    assert '"confidence": 7' in run["error_message"]  # the model's last answer, quoted
    assert "I cannot tell who anyone is." in run["raw_response"]
    assert stored(workers, run_id) == []
    assert names_of(workers, file_id) == [("SPEAKER_00", None), ("SPEAKER_01", None)]
    assert [kind for (kind,) in workers.query("SELECT kind FROM notifications WHERE media_file_id = %s", file_id)] == [
        "error"
    ]


def test_a_file_without_a_transcript_fails_before_anything_is_sent(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(GOOD)))))
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    file_id = recording(conn, owner, [])

    run_id = propose(workers, conn, owner, file_id, config)

    run = run_row(workers, run_id)
    assert run["status"] == "failed" and "no transcript" in run["error_message"]
    assert server.requests == [] and run["requests"] == 0


def test_a_long_transcript_is_asked_in_parts_and_their_proposals_merged(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    cues = [
        (i * 3.0, i * 3.0 + 2.5, f"SPEAKER_0{i % 2}", f"Point number {i} of the agenda, about item {i % 5}.")
        for i in range(90)
    ]
    cues[1] = (3.0, 5.5, "SPEAKER_01", "Thanks, Maria, go ahead with the numbers.")
    cues[80] = (240.0, 242.5, "SPEAKER_00", "maria again: the numbers are final.")

    def answer(request: Received) -> Reply:
        """Per part: SPEAKER_01 may be Maria, citing the lines of this part that name her (confidence by part)."""
        lines = NUMBERED.findall(user_prompt(request))
        cited = [{"segment": int(n), "quote": "Maria"} for n, _, _, text in lines if "maria" in text.casefold()]
        first = int(lines[0][0]) == 1
        proposals = (
            [
                {
                    "speaker": "SPEAKER_01",
                    "name": "Maria" if first else "MARIA",
                    "confidence": 0.6 if first else 0.8,
                    "evidence": cited,
                }
            ]
            if cited
            else []
        )
        return Reply(body=openai_answer(json.dumps({"proposals": proposals})))

    server = serve(answer)
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server, max_tokens=200)
    conn.execute("UPDATE user_llm_configurations SET context_tokens = 1024 WHERE id = %s", [config.id])
    file_id = recording(conn, owner, cues)

    run_id = propose(workers, conn, owner, file_id, config)

    run = run_row(workers, run_id)
    parts = len(server.requests)
    assert run["status"] == "completed" and parts >= 3 and run["requests"] == parts
    prompts = [user_prompt(r) for r in server.requests]
    assert all(f"(Part {i} of {parts} of a longer transcript" in p for i, p in enumerate(prompts, 1))
    numbers = [int(n) for p in prompts for n, _, _, _ in NUMBERED.findall(p)]
    assert numbers == list(range(1, 91))  # every segment sent once, in order, numbered as in the whole
    [(label, name, confidence, evidence, status)] = stored(workers, run_id)
    assert (label, confidence, status) == ("SPEAKER_01", 0.8, "proposed")
    assert name == "MARIA"  # the spelling of the most confident part
    assert [(e["start_time"], e["quote"]) for e in evidence] == [(3.0, "Maria"), (240.0, "maria")]


def test_cancelled_while_the_model_thinks_stores_nothing(
    workers: WorkerEnv, conn: psycopg.Connection[Any], serve: Callable[[Responder], LocalServer]
) -> None:
    server = serve(in_turn(Reply(body=openai_answer(json.dumps(GOOD)), sleep=120)))  # held until released
    owner = factories.user(conn)
    config = add_config(workers, conn, owner, server)
    file_id = recording(conn, owner, CUES)
    with conn.transaction():
        run, queued = queue_run(conn, owner, "speaker_names", file_id, config.id)
    assert queued.enqueue(Redis.from_url(workers.redis_url))
    worker = workers.start()
    try:
        deadline = time.monotonic() + 60
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(server.requests) == 1, "the request reached the stand-in"
        LlmRunRepository(conn).request_cancel(owner, run.uuid)
        assert worker.wait(timeout=60) == 0
    finally:
        server.released.set()
        if worker.poll() is None:
            kill_group(worker)

    ended = run_row(workers, run.id)
    assert (ended["status"], ended["cancel_requested"]) == ("cancelled", True)
    assert stored(workers, run.id) == []
    assert names_of(workers, file_id) == [("SPEAKER_00", None), ("SPEAKER_01", None)]
