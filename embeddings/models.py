"""Which sentence-embedding model this installation uses, where it lives on disk, and the loaded encoder.

OPENTR_EMBEDDING_MODEL is a known name (below: the prefixes each model was trained with), any Hugging Face id of an
ONNX export, or a directory. A name is looked up under `<models dir>/embedding/<org>--<name>/`, where
`opentr models pull embedding` puts it; a worker or a web process never downloads by itself: without the model,
embedding jobs fail with `EmbeddingModelMissing` naming that command, and search by meaning says it is off.
The name stored with each passage (`passages.model`) is `model_name(settings)`: a changed model makes every stored
passage stale, and they are embedded again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from config.settings import Settings
from embeddings.encoder import Encoder


class EmbeddingModelMissing(RuntimeError):
    """The configured embedding model is not on this machine; the message names the command that fetches it."""


@dataclass(frozen=True, slots=True)
class ModelCard:
    hub_repo: str
    query_prefix: str = ""
    passage_prefix: str = ""


KNOWN_MODELS: dict[str, ModelCard] = {
    # 384-d, ~100 languages, 118M parameters (~470 MB ONNX); trained with these prefixes
    "intfloat/multilingual-e5-small": ModelCard("intfloat/multilingual-e5-small", "query: ", "passage: "),
    # 384-d, English only, 23M parameters (~90 MB ONNX): faster, for English-only installations
    "sentence-transformers/all-MiniLM-L6-v2": ModelCard("sentence-transformers/all-MiniLM-L6-v2"),
}


def card(settings: Settings) -> ModelCard:
    name = settings.opentr_embedding_model
    return KNOWN_MODELS.get(name) or ModelCard(name)


def model_name(settings: Settings) -> str:
    """What `passages.model` records: the configured name, or `local/<directory name>` for a directory."""
    name = settings.opentr_embedding_model
    path = Path(name).expanduser()
    if name not in KNOWN_MODELS and path.is_absolute():
        return f"local/{path.name}"
    return name


def model_directory(settings: Settings) -> Path:
    """Where the configured model is (or would be, once pulled)."""
    name = settings.opentr_embedding_model
    path = Path(name).expanduser()
    if name not in KNOWN_MODELS and path.is_absolute():
        return path
    return settings.embedding_models_dir / card(settings).hub_repo.replace("/", "--")


_loaded: dict[tuple[Path, str, int], Encoder] = {}
_lock = threading.Lock()


def load_encoder(settings: Settings) -> Encoder:
    """The process's encoder of the configured model, loaded once; `EmbeddingModelMissing` when it is not here."""
    directory = model_directory(settings)
    key = (directory, model_name(settings), settings.opentr_embedding_threads)
    with _lock:
        encoder = _loaded.get(key)
        if encoder is None:
            if not directory.is_dir():
                raise EmbeddingModelMissing(
                    f"the embedding model {settings.opentr_embedding_model} is not on this machine ({directory}): "
                    "run `opentr models pull embedding`"
                )
            model = card(settings)
            encoder = Encoder(
                directory,
                name=key[1],
                query_prefix=model.query_prefix,
                passage_prefix=model.passage_prefix,
                threads=settings.opentr_embedding_threads,
            )
            _loaded[key] = encoder
        return encoder
