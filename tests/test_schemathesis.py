"""Schemathesis 4 over the whole OpenAPI document, against a real uvicorn, as a signed-in user with real data.

Both the example-based phases (explicit examples, coverage, fuzzing: well over 1,000 generated requests) and the
stateful phase (links inferred from the document) run with every check enabled; any failure fails the test. The
seed is fixed unless OPENTR_ST_SEED is set; CI's second pass runs a random seed instead and prints it, so a failure
can be replayed with `OPENTR_ST_SEED=<seed> pytest tests/test_schemathesis.py`.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from config.settings import Settings
from repo.rows import Actor
from tests import factories
from tests.fuzz_support import private_redis
from tests.test_fuzz_api import MAIL_NOWHERE, _closed_port, _user_id, arrange
from tests.web import register
from web.app import create_app

Pools = dict[str, list[str]]
FIXED_SEED = 20261201
MAX_EXAMPLES = int(os.environ.get("OPENTR_ST_EXAMPLES", "8"))  # per operation and phase: ~89 operations
STATEFUL_STEPS = int(os.environ.get("OPENTR_ST_STEPS", "8"))
STATEFUL_SCENARIOS = int(os.environ.get("OPENTR_ST_SCENARIOS", "60"))


@pytest.fixture
def live_server(app_settings: Settings) -> Iterator[str]:
    """The app under uvicorn on a free port (and a Redis of its own for the jobs its uploads enqueue)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with private_redis() as redis_url:
        settings = app_settings.model_copy(update={"redis_url": redis_url, "db_pool_max": 8, **MAIL_NOWHERE})
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
        server.should_exit = True
        thread.join(timeout=30)


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


def share_with_another(client: httpx.Client, url: str, headers: dict[str, str], pools: dict[str, list[str]]) -> Pools:
    """Sharing in place (Step 17): a second user B in a group with A; A shares a file (editor), the collection
    (viewer) and the profile with B and with the group, and makes a public link; B shares a file of B's with A (as
    commenter), so that A's requests also meet a file A may read and comment but not change. The pools of the
    sharing routes' identifiers, for the hooks (tests/schemathesis_hooks.py)."""
    email = f"zweite-{secrets.token_hex(3)}@example.com"
    bee = register(client, email)
    bee_uuid = _ok(client.get("/api/users/me", headers=bee))["uuid"]
    me_uuid = _ok(client.get("/api/users/me", headers=headers))["uuid"]
    group = _ok(client.post("/api/groups", headers=headers, json={"name": "Redaktion 編集部 📰"}), 201)["uuid"]
    _ok(client.post(f"/api/groups/{group}/members", headers=headers, json={"email": email}), 201)
    file, collection, profile = pools["files"][-1], pools["collections"][0], pools["speaker-profiles"][0]
    shares: dict[str, list[str]] = {}
    for kind, uuid, role in [
        ("files", file, "editor"),
        ("collections", collection, "viewer"),
        ("speaker-profiles", profile, "viewer"),
    ]:
        for grantee in ({"user_email": email}, {"group_uuid": group}):
            made = _ok(client.post(f"/api/{kind}/{uuid}/shares", headers=headers, json={**grantee, "role": role}))
            shares.setdefault(f"{kind}-shares", []).append(made["uuid"])
    link = _ok(client.post(f"/api/files/{file}/links", headers=headers, json={"expires_in_days": 7}), 201)
    with psycopg.connect(url, autocommit=True) as conn:
        _, theirs = factories.media_file(
            conn, Actor(_user_id(url, client, bee)), status="completed", title="Bs Aufnahme ب 🎧"
        )
    me = _ok(client.get("/api/users/me", headers=headers))["email"]
    _ok(client.post(f"/api/files/{theirs}/shares", headers=bee, json={"user_email": me, "role": "commenter"}))
    return {
        "files": [*pools["files"], str(theirs)],
        "groups": [group],
        "group-members": [bee_uuid, me_uuid],
        "links": [link["uuid"]],
        "public": [link["token"]],
        **shares,
    }


def run_schemathesis(base_url: str, seed: int, config: Path, report: Path, env: dict[str, str]) -> tuple[int, str]:
    command = [
        str(Path(sys.executable).with_name("st")),
        f"--config-file={config}",
        "run",
        f"{base_url}/api/openapi.json",
        "--checks=all",
        "--phases=examples,coverage,fuzzing,stateful",
        f"--seed={seed}",
        "--workers=1",  # hypothesis parses lambdas' source with `ast`, which is not thread-safe on Python 3.11
        "--no-color",
        "--report=ndjson",
        f"--report-ndjson-path={report}",
        "--request-timeout=30",
        "--generation-database=none",  # nothing written into the checkout; a seed replays a run
    ]
    # Run in the test's temporary directory: schemathesis keeps a crash cache in its working directory.
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False, cwd=report.parent)
    return done.returncode, done.stdout + done.stderr


def generated_cases(report: Path) -> int:
    count = 0
    for line in report.read_text().splitlines():
        event = json.loads(line)
        if "ScenarioFinished" in event:
            count += len(event["ScenarioFinished"].get("recorder", {}).get("cases", {}))
    return count


@pytest.mark.slow
def test_schemathesis_finds_nothing_over_the_whole_document(live_server: str, fresh_url: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=live_server, timeout=30) as client:
        headers = register(client)
        pools = arrange(client, fresh_url, headers, _closed_port()).pools
        user_id = _user_id(fresh_url, client, headers)
        pools |= share_with_another(client, fresh_url, headers, pools)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f"[generation]\nmax-examples = {MAX_EXAMPLES}\n\n"
        f"[phases.stateful]\nmax-steps = {STATEFUL_STEPS}\n\n"
        f"[phases.stateful.generation]\nmax-examples = {STATEFUL_SCENARIOS}\n\n"
        # Schemathesis's own list, plus 412: a well-formed If-Match naming a version the resource is no longer at
        # is refused by design (web/preconditions.py), as a conflicting state is (409); 410: a public link the run
        # revoked (web/public_links.py), as a deleted resource is 404.
        "[checks.positive_data_acceptance]\n"
        'expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "410", "412", "429", "5xx"]\n'
    )
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
        "OPENTR_ST_DATABASE": fresh_url,
        "OPENTR_ST_USER_ID": str(user_id),
        "OPENTR_ST_POOLS": json.dumps(pools),
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    }
    replay = os.environ.get("OPENTR_ST_SEED")
    fresh = random.SystemRandom().randrange(2**31)
    # One seed a run, each costs minutes: the fixed one on the embedded servers (a run anyone can repeat), a fresh one
    # in CI's second pass (the machine's servers, tests/conftest.py), which explores what the fixed one does not.
    second_pass = os.environ.get("OPENTR_TEST_SERVER_DEPENDENT_ONLY") == "1"
    seeds = [int(replay)] if replay else [fresh] if second_pass else [FIXED_SEED]
    total = 0
    for seed in seeds:
        print(f"\nschemathesis seed {seed} (replay: OPENTR_ST_SEED={seed} pytest {__file__})")
        report = tmp_path / f"events-{seed}.ndjson"
        code, output = run_schemathesis(live_server, seed, config, report, env)
        (tmp_path / f"output-{seed}.txt").write_text(output)
        assert code == 0, f"schemathesis failed with seed {seed}:\n{output[-20000:]}"
        total += generated_cases(report)
    assert total >= 500 * len(seeds), f"only {total} generated requests"
