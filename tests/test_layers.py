"""Dependencies point one way: read every module's imports (with ast, so imports inside functions count too).

Each package may import only the project packages listed for it below. From the bottom: `outbound` (SSRF guard,
retry helpers), `credentials` (hashes, sealing) and `transcript` (a transcript's segments, words and speakers, and
the conversions between their forms) import nothing of ours; `config` (settings) reads `outbound`'s
address allowances; `embedded` (servers for a bare machine) reads `config`; `repo/` is data access on top of those;
speech engines, LLM clients, media decoding and storage never reach into `repo/`; `web/` and `workers/` use what
is below them and never each other; only `opentr_cli/` (the command line and the dev server) wires them all.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import PROJECT_ROOT

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

BASE = frozenset({"config", "outbound"})
ALLOWED: dict[str, frozenset[str]] = {
    "outbound": frozenset(),
    "credentials": frozenset(),
    "transcript": frozenset(),  # the vocabulary every layer speaks
    "config": frozenset({"outbound"}),
    "embedded": frozenset({"config"}),
    "repo": frozenset({"config", "credentials", "embedded", "transcript"}),
    "media": BASE,
    "asr": BASE | {"transcript"},
    "llm": BASE,
    "embeddings": BASE,  # a sentence-embedding model run locally; web/ embeds queries, workers/ passages
    "storage": BASE,
    "jobs": BASE | {"repo", "transcript"},  # what web/ and workers/ share to enqueue jobs
    # media: an upload is recognised by its content; asr: the upload page says whether a speech model is there
    "web": BASE
    | {"credentials", "embedded", "repo", "jobs", "llm", "embeddings", "storage", "media", "asr", "transcript"},
    "workers": BASE | {"credentials", "repo", "jobs", "llm", "embeddings", "storage", "asr", "media", "transcript"},
    "importers": BASE | {"credentials", "repo", "storage", "transcript"},  # reads another database
}
PROJECT = frozenset({*ALLOWED, "opentr_cli", "bench", "tests"})


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str) -> Iterator[str]:
    """Every module `path` imports, absolute, as dotted names (`from workers import dispatch` -> workers.dispatch)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*package, *([base] if base else [])])
            if "." not in base:  # `from workers import dispatch` names a module of the package
                yield from (f"{base}.{alias.name}" for alias in node.names)
            else:
                yield base


def violations(root: Path) -> list[str]:
    """Every import that breaks a rule, as "module imports module"."""
    broken: list[str] = []
    for layer, allowed in ALLOWED.items():
        for path in sorted((root / layer).rglob("*.py")):
            module = module_name(path, root)
            broken.extend(
                f"{module} imports {imported}"
                for imported in imports(path, module)
                if imported.split(".")[0] in PROJECT - allowed - {layer}
            )
    return broken


def test_every_layer_imports_only_the_layers_below_it() -> None:
    assert violations(PROJECT_ROOT) == []


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    (tmp_path / "repo" / "sub").mkdir(parents=True)
    for layer in ("storage", "web", "workers"):
        (tmp_path / layer).mkdir()
    (tmp_path / "repo" / "cli.py").write_text("def run() -> None:\n    from workers.runner import run_worker\n")
    (tmp_path / "repo" / "sub" / "__init__.py").write_text("from .. import settings\nimport web.app\n")
    (tmp_path / "workers" / "job.py").write_text("from web import errors\nfrom . import steps\n")
    assert violations(tmp_path) == [
        "repo.cli imports workers.runner",
        "repo.sub imports web.app",
        "workers.job imports web.errors",
    ]
