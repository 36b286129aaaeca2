"""Two ~20 KB ONNX models that sherpa-onnx's real diarization runs on, built offline with the `onnx` helper API.

"Voices" are pure tones: the segmentation model is a fixed (hand-computed, not trained) two-tone detector, so the
expected turns are known exactly, and the embedding model is a random projection of the mean log-mel spectrum, so
two tones get clearly different embeddings (cosine ~0.2) and one tone at two loudnesses nearly the same (~1.0).
The contracts are sherpa-onnx's: segmentation input [N, 1, T] -> [N, frames, 7] powerset log-probabilities with the
pyannote metadata; embedding input [N, T, 80] Kaldi fbank -> [N, dim] with the WeSpeaker metadata. Every model goes
through `_save`, which always writes every metadata key: sherpa-onnx ends the process on a missing one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SAMPLE_RATE = 16_000
TONE_A, TONE_B = 440.0, 1000.0
WINDOW_SECONDS = 3  # audio no longer than one window skips clustering: tests use several windows
EMBEDDING_DIM = 64


def _save(graph: Any, path: Path, metadata: dict[str, object]) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # loadable by older onnxruntime builds too
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def segmentation_model(path: Path, *, drop_metadata: str | None = None) -> Path:
    """Class 0 silence, 1 = TONE_A's speaker, 2 = TONE_B's; the overlap classes never win. `drop_metadata` leaves
    one required key out (to test that such a model is refused before sherpa-onnx sees it)."""
    rf_size, rf_shift = 991, 270  # frames <= window / shift, as sherpa-onnx requires
    t = np.arange(rf_size) / SAMPLE_RATE
    window = np.hanning(rf_size)
    filters = np.stack([f(2 * np.pi * tone * t) * window for tone in (TONE_A, TONE_B) for f in (np.cos, np.sin)])
    weights = filters[:, None, :].astype(np.float32)  # [4, 1, K]: cos and sin per tone
    energy = np.array([[1, 0], [1, 0], [0, 1], [0, 1]], np.float32)  # cos^2 + sin^2 per tone
    to_classes = np.zeros((2, 7), np.float32)
    to_classes[0, 1] = to_classes[1, 2] = 1.0
    bias = np.full(7, -1e4, np.float32)
    bias[0], bias[1], bias[2] = 0.0, 0.0, 0.0  # silence wins when neither tone has energy above 1
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["c"], strides=[rf_shift]),
        helper.make_node("Mul", ["c", "c"], ["c2"]),
        helper.make_node("Transpose", ["c2"], ["c2t"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["c2t", "P"], ["e"]),
        helper.make_node("Add", ["e", "eps"], ["e1"]),
        helper.make_node("Log", ["e1"], ["le"]),
        helper.make_node("MatMul", ["le", "M"], ["z0"]),
        helper.make_node("Add", ["z0", "B"], ["z"]),
        helper.make_node("LogSoftmax", ["z"], ["y"], axis=-1),
    ]
    initializers = [
        numpy_helper.from_array(weights, "W"),
        numpy_helper.from_array(energy, "P"),
        numpy_helper.from_array(to_classes, "M"),
        numpy_helper.from_array(bias, "B"),
        numpy_helper.from_array(np.array(1e-6, np.float32), "eps"),
    ]
    graph = helper.make_graph(
        nodes,
        "segmentation",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, "T"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "F", 7])],
        initializers,
    )
    window_samples = WINDOW_SECONDS * SAMPLE_RATE
    metadata: dict[str, object] = {
        "model_type": "pyannote",
        "version": 1,
        "model_author": "opentr tests",
        "sample_rate": SAMPLE_RATE,
        "window_size": window_samples,
        "window_shift": window_samples // 10,
        "receptive_field_size": rf_size,
        "receptive_field_shift": rf_shift,
        "num_speakers": 3,
        "powerset_max_classes": 2,
        "num_classes": 7,
    }
    metadata.pop(drop_metadata or "", None)
    return _save(graph, path, metadata)


def embedding_model(path: Path, *, seed: int = 0) -> Path:
    """A random projection of the per-utterance mean log-mel vector (spectrally centred): [N, T, 80] -> [N, 64]."""
    projection = np.random.default_rng(seed).standard_normal((80, EMBEDDING_DIM)).astype(np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["feats"], ["m"], axes=[1], keepdims=0),
        helper.make_node("ReduceMean", ["m"], ["mm"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["m", "mm"], ["mc"]),
        helper.make_node("MatMul", ["mc", "R"], ["embs"]),
    ]
    graph = helper.make_graph(
        nodes,
        "embedding",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["N", "T", 80])],
        [helper.make_tensor_value_info("embs", TensorProto.FLOAT, ["N", EMBEDDING_DIM])],
        [numpy_helper.from_array(projection, "R")],
    )
    metadata = {
        "framework": "wespeaker",
        "output_dim": EMBEDDING_DIM,
        "sample_rate": SAMPLE_RATE,
        "normalize_samples": 1,
        "language": "English",
        "comment": "tiny random test model",
    }
    return _save(graph, path, metadata)


def build_tiny_diarization(directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return segmentation_model(directory / "segmentation.onnx"), embedding_model(directory / "embedding.onnx")


def tone(frequency: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def alternating(turns: int = 5, seconds: float = 2.0) -> np.ndarray:
    """TONE_A, TONE_B, TONE_A… `turns` times: the expected turns are [2i, 2i+2) alternating two speakers."""
    return np.concatenate([tone(TONE_A if i % 2 == 0 else TONE_B, seconds) for i in range(turns)])
