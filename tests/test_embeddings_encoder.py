"""The embedding encoder on a tiny random-weight model: structure and lexical overlap, never meaning."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from config.settings import Settings
from embeddings.encoder import Encoder, EncoderError
from embeddings.models import EmbeddingModelMissing, load_encoder, model_name

pytestmark = pytest.mark.same_on_every_server  # reaches no server DATABASE_URL / REDIS_URL name (see conftest)

TEXTS = [
    "the meeting starts at nine in the morning",
    "the meeting starts at ten in the morning",
    "quick brown fox jumps over lazy dogs",
    "Please send the budget report before lunch, danke schön! 会議 😀 اجتماع",
]


def test_vectors_are_unit_length_of_the_models_dimension_and_independent_of_batching(tiny_embedding_dir: Path) -> None:
    encoder = Encoder(tiny_embedding_dir, name="tiny")
    vectors = encoder.passages(TEXTS)
    assert encoder.dimensions == 64 and vectors.shape == (4, 64) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    one_by_one = np.stack([encoder.passages([t])[0] for t in TEXTS])
    assert np.allclose(one_by_one, vectors, atol=1e-5)  # padding in a batch changes nothing
    assert encoder.passages([]).shape == (0, 64)


def test_texts_sharing_most_words_are_closer_than_texts_sharing_none(tiny_embedding_dir: Path) -> None:
    encoder = Encoder(tiny_embedding_dir, name="tiny")
    a, a2, b, _ = encoder.passages(TEXTS)
    assert float(a @ a2) > float(a @ b) + 0.2
    assert float(encoder.query(TEXTS[0]) @ a) == pytest.approx(1.0, abs=1e-5)  # no prefixes: same text, same vector


def test_prefixes_reach_the_model(tiny_embedding_dir: Path) -> None:
    plain = Encoder(tiny_embedding_dir, name="tiny")
    prefixed = Encoder(tiny_embedding_dir, name="tiny", query_prefix="question: ", passage_prefix="text: ")
    assert not np.allclose(plain.query(TEXTS[0]), prefixed.query(TEXTS[0]), atol=1e-3)
    assert not np.allclose(prefixed.query(TEXTS[0]), prefixed.passages([TEXTS[0]])[0], atol=1e-3)


def test_a_directory_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match=r"model\.onnx"):
        Encoder(tmp_path, name="empty")


def test_the_configured_model_loads_once_and_a_missing_one_names_the_pull_command(
    tiny_embedding_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(opentr_home=tmp_path, opentr_embedding_model=str(tiny_embedding_dir))
    assert load_encoder(settings) is load_encoder(settings)
    assert model_name(settings) == "local/tiny-bert"
    missing = Settings(opentr_home=tmp_path, opentr_embedding_model="sentence-transformers/all-MiniLM-L6-v2")
    with pytest.raises(EmbeddingModelMissing, match="opentr models pull embedding"):
        load_encoder(missing)
