"""A sentence-embedding model in ONNX form (model.onnx + tokenizer.json, as sentence-transformers exports it),
run on CPU through ONNX Runtime with the `tokenizers` library: both come with faster-whisper already, so the
encoder adds no dependency. Vectors are mean-pooled over real tokens (the attention mask reaches the attention,
inside the model, and the pooling, here) and unit length, so cosine similarity is their dot product.

Models such as multilingual-e5 expect a prefix on each text ("query: " / "passage: "): the caller says which
(embeddings/models.py knows them per model); they are never guessed from token ids.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

Vectors = npt.NDArray[np.float32]
BATCH = 32  # texts per ONNX run: larger batches pad more and gain little on CPU
MAX_TOKENS = 512  # BERT exports fail past their position table: truncate whatever the tokenizer file says


class EncoderError(RuntimeError):
    """The model directory is missing something or holds something unusable; one line for the operator."""


class Encoder:
    def __init__(
        self,
        directory: Path,
        *,
        name: str,
        query_prefix: str = "",
        passage_prefix: str = "",
        threads: int = 1,
    ) -> None:
        self.name = name
        self.directory = directory
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        candidates = (directory / "model.onnx", directory / "onnx" / "model.onnx")
        model_file = next((p for p in candidates if p.is_file()), None)
        tokenizer_file = directory / "tokenizer.json"
        if model_file is None or not tokenizer_file.is_file():
            raise EncoderError(f"{directory}: an embedding model needs model.onnx (or onnx/model.onnx), tokenizer.json")
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_padding(pad_id=_pad_id(self._tokenizer, directory), pad_token=_pad_token(directory))
        truncation = self._tokenizer.truncation
        limit = min(int(truncation["max_length"]) if truncation else MAX_TOKENS, MAX_TOKENS)
        self._tokenizer.enable_truncation(max_length=limit)
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types, one per failure kind
            raise EncoderError(f"{model_file}: ONNX Runtime cannot load it ({exc})") from exc
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._output = self._session.get_outputs()[0].name
        self._lock = threading.Lock()  # one run at a time: a session's threads are the model's, not the caller's
        self.dimensions = int(self.passages(["dimension probe"]).shape[1])

    def passages(self, texts: Sequence[str]) -> Vectors:
        """One unit vector per text, shape (len(texts), dimensions)."""
        return self._embed([self.passage_prefix + t for t in texts])

    def query(self, text: str) -> Vectors:
        """The unit vector of a search query or question, shape (dimensions,)."""
        vector: Vectors = self._embed([self.query_prefix + text])[0]
        return vector

    def _embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, getattr(self, "dimensions", 0)), np.float32)
        return np.concatenate([self._batch(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])

    def _batch(self, texts: list[str]) -> Vectors:
        encoded = self._tokenizer.encode_batch(texts)
        mask = np.asarray([e.attention_mask for e in encoded], np.int64)
        feed = {
            "input_ids": np.asarray([e.ids for e in encoded], np.int64),
            "attention_mask": mask,
            "token_type_ids": np.asarray([e.type_ids for e in encoded], np.int64),
        }
        with self._lock:
            hidden = self._session.run([self._output], {k: v for k, v in feed.items() if k in self._inputs})[0]
        if hidden.ndim == 2:  # an export with pooling (and normalisation) inside the graph
            pooled = hidden.astype(np.float32)
        else:
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        unit: Vectors = (pooled / norms).astype(np.float32)
        return unit


def _special(directory: Path) -> dict[str, object]:
    path = directory / "special_tokens_map.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _pad_token(directory: Path) -> str:
    token = _special(directory).get("pad_token", "[PAD]")
    if isinstance(token, dict):  # {"content": "<pad>", ...} in some exports
        token = token.get("content", "[PAD]")
    return str(token)


def _pad_id(tokenizer: Tokenizer, directory: Path) -> int:
    """The pad token's id from the tokenizer itself (config.json's pad_token_id can disagree: multilingual-e5)."""
    token_id = tokenizer.token_to_id(_pad_token(directory))
    return 0 if token_id is None else token_id
