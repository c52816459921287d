"""`concierge train`: pair building, batches, a real fine-tuning step, the held-out gate and bad input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from chat.catalog import Catalog
from common.errors import ConciergeError
from evaluation.dialogues import MentionResolver, load_dialogues, split_of
from evaluation.fit import fold_of
from evaluation.train import RESERVED_FOLD, GateResult, run_train, training_pairs
from retrieval.embedders.finetune import FinetuneConfig, TrainingPair, batches, finetune
from retrieval.embedders.presets import TRAIN_INFO, load_embedder, prepare_embedder
from tests.conftest import MODEL_CACHE, fake_settings
from tests.test_evaluation import catalog, conversation, redial_movies  # noqa: F401  (fixture)
from ui.cli import app


def _ids(split: str, n: int) -> list[str]:
    """Conversation ids that fall in one part of the split."""
    out, i = [], 0
    while len(out) < n:
        cid = f"c{i}"
        if split_of(cid) == split:
            out.append(cid)
        i += 1
    return out


def _dialogues(tmp: Path) -> Path:
    lines = []
    for cid in _ids("fit", 6):
        lines.append(conversation(cid, [("s", "I love scary movies like @3"), ("r", "Then watch @1, and @2 too"),
                                        ("s", "Something for kids please"), ("r", "Try @4 or @6")]))
    for cid in _ids("heldout", 2):
        lines.append(conversation(cid, [("s", "any scary film?"), ("r", "@1 is great")]))
    path = tmp / "dialogues.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_pairs_pair_the_live_query_text_with_new_targets_only(tmp_path: Path, catalog: Catalog) -> None:  # noqa: F811
    dialogues = load_dialogues(_dialogues(tmp_path)).dialogues[:1]
    pairs = training_pairs(dialogues, catalog, MentionResolver(catalog.items))
    assert [p.key for p in pairs] == ["redial:1", "redial:2", "redial:4", "redial:6"]
    assert pairs[0].query.startswith("I love scary movies like The Shining")
    assert pairs[0].document == catalog.items["redial:1"].document_text()
    assert pairs[2].query.startswith("Something for kids")  # the latest statement, not the first one
    with_items = training_pairs(dialogues, catalog, MentionResolver(catalog.items), item_pairs=True)
    anchors = [(catalog.items[p.key].title, p.query.split(" (")[0]) for p in with_items if p.anchor_is_document]
    assert anchors == [("Alien", "The Shining"), ("Aliens", "The Shining"), ("Toy Story", "Aliens"),
                       ("Finding Nemo", "Aliens")]  # the movie named last before each recommendation


def test_batches_never_hold_one_item_twice_and_lose_no_pair() -> None:
    pairs = [TrainingPair(f"q{i}", f"d{i % 5}", f"k{i % 5}") for i in range(23)]
    out = batches(pairs, 4, random.Random(0))
    assert all(len({p.key for p in b}) == len(b) <= 5 for b in out) and sum(len(b) == 5 for b in out) <= 1
    assert sorted(p.query for b in out for p in b) == sorted(p.query for p in pairs)
    lone = batches([TrainingPair("a", "d", "k"), TrainingPair("b", "d", "k")], 4, random.Random(0))
    assert lone == []  # two pairs of one item: no batch can teach anything


def _e5() -> Path:
    folder = prepare_embedder("multilingual-e5-small", MODEL_CACHE)
    assert folder is not None
    return folder


@pytest.mark.real_models
def test_finetuning_pulls_queries_towards_their_documents(tmp_path: Path) -> None:
    """A few steps on four pairs with the real model raise the right pairs' similarity over the wrong ones."""
    pairs = [TrainingPair("zorblax night", "Quiet Meadow (1990). A calm film about farmers.", "a"),
             TrainingPair("flimwop glow", "Steel Storm (2015). Robots fight in a burning city.", "b"),
             TrainingPair("quandor mist", "Laugh Lines (2001). A comedy about a clown school.", "c"),
             TrainingPair("vexil drum", "Deep Blue Sea Tale (1975). Sailors lost at sea.", "d")]
    out = tmp_path / "model"
    report = finetune(str(_e5()), pairs, out, FinetuneConfig(epochs=6, batch_size=4, learning_rate=2e-4,
                                                             warmup_share=0.0), "query: ", "passage: ", "cpu")
    assert report.steps == 6 and not report.stopped_by_budget and report.losses[-1] < report.losses[0]

    def margin(folder: Path) -> float:
        from sentence_transformers import SentenceTransformer

        m = SentenceTransformer(str(folder), device="cpu")
        q = m.encode([f"query: {p.query}" for p in pairs], normalize_embeddings=True)
        d = m.encode([f"passage: {p.document}" for p in pairs], normalize_embeddings=True)
        sims = q @ d.T
        return float(np.mean(np.diag(sims)) - np.mean(sims[~np.eye(4, dtype=bool)]))

    assert margin(out) > margin(_e5()) + 0.05


