"""`opentr models pull embedding`: fetch the configured sentence-embedding model into `model_directory(settings)`.

Only what embeddings/encoder.py reads comes down: the ONNX export (`onnx/model.onnx`, as sentence-transformers and
intfloat publish it, else `model.onnx` at the top of the repository, with its `.onnx_data` weights file when the
export has one) and the tokenizer files. Both known models publish `onnx/model.onnx` beside the PyTorch,
safetensors and OpenVINO weights they also carry; a whole snapshot would be 4-6 times the download.

The files land in `<directory>.partial` first (the hub resumes an interrupted download from there) and the
directory takes its final name only once every file is in, so a worker never loads half a model. A directory given
in OPENTR_EMBEDDING_MODEL is used as it is: there is nothing to pull. As asr/models.py does, the hub's reachability
is checked first within `REACH_TIMEOUT_SECONDS`, and every failure is one line for the terminal (`PullFailed`;
`DownloadFailed` when the hub cannot be reached or refuses): a dead network never hangs the command.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from config.settings import Settings
from embeddings.models import KNOWN_MODELS, card, model_directory
from outbound.reach import hub_reachable

EMBEDDING = "embedding"  # the NAME of `opentr models pull NAME`
ONNX_FILES = ("onnx/model.onnx", "model.onnx")  # the first one the repository has is the model
TOKENIZER_FILE = "tokenizer.json"
# Read by the encoder when present (the pad token); kept beside the model so the directory says what it is.
OPTIONAL_FILES = ("special_tokens_map.json", "tokenizer_config.json", "config.json")


class PullFailed(RuntimeError):
    """The embedding model could not be fetched; the message is one line for the terminal."""


class DownloadFailed(PullFailed):
    """The model hub could not be reached or refused the download."""


@dataclass(frozen=True, slots=True)
class EmbeddingModelStatus:
    """What `opentr models list` says about the embedding model."""

    name: str
    directory: Path
    present: bool
    local: bool  # OPENTR_EMBEDDING_MODEL names a directory: nothing to pull


def status(settings: Settings) -> EmbeddingModelStatus:
    directory = model_directory(settings)
    local = _is_local(settings)
    return EmbeddingModelStatus(settings.opentr_embedding_model, directory, _complete(directory), local)


def listing(settings: Settings) -> str:
    """The embedding model's lines of `opentr models list`."""
    found = status(settings)
    where = "a local directory" if found.local else "pulled"
    lines = [
        f"embedding model (OPENTR_EMBEDDING_MODEL={found.name}; {where}):",
        f"  {found.directory}  {'present' if found.present else 'missing'}",
    ]
    if not found.present:
        fix = (
            "put model.onnx (or onnx/model.onnx) and tokenizer.json there"
            if found.local
            else "get it with: opentr models pull embedding"
        )
        lines.append(f"  without it search by meaning and questions are off (search by words works); {fix}")
    return "\n".join(lines)


def pull(settings: Settings) -> Path:
    """Download the configured embedding model into its directory; the directory. PullFailed/DownloadFailed: one
    line naming the model and the reason."""
    name = settings.opentr_embedding_model
    target = model_directory(settings)
    if _is_local(settings):
        raise PullFailed(f"{name} is a local model directory; there is nothing to download")
    from huggingface_hub import constants

    repo = card(settings).hub_repo
    label = f"cannot download the embedding model {name!r}"
    if not hub_reachable():
        raise DownloadFailed(f"{label}: {constants.ENDPOINT} cannot be reached")
    partial = target.with_name(target.name + ".partial")
    try:
        partial.mkdir(parents=True, exist_ok=True)
        _download(repo, partial)
    except PullFailed as exc:
        raise PullFailed(f"{label}: {exc}") from None
    except Exception as exc:  # the hub raises many kinds (HTTP, OS, its own); each means the same to the user
        raise DownloadFailed(f"{label}: {_one_line(exc)}") from None
    shutil.rmtree(partial / ".cache", ignore_errors=True)  # the hub's resume bookkeeping, useless once complete
    _put_in_place(partial, target)
    return target


def _download(repo: str, directory: Path) -> None:
    """The ONNX export and tokenizer files of `repo` into `directory`; PullFailed when the repository has none."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    def fetch(filename: str) -> bool:
        try:
            hf_hub_download(repo, filename, local_dir=str(directory))
        except RemoteEntryNotFoundError:  # the hub answered: no such file in this repository
            return False
        return True

    model = next((f for f in ONNX_FILES if fetch(f)), None)
    if model is None:
        raise PullFailed(f"{repo} has no ONNX export ({' or '.join(ONNX_FILES)})")
    fetch(model + "_data")  # weights over 2 GB live beside the graph; small exports have none
    if not fetch(TOKENIZER_FILE):
        raise PullFailed(f"{repo} has no {TOKENIZER_FILE} (the encoder's tokenizer)")
    for filename in OPTIONAL_FILES:
        fetch(filename)


def _put_in_place(partial: Path, target: Path) -> None:
    """Rename the complete download to its final name, replacing an earlier pull (never leaving neither)."""
    if target.exists():
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(partial, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(partial, target)


def _is_local(settings: Settings) -> bool:
    name = settings.opentr_embedding_model
    return name not in KNOWN_MODELS and Path(name).expanduser().is_absolute()


def _complete(directory: Path) -> bool:
    """Whether the directory holds what the encoder needs (not merely exists)."""
    has_model = any((directory / f).is_file() for f in ONNX_FILES)
    return has_model and (directory / TOKENIZER_FILE).is_file()


def _one_line(exc: BaseException) -> str:
    """The root cause's first line: the hub wraps an HTTP error in paragraphs of advice about the local cache."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]
