"""A tiny random-weight Whisper model in CTranslate2 format, built offline in well under a second (~2 MB).

No torch, transformers or network: numpy weights poured into ctranslate2's `WhisperSpec`, and a byte-level BPE
tokenizer carrying Whisper's special tokens. The real faster-whisper runs on it; what it says is garbage, so tests
assert the structure of its output (times, order, words, progress), never the text. Pitfalls this layout avoids:
- token order is load-bearing: every text id < <|endoftext|>; <|startoftranscript|> .. <|notimestamps|> contiguous;
  the timestamp ids <|0.00|> .. <|30.00|> fill the rest of the vocabulary;
- the tokenizer must encode any string (faster-whisper encodes " -"), hence the 256 byte symbols;
- tokenizer.json must sit in the model directory, else faster-whisper fetches openai/whisper-tiny from the hub;
- multilingual (language detection) needs ctranslate2 >= 4.7, which recognises it by an empty-string token.
Decode it greedily (one temperature, beam 1): random weights make every temperature fallback fire otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

WIDTH, HEADS, LAYERS, MELS, FFN = 64, 2, 1, 80, 256
SPECIALS_BEFORE_TIMESTAMPS = [
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
]


def build_tiny_whisper(out_dir: Path, seed: int = 0, multilingual: bool = False) -> Path:
    """Write the model (model.bin, config.json, vocabulary, tokenizer.json) into `out_dir` and return it.
    English-only by default, like `tiny.en`; `multilingual` adds Whisper's language tokens, so it detects one."""
    from ctranslate2.converters.converter import Converter
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    languages = list(_LANGUAGE_CODES) if multilingual else []
    tokenizer, tokens = _tokenizer(languages)
    rng = np.random.default_rng(seed)
    eot = tokens.index("<|endoftext|>")

    class RandomWhisper(Converter):  # type: ignore[misc]
        def _load(self) -> Any:
            return _spec(rng, tokens, eot, len(languages))

    RandomWhisper().convert(str(out_dir), force=True)
    tokenizer.save(str(out_dir / "tokenizer.json"))
    preprocessor = {"feature_size": MELS, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 30, "n_fft": 400}
    (out_dir / "preprocessor_config.json").write_text(json.dumps(preprocessor))
    return out_dir


def _tokenizer(languages: list[str]) -> tuple[Any, list[str]]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    # GPT-2's bytes_to_unicode: one printable symbol per byte, id == byte value, no merges.
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    others = [b for b in range(256) if b not in printable]
    symbol = {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(others)}
    vocabulary = {symbol[b]: b for b in range(256)} | ({"": 256} if languages else {})
    tokenizer = Tokenizer(models.BPE(vocab=vocabulary, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    start, rest = SPECIALS_BEFORE_TIMESTAMPS[:2], SPECIALS_BEFORE_TIMESTAMPS[2:]
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    tokenizer.add_special_tokens(start + [f"<|{code}|>" for code in languages] + rest + timestamps)
    tokens = [str(tokenizer.id_to_token(i)) for i in range(tokenizer.get_vocab_size())]
    assert tokens[len(vocabulary)] == "<|endoftext|>" and tokens[-1] == "<|30.00|>", "the order faster-whisper needs"
    return tokenizer, tokens


def _spec(rng: np.random.Generator, tokens: list[str], eot: int, languages: int) -> Any:
    from ctranslate2.specs import whisper_spec

    def weights(*shape: int) -> npt.NDArray[np.float32]:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def zeros(n: int) -> npt.NDArray[np.float32]:
        return np.zeros(n, np.float32)

    def norm(spec: Any) -> None:
        spec.gamma, spec.beta = np.ones(WIDTH, np.float32), zeros(WIDTH)

    def linear(spec: Any, n_out: int, n_in: int) -> None:
        spec.weight, spec.bias = weights(n_out, n_in), zeros(n_out)

    def block(layer: Any, cross: bool) -> None:
        norm(layer.self_attention.layer_norm)
        linear(layer.self_attention.linear[0], 3 * WIDTH, WIDTH)  # fused q, k, v
        linear(layer.self_attention.linear[1], WIDTH, WIDTH)
        if cross:
            norm(layer.attention.layer_norm)
            linear(layer.attention.linear[0], WIDTH, WIDTH)
            linear(layer.attention.linear[1], 2 * WIDTH, WIDTH)  # fused k, v over the encoder output
            linear(layer.attention.linear[2], WIDTH, WIDTH)
        norm(layer.ffn.layer_norm)
        linear(layer.ffn.linear_0, FFN, WIDTH)
        linear(layer.ffn.linear_1, WIDTH, FFN)

    spec = whisper_spec.WhisperSpec(LAYERS, HEADS, LAYERS, HEADS)
    encoder, decoder = spec.encoder, spec.decoder
    encoder.conv1.weight, encoder.conv1.bias = weights(WIDTH, MELS, 3), zeros(WIDTH)
    encoder.conv2.weight, encoder.conv2.bias = weights(WIDTH, WIDTH, 3), zeros(WIDTH)
    encoder.position_encodings.encodings = weights(1500, WIDTH)  # 3000 mel frames, conv stride 2
    norm(encoder.layer_norm)
    for layer in encoder.layer:
        block(layer, cross=False)
    decoder.embeddings.weight = weights(len(tokens), WIDTH)
    decoder.position_encodings.encodings = weights(448, WIDTH)
    norm(decoder.layer_norm)
    decoder.projection.weight = decoder.embeddings.weight  # tied, as in Whisper
    for layer in decoder.layer:
        block(layer, cross=True)
    spec.register_vocabulary(tokens)
    spec.config.suppress_ids = []
    spec.config.suppress_ids_begin = [32, eot]  # " " and <|endoftext|>
    spec.config.lang_ids = list(range(eot + 2, eot + 2 + languages))  # right after <|startoftranscript|>
    spec.config.alignment_heads = [[LAYERS // 2, head] for head in range(HEADS)]
    return spec
