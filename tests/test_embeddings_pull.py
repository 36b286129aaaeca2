"""`opentr models pull embedding` and `opentr models list`, offline: a stand-in hub on loopback serves the tiny model
(tests/tiny_embedding.py) the way the real hub serves an ONNX export; a dead or refusing hub gives one line, no hang."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from config.settings import Settings
from embeddings import models, pull

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

CLOSED_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens there
DEFAULT = "intfloat/multilingual-e5-small"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HINT = (
    "Without it, search by words works; search by meaning and questions stay off until the model is here "
    "(or OPENTR_EMBEDDING_MODEL names a directory holding model.onnx and tokenizer.json)"
)


def opentr(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "HF_HUB_OFFLINE")}
    environment = {k: v for k, v in environment.items() if not k.startswith("OPENTR_")}
    environment |= {"OPENTR_HOME": str(tmp_path / "home"), **env}
    return subprocess.run(
        [sys.executable, "-m", "opentr_cli", "models", *args],
        env=environment,
        text=True,
        capture_output=True,
        timeout=60,
    )


def settings_of(tmp_path: Path, model: str = DEFAULT) -> Settings:
    return Settings(opentr_home=tmp_path / "home", opentr_embedding_model=model)


class _Hub(BaseHTTPRequestHandler):
    """A model hub's file route: /<org>/<name>/resolve/<revision>/<path> for what `files` holds (keyed by
    "<org>/<name>/<path>"), 404 EntryNotFound for the rest; `refuse` answers a bare 404 to everything."""

    files: dict[str, bytes] = {}
    refuse = False
    requested: list[str] = []

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        self.requested.append(self.path)
        parts = self.path.split("?")[0].lstrip("/").split("/")
        key = "/".join(parts[:2] + parts[4:]) if len(parts) > 4 and parts[2] == "resolve" else ""
        data = None if self.refuse else self.files.get(key)
        if data is None:
            self.send_response(404)
            if not self.refuse:
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[tuple[str, type[_Hub]]]:
    handler = type("Handler", (_Hub,), {"files": {}, "refuse": False, "requested": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def serve_tiny_model(handler: type[_Hub], tiny: Path, repo: str = DEFAULT, model_path: str = "onnx/model.onnx") -> None:
    """The tiny model laid out as the known models publish theirs: the graph under onnx/, tokenizer files on top,
    plus weights in other formats the encoder has no use for."""
    handler.files[f"{repo}/{model_path}"] = (tiny / "model.onnx").read_bytes()
    for name in ("tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"):
        handler.files[f"{repo}/{name}"] = (tiny / name).read_bytes()
    handler.files[f"{repo}/model.safetensors"] = b"not wanted"
    handler.files[f"{repo}/onnx/model_O4.onnx"] = b"not wanted either"


@pytest.mark.parametrize("offline", [{"HF_ENDPOINT": CLOSED_ENDPOINT}, {"HF_HUB_OFFLINE": "1"}])
def test_pull_offline_is_one_line_then_what_still_works(tmp_path: Path, offline: dict[str, str]) -> None:
    result = opentr(tmp_path, "pull", "embedding", **offline)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"opentr: cannot download the embedding model '{DEFAULT}': ")
    assert lines[0].endswith("cannot be reached")
    assert lines[1:] == [HINT]
    assert not (tmp_path / "home" / "models" / "embedding").exists()


def test_pull_with_a_directory_configured_has_nothing_to_do(tmp_path: Path, tiny_embedding_dir: Path) -> None:
    result = opentr(tmp_path, "pull", "embedding", OPENTR_EMBEDDING_MODEL=str(tiny_embedding_dir))

    assert result.returncode == 1
    expected = f"opentr: {tiny_embedding_dir} is a local model directory; there is nothing to download"
    assert result.stderr.strip() == expected


def test_pull_from_a_hub_that_refuses_is_one_line(tmp_path: Path, hub: tuple[str, type[_Hub]]) -> None:
    url, handler = hub
    handler.refuse = True

    result = opentr(tmp_path, "pull", "embedding", HF_ENDPOINT=url)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"opentr: cannot download the embedding model '{DEFAULT}': ")
    assert "404" in lines[0] and lines[1:] == [HINT]
    assert "Traceback" not in result.stderr
    assert not models.model_directory(settings_of(tmp_path)).exists()


def test_pull_fetches_only_what_the_encoder_reads_and_load_encoder_finds_it(
    tmp_path: Path, hub: tuple[str, type[_Hub]], tiny_embedding_dir: Path
) -> None:
    url, handler = hub
    serve_tiny_model(handler, tiny_embedding_dir)

    result = opentr(tmp_path, "pull", "embedding", HF_ENDPOINT=url)

    assert result.returncode == 0, result.stderr
    settings = settings_of(tmp_path)
    directory = models.model_directory(settings)
    assert directory == tmp_path / "home" / "models" / "embedding" / "intfloat--multilingual-e5-small"
    assert f"embedding model {DEFAULT} is ready in {directory}" in result.stdout
    pulled = sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())
    assert pulled == [
        "config.json",
        "onnx/model.onnx",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert not any("safetensors" in path or "model_O4" in path for path in handler.requested)
    assert [p.name for p in directory.parent.iterdir()] == [directory.name]  # no .partial left behind
    encoder = models.load_encoder(settings)
    assert encoder.directory == directory and encoder.dimensions == 64
    vector = encoder.query("the budget meeting — Besprechung — 予算 🎧")
    assert vector.shape == (64,) and np.isclose(float(np.linalg.norm(vector)), 1.0, atol=1e-5)


def test_a_model_with_its_graph_at_the_top_is_pulled_too(
    tmp_path: Path, hub: tuple[str, type[_Hub]], tiny_embedding_dir: Path
) -> None:
    url, handler = hub
    serve_tiny_model(handler, tiny_embedding_dir, repo="someone/tiny-onnx", model_path="model.onnx")

    result = opentr(tmp_path, "pull", "embedding", HF_ENDPOINT=url, OPENTR_EMBEDDING_MODEL="someone/tiny-onnx")

    assert result.returncode == 0, result.stderr
    settings = settings_of(tmp_path, "someone/tiny-onnx")
    assert (models.model_directory(settings) / "model.onnx").is_file()
    assert models.load_encoder(settings).dimensions == 64


def test_a_repository_without_an_onnx_export_is_named_and_nothing_is_kept(
    tmp_path: Path, hub: tuple[str, type[_Hub]], tiny_embedding_dir: Path
) -> None:
    url, handler = hub
    serve_tiny_model(handler, tiny_embedding_dir)
    del handler.files[f"{DEFAULT}/onnx/model.onnx"]

    result = opentr(tmp_path, "pull", "embedding", HF_ENDPOINT=url)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"opentr: cannot download the embedding model '{DEFAULT}': "
        f"{DEFAULT} has no ONNX export (onnx/model.onnx or model.onnx)"
    )
    assert not models.model_directory(settings_of(tmp_path)).exists()
    with pytest.raises(models.EmbeddingModelMissing, match="run `opentr models pull embedding`"):
        models.load_encoder(settings_of(tmp_path))


def test_a_second_pull_replaces_the_first(
    tmp_path: Path, hub: tuple[str, type[_Hub]], tiny_embedding_dir: Path
) -> None:
    url, handler = hub
    serve_tiny_model(handler, tiny_embedding_dir)
    assert opentr(tmp_path, "pull", "embedding", HF_ENDPOINT=url).returncode == 0
    directory = models.model_directory(settings_of(tmp_path))
    (directory / "stale.txt").write_text("from the first pull")

    again = opentr(tmp_path, "pull", "embedding", HF_ENDPOINT=url)

    assert again.returncode == 0, again.stderr
    assert not (directory / "stale.txt").exists() and (directory / "onnx" / "model.onnx").is_file()
    assert sorted(p.name for p in directory.parent.iterdir()) == [directory.name]


def test_models_list_says_whether_the_embedding_model_is_here(
    tmp_path: Path, hub: tuple[str, type[_Hub]], tiny_embedding_dir: Path
) -> None:
    url, handler = hub
    directory = models.model_directory(settings_of(tmp_path))

    before = opentr(tmp_path, "list").stdout.splitlines()
    serve_tiny_model(handler, tiny_embedding_dir)
    assert opentr(tmp_path, "pull", "embedding", HF_ENDPOINT=url).returncode == 0
    after = opentr(tmp_path, "list").stdout.splitlines()
    local = opentr(tmp_path, "list", OPENTR_EMBEDDING_MODEL=str(tiny_embedding_dir)).stdout.splitlines()

    heading = f"embedding model (OPENTR_EMBEDDING_MODEL={DEFAULT}; pulled):"
    assert before[before.index(heading) + 1 :] == [
        f"  {directory}  missing",
        "  without it search by meaning and questions are off (search by words works); "
        "get it with: opentr models pull embedding",
    ]
    assert after[after.index(heading) + 1 :] == [f"  {directory}  present"]
    local_heading = f"embedding model (OPENTR_EMBEDDING_MODEL={tiny_embedding_dir}; a local directory):"
    assert local[local.index(local_heading) + 1 :] == [f"  {tiny_embedding_dir}  present"]


def test_status_needs_the_graph_and_the_tokenizer_not_merely_the_directory(tmp_path: Path) -> None:
    settings = settings_of(tmp_path)
    directory = models.model_directory(settings)
    directory.mkdir(parents=True)
    (directory / "tokenizer.json").write_text("{}")

    assert not pull.status(settings).present
    (directory / "onnx").mkdir()
    (directory / "onnx" / "model.onnx").write_bytes(b"graph")
    assert pull.status(settings).present
