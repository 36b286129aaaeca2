"""`python -m bench --smoke` runs end to end: every measure produces figures and the JSON is written.

Nothing here is about speed: the smoke sizes are tiny and CI machines are noisy. The benchmark picks its servers the
way the rest of the suite does (DATABASE_URL / REDIS_URL, else embedded ones it starts itself) and its load
generator the way a user's machine would (wrk when installed, else bench/loadgen.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from config.settings import PROJECT_ROOT

MEASURES = {
    "layer",
    "orm",
    "search",
    "http",
    "pool_sizing",
    "ingest",
    "asr",
    "speakers",
    "speakers_plain_scan",
    "sharing",
    "rls",
    "embedding_windows",
    "embedding",
    "embedding_ingest",
    "vectors",
    "oldstack",
    "concurrency",
}


def test_smoke_run_writes_every_measure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    written = list(tmp_path.glob("*.json"))
    assert len(written) == 1, written
    report = json.loads(written[0].read_text())
    assert set(report["measures"]) == MEASURES
    for name, measure in report["measures"].items():
        assert "error" not in measure, (name, measure)
        assert measure["rows"], name
    assert report["dataset"]["transcript_segments"] == report["options"]["segments"]
    targets = {t["target"].split(":")[0] for t in report["targets"]}
    assert targets == {
        "layer", "ORM", "search", "ingest", "asr", "speakers", "sharing", "RLS", "vectors",
        "file page vs the old stack", "200 concurrent clients",
    }  # fmt: skip
    assert report["measures"]["pool_sizing"]["extra"]["recommended_pool_size"] in report["options"]["pool_sizes"]
    # The slowest search is explained as in a full run: the plan of the very query a search sends.
    slowest = report["measures"]["search"]["extra"]["slowest"]
    assert any("Execution Time" in line for line in slowest["plan"]), slowest
    # faster-whisper's batched pipeline against the sequential path, on the tiny model (bench/asr.py)
    steps = [row["step"] for row in report["measures"]["asr"]["rows"]]
    assert "tiny model, CPU: beam 5, sequential" in steps
    assert "tiny model, CPU: beam 5, batched (8 chunks at a time)" in steps
    assert all(ratio > 0 for ratio in report["measures"]["asr"]["extra"]["batched_vs_sequential"].values())
    # Search by meaning: the raw query of the index shape is answered by the HNSW index, not a scan
    vectors = report["measures"]["vectors"]
    assert any("passages_embedding_hnsw_384" in line for line in vectors["extra"]["plan_indexed"]), vectors["extra"]
    assert not any("passages_embedding_hnsw_384" in line for line in vectors["extra"]["plan_exact"])
    assert vectors["extra"]["dataset"]["passages"] == report["options"]["segments"] // 5
    # The old stack answered the same page (bench/oldstack.py checks the fields) and both stacks' CPU was split.
    assert {row["stack"] for row in report["measures"]["oldstack"]["rows"]} == {"old stack", "ours"}
    # 200 clients on each of the pool, the replica and PgBouncer, every answer counted by status
    rows = report["measures"]["concurrency"]["rows"]
    assert {row["reads"] for row in rows} == {
        "pool on the primary", "replica (DATABASE_REPLICA_URLS)", "PgBouncer, transaction mode"
    }  # fmt: skip
    assert all(row["requests"] > 0 for row in rows), rows
    assert "== targets" in done.stdout and str(written[0]) in done.stdout
