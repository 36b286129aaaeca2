"""A tiny random-weight sentence-embedding model (BERT layout, ONNX + tokenizer.json), built offline in ~0.05 s.

No torch, transformers or network: the onnx helper API, numpy weights and a WordPiece tokenizer, laid out like the
ONNX export of a sentence-transformers model. embeddings/encoder.py loads it exactly as it loads a real one. Its
weights are random, so tests assert structure (dimension, unit norm, padding invariance, batch == one by one) and
lexical overlap only (texts sharing most words are closer than texts sharing none), never "meaning".
Worked example and pitfalls: ../shared/research/tiny-embedding.py (IR 8 and opset 14 so older onnxruntime loads it;
dynamic axes; int64 inputs; special tokens as added tokens; truncation kept on).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

HIDDEN, HEADS, FFN, LAYERS, MAX_POS, MAX_LEN, OPSET, IR = 64, 2, 128, 1, 512, 256, 14, 8
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
_WORD_LIST = """the a an and or but if of to in on at by for with from as is are was were be been being have has had do
does did not no yes this that these those it its he she they we you i me him her them us my your our their what who
which when where why how all any some many much more most other one two three four five six seven eight nine ten
first last next new old good bad big small long short high low great little same different right left here there
now then today tomorrow yesterday morning evening night day week month year time hour minute second meeting call
agenda budget project team plan report review update question answer decision action item customer client sale
price cost money bank market stock share company business office work job home house room door window table chair
car bus train road city town country world people person man woman child family friend doctor patient hospital
school student teacher book page word text language speech audio video file record recording transcript summary
speaker voice sound music song weather rain snow sun wind cloud cold hot warm water river sea lake mountain tree
forest garden flower cat dog bird fish horse cow animal food bread cheese apple coffee tea milk dinner lunch
breakfast kitchen cook eat drink sleep walk run go come get make take give see look know think say tell talk speak
listen hear ask want need like love help start stop open close begin end finish send receive buy sell pay read
write play watch wait stay leave move turn find lose keep put set show try use call feel become seem sit stand lie
red green blue black white yellow brown quick lazy slow fast fox jumps over under about after before again against
between during into through until up down out off very too also only just still even well never always often
sometimes please thank thanks sorry hello goodbye ok okay"""
WORDS = _WORD_LIST.split()
SUFFIXES = ["##s", "##es", "##ed", "##ing", "##ly", "##er", "##est", "##tion", "##ment", "##ness", "##ful", "##able"]
CHARS = (
    list("abcdefghijklmnopqrstuvwxyz0123456789")
    + [chr(c) for c in range(33, 127) if not chr(c).isalnum()]
    + [chr(c) for c in range(0x430, 0x450)]  # Cyrillic a..ya (after lowercase + accent stripping)
)
Floats = npt.NDArray[np.float32]


def _vocab() -> dict[str, int]:
    """BERT-uncased id layout: [PAD]=0, [unused0..98]=1..99, [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103."""
    tokens = [PAD] + [f"[unused{i}]" for i in range(99)] + [UNK, CLS, SEP, MASK]
    alnum = [c for c in CHARS if c.isalnum()]
    for t in CHARS + ["##" + c for c in alnum] + SUFFIXES + WORDS:
        if t not in tokens:
            tokens.append(t)
    return {t: i for i, t in enumerate(tokens)}


def _tokenizer(vocab: dict[str, int]) -> Tokenizer:
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token=UNK, max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}",
        pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, vocab[CLS]), (SEP, vocab[SEP])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens([PAD, UNK, CLS, SEP, MASK])  # "added_tokens": never split or lowercased
    tok.enable_padding(pad_id=vocab[PAD], pad_token=PAD)
    tok.enable_truncation(max_length=MAX_LEN)
    return tok


class _Graph:
    def __init__(self, rs: np.random.RandomState) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.n = 0
        self.rs = rs

    def const(self, name: str, arr: Any) -> str:
        value = np.asarray(arr)
        value = value.astype(np.int64) if value.dtype.kind in "iu" else value
        self.inits.append(nh.from_array(value, name))
        return name

    def weights(self, std: float, *shape: int) -> Floats:
        return (self.rs.standard_normal(shape) * std).astype(np.float32)

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        self.n += 1
        out = out or f"{op_type.lower()}_{self.n}"
        self.nodes.append(h.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def layer_norm(self, x: str, prefix: str) -> str:  # LayerNormalization is opset 17+: spelled out
        d = self.op("Sub", x, self.op("ReduceMean", x, axes=[-1]))
        var = self.op("ReduceMean", self.op("Mul", d, d), axes=[-1])
        y = self.op("Div", d, self.op("Sqrt", self.op("Add", var, "eps")))
        scaled = self.op("Mul", y, self.const(prefix + ".weight", np.ones(HIDDEN, np.float32)))
        return self.op("Add", scaled, self.const(prefix + ".bias", np.zeros(HIDDEN, np.float32)))

    def linear(self, x: str, name: str, n_in: int, n_out: int, std: float) -> str:
        weight = self.const(name + ".weight", self.weights(std, n_in, n_out))
        return self.op("Add", self.op("MatMul", x, weight), self.const(name + ".bias", self.weights(0.02, n_out)))


def _graph(vocab_size: int, seed: int) -> Any:
    g, d, dh = _Graph(np.random.RandomState(seed)), HIDDEN, HIDDEN // HEADS
    g.const("eps", np.array(1e-12, np.float32))
    word = g.op("Gather", g.const("embeddings.word_embeddings.weight", g.weights(1.0, vocab_size, d)), "input_ids")
    typ = g.op("Gather", g.const("embeddings.token_type_embeddings.weight", g.weights(0.1, 2, d)), "token_type_ids")
    seq_len = g.op("Slice", g.op("Shape", "input_ids"), g.const("one", np.array([1])), g.const("two", np.array([2])))
    zero = g.const("zero", np.array([0]))
    positions = g.const("embeddings.position_embeddings.weight", g.weights(0.1, MAX_POS, d))
    pos = g.op("Slice", positions, zero, seq_len, zero)
    x = g.layer_norm(g.op("Add", g.op("Add", word, typ), pos), "embeddings.LayerNorm")
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    key_bias = g.op(
        "Mul",
        g.op("Sub", g.const("f1", np.array(1.0, np.float32)), mask),
        g.const("neg", np.array(-1e4, np.float32)),
    )
    key_bias = g.op("Unsqueeze", key_bias, g.const("ax12", np.array([1, 2])))
    heads_shape, merge_shape = g.const("heads", np.array([0, 0, HEADS, dh])), g.const("merge", np.array([0, 0, d]))
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."

        def split(t: str, perm: list[int]) -> str:
            return g.op("Transpose", g.op("Reshape", t, heads_shape), perm=perm)

        q = split(g.linear(x, p + "attention.self.query", d, d, d**-0.5), [0, 2, 1, 3])
        k = split(g.linear(x, p + "attention.self.key", d, d, d**-0.5), [0, 2, 3, 1])
        v = split(g.linear(x, p + "attention.self.value", d, d, d**-0.5), [0, 2, 1, 3])
        scale = g.const(p + "scale", np.array(dh**0.5, np.float32))
        scores = g.op("Add", g.op("Div", g.op("MatMul", q, k), scale), key_bias)
        ctx = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        ctx = g.op("Reshape", g.op("Transpose", ctx, perm=[0, 2, 1, 3]), merge_shape)
        attended = g.linear(ctx, p + "attention.output.dense", d, d, 0.5 * d**-0.5)
        x = g.layer_norm(g.op("Add", x, attended), p + "attention.output.LayerNorm")
        f = g.linear(x, p + "intermediate.dense", d, FFN, d**-0.5)
        erf = g.op("Erf", g.op("Div", f, g.const(p + "sqrt2", np.array(2**0.5, np.float32))))
        gelu = g.op(
            "Mul",
            g.op("Mul", f, g.const(p + "half", np.array(0.5, np.float32))),
            g.op("Add", g.const(p + "f1b", np.array(1.0, np.float32)), erf),
        )
        x = g.layer_norm(g.op("Add", x, g.linear(gelu, p + "output.dense", FFN, d, 0.3 * FFN**-0.5)), p + "output.LN")
    g.op("Identity", x, out="last_hidden_state")
    dyn = ["batch_size", "sequence_length"]
    outputs = [h.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [*dyn, d])]
    names = ("input_ids", "attention_mask", "token_type_ids")
    inputs = [h.make_tensor_value_info(n, TensorProto.INT64, dyn) for n in names]
    model = h.make_model(
        h.make_graph(g.nodes, "tiny_bert", inputs, outputs, g.inits),
        opset_imports=[h.make_opsetid("", OPSET)],
        producer_name="tests/tiny_embedding.py",
    )
    model.ir_version = IR
    onnx.checker.check_model(model, full_check=True)
    return model


def build_tiny_embedding(out_dir: Path, seed: int = 0) -> Path:
    """Write a complete tiny model directory (model.onnx, tokenizer.json, config.json, ...) into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab = _vocab()
    onnx.save(_graph(len(vocab), seed), str(out_dir / "model.onnx"))
    _tokenizer(vocab).save(str(out_dir / "tokenizer.json"))
    (out_dir / "vocab.txt").write_text("".join(t + "\n" for t in vocab), encoding="utf-8")
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": FFN,
        "max_position_embeddings": MAX_POS,
        "type_vocab_size": 2,
        "vocab_size": len(vocab),
        "pad_token_id": 0,
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    specials = {"unk_token": UNK, "sep_token": SEP, "pad_token": PAD, "cls_token": CLS, "mask_token": MASK}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(specials) + "\n", encoding="utf-8")
    tokenizer_config = {**specials, "tokenizer_class": "BertTokenizer", "model_max_length": MAX_LEN}
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config) + "\n", encoding="utf-8")
    pooling = {"word_embedding_dimension": HIDDEN, "pooling_mode_mean_tokens": True}
    (out_dir / "1_Pooling").mkdir(exist_ok=True)
    (out_dir / "1_Pooling" / "config.json").write_text(json.dumps(pooling) + "\n", encoding="utf-8")
    return out_dir
