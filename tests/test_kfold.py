"""`eval redial --split kfold`: every conversation scored once, by a ranker fitted without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import evaluation.kfold as kfold
from evaluation.dialogues import Dialogue, load_dialogues, split_of
from evaluation.fit import FitResult
from evaluation.kfold import HELDOUT_FOLD, outer_fold
from evaluation.run import run_fit, run_redial
from retrieval.embedders.hashing import HashingEmbedder
from tests.conftest import fake_settings
from tests.test_evaluation import conversation, redial_movies
from ui.cli import app


def _dialogues(tmp: Path, n: int = 60) -> Path:
    """In every conversation the seeker loves Toy Story and the recommender answers The Shining: only
    co-occurrence learned from other conversations links the two."""
    path = tmp / "d.jsonl"
    path.write_text("\n".join(conversation(f"c{i}", [("s", "I loved @4"), ("r", "Then watch @3")])
                              for i in range(n)) + "\n", encoding="utf-8")
    return path


def test_outer_folds_are_the_held_out_part_and_the_fit_folds() -> None:
    ids = [f"c{i}" for i in range(400)]
    assert {outer_fold(c) for c in ids} == {0, 1, 2, 3, HELDOUT_FOLD}
    assert all((outer_fold(c) == HELDOUT_FOLD) == (split_of(c) == "heldout") for c in ids)


def test_each_conversation_is_scored_once_by_a_ranker_that_never_saw_it(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = fake_settings(tmp_path)
    dialogues, movies = _dialogues(tmp_path), redial_movies(tmp_path)
    fitted_on: list[set[str]] = []
    real_fit = kfold.fit_weights

    def spy(feats, train: list[Dialogue], *args, **kwargs) -> FitResult:  # type: ignore[no-untyped-def]
        fitted_on.append({d.conversation_id for d in train})
        assert set(feats.conversation) <= fitted_on[-1]  # the weights see only the training folds' turns
        return real_fit(feats, train, *args, **kwargs)

    monkeypatch.setattr(kfold, "fit_weights", spy)
    run = run_redial(settings, dialogues, movies, split="kfold", show_progress=False)
    data = run.to_json()
    everyone = {d.conversation_id for d in load_dialogues(dialogues).dialogues}
    assert data["conversations"] == 60 and sum(f["conversations"] for f in data["folds"]) == 60
    assert len(fitted_on) == len(data["folds"]) == 5
    for trained, fold in zip(fitted_on, run.folds, strict=True):
        scored = {c for c in everyone if kfold.fold_name(outer_fold(c)) == fold["fold"]}
        assert scored and not scored & trained and trained | scored == everyone
    # the other folds taught the co-occurrence: the held-in pairs are all found first
    assert data["methods"]["concierge"]["dedup"]["R@1"] == 1.0 and data["methods"]["concierge"]["dedup"]["pairs"] == 60
    assert data["methods"]["popularity"]["dedup"]["pairs"] == 60
    assert run.opened.rankers.load_for(HashingEmbedder().name) is None  # nothing stored by the folds


def test_the_held_out_fold_gets_the_ranker_eval_fit_would_store(tmp_path: Path) -> None:
    settings = fake_settings(tmp_path)
    dialogues, movies = _dialogues(tmp_path), redial_movies(tmp_path)
    run = run_redial(settings, dialogues, movies, split="kfold", show_progress=False)
    held = next(f for f in run.folds if f["fold"] == "held-out part")
    fitted = run_fit(settings, dialogues, movies, "fit", show_progress=False)
    assert fitted["weights"] == held["weights"]
    # the fit says whether it kept the interest adapter, beside the recall of the weights fitted without it
    assert fitted["interest_adapter"].split(":")[0] in {"kept", "left out", "none"}
    assert set(fitted["cv_dedup_without_adapter"]) == set(fitted["cv_dedup"])


def test_cli_kfold_prints_each_fold_and_refuses_a_train_file(tmp_path: Path) -> None:
    dialogues, movies = _dialogues(tmp_path), redial_movies(tmp_path)
    env = {"CONCIERGE_DATA_DIR": str(tmp_path / "data"), "CONCIERGE_EMBEDDER": "hashing"}
    args = ["eval", "redial", "--dialogues", str(dialogues), "--catalog", str(movies), "--split", "kfold"]
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, [*args, "--json", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "held-out part" in result.output and "fit fold 3" in result.output
    assert set(json.loads(out.read_text())["methods"]) == {"concierge", "popularity", "repeat"}
    refused = CliRunner().invoke(app, [*args, "--train", str(dialogues)], env=env)
    assert refused.exit_code == 2 and "drop --train" in refused.output
    one = CliRunner().invoke(app, [*args, "--limit", "1"], env=env)
    assert one.exit_code == 2 and "at least two folds" in one.output