@pytest.mark.real_models
def test_top_layers_train_only_the_top_of_the_encoder(tmp_path: Path) -> None:
    """`top_layers=2`: the two top layers learn, everything below (token embeddings included) stays the base's."""
    import torch
    from sentence_transformers import SentenceTransformer

    from retrieval.embedders.finetune import _freeze_below

    pairs = [TrainingPair("zorblax night", "Quiet Meadow (1990). A calm film about farmers.", "a"),
             TrainingPair("flimwop glow", "Steel Storm (2015). Robots fight in a burning city.", "b"),
             TrainingPair("quandor mist", "Laugh Lines (2001). A comedy about a clown school.", "c")]
    out = tmp_path / "model"
    report = finetune(str(_e5()), pairs, out, FinetuneConfig(epochs=4, batch_size=3, learning_rate=5e-4,
                                                             warmup_share=0.0, top_layers=2), "query: ", "passage: ",
                      "cpu")
    assert report.steps == 4 and report.losses[-1] < report.losses[0]
    base = SentenceTransformer(str(_e5()), device="cpu").state_dict()
    trained = SentenceTransformer(str(out), device="cpu").state_dict()
    changed = {k for k in base if not np.array_equal(base[k].numpy(), trained[k].numpy())}
    layers = sorted({int(k.split("encoder.layer.")[1].split(".")[0]) for k in changed})
    assert layers == [10, 11] and all("encoder.layer." in k for k in changed)
    with pytest.raises(ValueError, match="layer stack"):  # a model without an encoder stack: a clear error
        _freeze_below(torch.nn.Linear(2, 2), 1)


@pytest.mark.real_models
def test_bad_requests_get_clear_errors(tmp_path: Path) -> None:
    dialogues, movies = _dialogues(tmp_path), redial_movies(tmp_path)
    settings = fake_settings(tmp_path)
    with pytest.raises(ConciergeError, match="never on the held-out part"):
        run_train(settings, dialogues, movies, "x", split="heldout")
    with pytest.raises(ConciergeError, match="--keep"):
        run_train(settings, dialogues, movies, "x", split="all")
    with pytest.raises(ConciergeError, match="cannot name a preset"):
        run_train(settings, dialogues, movies, "../x")
    with pytest.raises(ConciergeError, match="hashing embedder has nothing to train"):
        run_train(settings, dialogues, movies, "x")
    e5 = fake_settings(tmp_path, embedder="multilingual-e5-small")
    empty = tmp_path / "none.jsonl"
    empty.write_text(conversation(_ids("fit", 1)[0], [("s", "hi"), ("r", "hello")]) + "\n", encoding="utf-8")
    with pytest.raises(ConciergeError, match="0 training pair"):
        run_train(e5, empty, movies, "x")
    assert not (MODEL_CACHE / "embedders" / "x").exists()


@pytest.mark.real_models
def test_train_command_gates_on_heldout_and_saves_a_loadable_preset(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end with the real embedder: train, replay held-out twice, keep or drop, load the preset."""
    cache = tmp_path / "models"
    (cache / "embedders").mkdir(parents=True)
    (cache / "embedders" / "multilingual-e5-small").symlink_to(_e5())
    monkeypatch.setenv("CONCIERGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONCIERGE_MODEL_CACHE", str(cache))
    monkeypatch.setenv("CONCIERGE_EMBEDDER", "multilingual-e5-small")
    dialogues, movies = _dialogues(tmp_path), redial_movies(tmp_path)
    args = ["train", "--dialogues", str(dialogues), "--catalog", str(movies), "--name", "tiny", "--epochs", "1",
            "--batch-size", "4", "--json", str(tmp_path / "t.json")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads((tmp_path / "t.json").read_text())
    trained = [c for c in _ids("fit", 6) if fold_of(c) != RESERVED_FOLD]  # a quarter is reserved for the ranker
    # per conversation: 4 (statement -> movie) pairs and 4 (movie named before -> movie) pairs, over 4 movies
    assert 0 < len(trained) < 6 and out["conversations"] == len(trained) and out["pairs"] == 8 * len(trained)
    assert out["training"]["steps"] == out["training"]["planned_steps"] == 2 * len(trained)  # batches of 4
    gate = GateResult(out["heldout"]["base"], out["heldout"]["trained"], 2)
    assert out["kept"] == gate.wins and out["heldout"]["heldout_conversations"] == 2
    if not out["kept"]:
        assert "not kept" in result.output and not (cache / "embedders" / "tiny").exists()
        result = CliRunner().invoke(app, [*args, "--keep"])
        assert result.exit_code == 0, result.output
    info = json.loads((cache / "embedders" / "tiny" / TRAIN_INFO).read_text())
    assert info["split"] == "fit" and info["base"] == "multilingual-e5-small"
    assert sorted(info["conversation_ids"]) == sorted(trained)
    embedder = load_embedder("tiny", cache)
    assert embedder.name == f"tiny@{info['id']}" and embedder.query_prefix == "query: "
    assert embedder.embed_query("scary").shape == (384,)
    assert not [p for p in (cache / "embedders").iterdir() if p.name.startswith(".")]  # no work folder left
