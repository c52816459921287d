"""ReDial evaluation: metric arithmetic, the dedup rule, no leakage, baselines, bad input, the CLI."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chat.catalog import Catalog, sync_embeddings
from chat.recommend import Recommender
from evaluation.baselines import PopularityBaseline, RepeatBaseline, mention_counts
from evaluation.dialogues import DialogueFileError, MentionResolver, load_dialogues, select, split_of
from evaluation.fit import FIT_VERSION
from evaluation.metrics import MethodScore, RecallCounter, hits_at, without
from evaluation.redial import evaluate
from evaluation.replay import Replayer
from retrieval.embedders.hashing import HashingEmbedder
from storage.engine import make_engine, migrate, session_factory
from storage.ranker_store import RankerRepository, model_name
from storage.records import CatalogItem
from storage.repository import CatalogRepository
from tests.conftest import SHARED_DATA
from ui.cli import app

MOVIES = {
    "1": ("Alien", 1979, ["sci-fi", "horror"], "A crew in space is hunted by a creature."),
    "2": ("Aliens", 1986, ["sci-fi", "action"], "Marines fight creatures in space."),
    "3": ("The Shining", 1980, ["horror"], "A writer goes mad in a snowbound hotel."),
    "4": ("Toy Story", 1995, ["animation", "comedy"], "Toys come alive when nobody looks."),
    "5": ("Heat", 1995, ["crime", "thriller"], "A detective chases a crew of thieves in Los Angeles."),
    "6": ("Finding Nemo", 2003, ["animation", "family"], "A fish looks for his son in the ocean."),
}


def redial_movies(tmp: Path) -> Path:
    path = tmp / "movies.json"
    path.write_text(json.dumps({mid: {"name": f"{t} ({y})", "genre": g, "plot": p, "director": [], "star": []}
                                for mid, (t, y, g, p) in MOVIES.items()}), encoding="utf-8")
    return path


def conversation(cid: str, turns: list[tuple[str, str]], questions: dict | None = None) -> str:
    """turns: (who, text) with who 's' (seeker, worker 1) or 'r' (recommender, worker 2)."""
    return json.dumps({"conversationId": cid, "initiatorWorkerId": 1, "respondentWorkerId": 2,
                       "messages": [{"senderWorkerId": 1 if who == "s" else 2, "text": text} for who, text in turns],
                       "movieMentions": {}, "initiatorQuestions": questions or {},
                       "respondentQuestions": questions or {}})


def catalog_of(items: list[CatalogItem], db: Path) -> Catalog:
    """`items` imported into a new SQLite database at `db`, embedded with the hashing embedder, loaded."""
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    repo = CatalogRepository(session_factory(engine))
    repo.upsert(items)
    sync_embeddings(repo, HashingEmbedder(), show_progress=False)
    return Catalog.load(repo, HashingEmbedder())


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    items = [CatalogItem(f"redial:{mid}", "movie", t, year=y, genres=tuple(g), description=p, extra={"redial_id": mid})
             for mid, (t, y, g, p) in MOVIES.items()]
    return catalog_of(items, tmp_path / "c.db")


def test_recall_on_a_hand_worked_ranking() -> None:
    ranked = ["a", "b", "t"] + [f"x{i}" for i in range(60)]
    assert hits_at(ranked, ["t"], (1, 10, 50)) == {1: 0, 10: 1, 50: 1}
    counter = RecallCounter((1, 10, 50))
    counter.add(ranked, ["t", "missing"])  # one target at rank 3, one not ranked at all
    counter.add(["z"], ["z"])  # rank 1
    assert counter.pairs == 3
    assert counter.to_json() == {"R@1": round(1 / 3, 4), "R@10": round(2 / 3, 4), "R@50": round(2 / 3, 4),
                                 "pairs": 3}


def test_bootstrap_interval_resamples_conversations() -> None:
    counter = RecallCounter((1,))
    for i in range(40):  # half the conversations hit their one target at rank 1, half miss
        counter.add(["a"], ["a" if i % 2 else "b"], group=f"c{i}")
    lo, hi = counter.interval(1)
    assert counter.recall(1) == 0.5 and 0.3 < lo < 0.5 < hi < 0.7
    alike = RecallCounter((1,))
    for i in range(40):
        alike.add(["a"], ["a"], group=f"c{i}")
    assert alike.interval(1) == (1.0, 1.0)  # no spread to resample
    assert counter.to_json()["ci95"] == {"R@1": [round(lo, 4), round(hi, 4)]}


def test_dedup_drops_context_targets_and_context_items() -> None:
    score = MethodScore((1, 2))
    # context: c1; targets: c1 (a repeat) and n1 (new). Raw list has c1 first, dedup list must not.
    score.add(["c1", "n1"], without(["c1", "n1"], ["c1"]), ["c1", "n1"], ["c1"], 0.001)
    assert score.raw.pairs == 2 and score.raw.recall(1) == 0.5 and score.raw.recall(2) == 1.0
    assert score.dedup.pairs == 1 and score.dedup.recall(1) == 1.0  # n1 moves up to rank 1
    assert score.to_json()["latency_ms"] == {"p50": 1.0, "p95": 1.0}


def test_baselines(catalog: Catalog) -> None:
    train = [load_line(conversation("1", [("s", "@1 @1 @3"), ("r", "@1 @777")])),
             load_line(conversation("2", [("s", "@3"), ("r", "@4")]))]
    resolver = MentionResolver(catalog.items)
    assert mention_counts(train, resolver) == Counter({"redial:1": 1, "redial:3": 2, "redial:4": 1})
    pop = PopularityBaseline(Counter({"a": 5, "b": 3, "c": 3, "d": 1}))
    assert pop.rank(["a"], 3, exclude_context=False) == ["a", "b", "c"]
    assert pop.rank(["a"], 3, exclude_context=True) == ["b", "c", "d"]
    rep = RepeatBaseline()
    assert rep.rank(["x", "y", "z"], 2, exclude_context=False) == ["z", "y"]
    assert rep.rank(["x", "y", "z"], 2, exclude_context=True) == []


def test_bad_lines_are_reported_and_skipped_and_empty_files_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join([conversation("1", [("s", "hi")]), "{not json", json.dumps({"messages": "x"}),
                               conversation("2", [("r", "@1")])]) + "\n", encoding="utf-8")
    report = load_dialogues(path)
    assert [d.conversation_id for d in report.dialogues] == ["1", "2"]
    assert [n for n, _ in report.malformed] == [2, 3]
    assert "JSON" in report.malformed[0][1]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(DialogueFileError, match="is empty"):
        load_dialogues(empty)


def test_split_is_deterministic_and_about_a_fifth() -> None:
    ids = [str(i) for i in range(2000)]
    held = [i for i in ids if split_of(i) == "heldout"]
    assert held == [i for i in ids if split_of(i) == "heldout"]
    assert 0.17 < len(held) / len(ids) < 0.23


def test_replay_never_sees_the_predicted_turn_or_the_questionnaire(catalog: Catalog) -> None:
    resolver = MentionResolver(catalog.items)
    replayer = Replayer(catalog.titles, resolver)
    line = conversation("9", [("s", "I loved @1, something scary please"), ("r", "Try @3 or @999"),
                              ("s", "I did not like @3"), ("r", "Then @2")],
                        questions={"2": {"suggested": 1, "seen": 0, "liked": 1}})
    dialogue = select([load_line(line)], "all")[0]
    turns = list(replayer.turns(dialogue))
    assert [t.targets for t in turns] == [("redial:3",), ("redial:2",)]
    first, second = turns
    assert first.state.liked == ["redial:1"] and first.context_ids == ("redial:1",)
    assert "redial:3" not in first.state.excluded()  # the predicted turn is not folded in yet
    assert second.state.disliked == ["redial:3"] and "redial:2" not in second.state.excluded()
    assert second.context_ids == ("redial:1", "redial:3")
    assert resolver.unknown == {"999"}
    # the questionnaire says the target was liked: nothing in the state may come from it
    assert "redial:2" not in second.state.model_dump_json()


def load_line(line: str):  # type: ignore[no-untyped-def]
    from evaluation.dialogues import _parse_line

    return _parse_line(line, 1)


def test_evaluate_scores_concierge_and_baselines(catalog: Catalog) -> None:
    resolver = MentionResolver(catalog.items)
    dialogues = [load_line(conversation("1", [("s", "I want animation like @4"), ("r", "How about @6?")])),
                 load_line(conversation("2", [("s", "space horror like @1"), ("r", "@2 and @1 then")]))]
    report = evaluate(dialogues, Recommender(catalog, HashingEmbedder()), resolver, Counter({"redial:5": 3}),
                      (1, 10), show_progress=False)
    data = report.to_json()
    methods = data["methods"]
    assert set(methods) == {"concierge", "popularity", "repeat"}
    assert methods["concierge"]["raw"]["pairs"] == 3 and methods["concierge"]["dedup"]["pairs"] == 2
    # the catalog has 6 movies: every target is within the top 10 of a full ranking
    assert methods["concierge"]["raw"]["R@10"] == 1.0
    assert methods["repeat"]["raw"]["R@1"] == round(1 / 3, 4)  # "@1" repeated in dialogue 2 is ranked first
    assert methods["repeat"]["dedup"]["R@10"] == 0.0
    assert methods["popularity"]["dedup"]["R@1"] == 0.0  # counts know only redial:5


def test_cli_eval_redial_writes_the_issue_json_shape(tmp_path: Path) -> None:
    movies = redial_movies(tmp_path)
    dialogues = tmp_path / "d.jsonl"
    lines = [conversation(str(i), [("s", "I like @1 and space"), ("r", "then @2"), ("s", "and @4?"),
                                   ("r", "@6 or @3")]) for i in range(30)]
    dialogues.write_text("\n".join(lines[:5] + ["oops"] + lines[5:]) + "\n", encoding="utf-8")
    out = tmp_path / "r.json"
    env = {"CONCIERGE_DATA_DIR": str(tmp_path / "data"), "CONCIERGE_EMBEDDER": "hashing"}
    result = CliRunner().invoke(app, ["eval", "redial", "--dialogues", str(dialogues), "--catalog", str(movies),
                                      "--split", "heldout", "--json", str(out)], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    for method in ("concierge", "popularity", "repeat"):
        m = data["methods"][method]
        assert set(m["raw"]) == {"R@1", "R@10", "R@50", "pairs", "ci95"} and set(m["dedup"]) == set(m["raw"])
        assert set(m["dedup"]["ci95"]) == {"R@1", "R@10", "R@50"}  # an added key: 95 % bootstrap intervals
        assert set(m["latency_ms"]) == {"p50", "p95"}
    assert data["input"]["malformed_lines"] == 1 and data["input"]["malformed"][0]["line"] == 6
    assert "line(s): 6" in result.output
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    result = CliRunner().invoke(app, ["eval", "redial", "--dialogues", str(empty), "--catalog", str(movies)], env=env)
    assert result.exit_code == 2 and "is empty" in result.output


def test_cli_eval_redial_with_train_fits_the_ranker_on_it_once(tmp_path: Path) -> None:
    # One command evaluates the whole system on unseen dialogues: the ranker is fitted on --train first.
    movies = redial_movies(tmp_path)
    train, test = tmp_path / "train.jsonl", tmp_path / "test.jsonl"
    train.write_text("\n".join(conversation(f"t{i}", [("s", "I loved @4"), ("r", "Then watch @3")])
                               for i in range(40)) + "\n", encoding="utf-8")
    test.write_text("\n".join(conversation(f"u{i}", [("s", "I loved @4"), ("r", "Then watch @3")])
                              for i in range(5)) + "\n", encoding="utf-8")
    env = {"CONCIERGE_DATA_DIR": str(tmp_path / "data"), "CONCIERGE_EMBEDDER": "hashing"}
    args = ["eval", "redial", "--dialogues", str(test), "--catalog", str(movies), "--train", str(train)]
    first = CliRunner().invoke(app, [*args, "--json", str(tmp_path / "r.json")], env=env)
    assert first.exit_code == 0, first.output
    assert "fitted the hybrid ranker on the 40 --train conversations" in first.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ranker"].startswith("hybrid") and data["methods"]["concierge"]["dedup"]["R@1"] == 1.0
    again = CliRunner().invoke(app, args, env=env)  # the stored ranker was fitted on exactly these: kept
    assert again.exit_code == 0 and "fitted the hybrid ranker" not in again.output and "hybrid" in again.output
    # a ranker an older version of the fit stored (e.g. before the interest adapter) is fitted anew
    rankers = RankerRepository(session_factory(make_engine(f"sqlite:///{next((tmp_path / 'data').rglob('*.db'))}")))
    stored = rankers.load_for(HashingEmbedder().name)
    assert stored is not None and stored.meta["fit_version"] == FIT_VERSION
    rankers.save(stored.weights, {**stored.meta, "fit_version": FIT_VERSION - 1}, stored.links,
                 model_name(HashingEmbedder().name), stored.adapter)
    older = CliRunner().invoke(app, args, env=env)
    assert older.exit_code == 0 and "fitted the hybrid ranker on the 40 --train conversations" in older.output
    content = CliRunner().invoke(app, [*args, "--no-ranker"], env=env)
    assert content.exit_code == 0 and "content only" in content.output


def test_cli_eval_redial_without_train_fits_on_the_shared_dialogues(tmp_path: Path) -> None:
    # On a fresh machine, evaluating unseen dialogues without --train must not fall back to content only
    # when the shared ReDial dialogues are there and the catalog is theirs.
    movies = redial_movies(tmp_path)
    shared = tmp_path / "shared"
    (shared / "redial").mkdir(parents=True)
    train = shared / "redial" / "dialogues_dev.jsonl"
    train.write_text("\n".join(conversation(f"t{i}", [("s", "I loved @4"), ("r", "Then watch @3")])
                               for i in range(40)) + "\n", encoding="utf-8")
    test = tmp_path / "test.jsonl"
    test.write_text("\n".join(conversation(f"u{i}", [("s", "I loved @4"), ("r", "Then watch @3")])
                              for i in range(5)) + "\n", encoding="utf-8")
    env = {"CONCIERGE_DATA_DIR": str(tmp_path / "data"), "CONCIERGE_EMBEDDER": "hashing",
           "CONCIERGE_SHARED_DATA": str(shared)}
    args = ["eval", "redial", "--dialogues", str(test), "--catalog", str(movies), "--json", str(tmp_path / "r.json")]
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert "fitted the hybrid ranker on the 40 shared ReDial conversations" in first.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["ranker"].startswith("hybrid") and data["popularity_counts"] == str(train)
    assert data["methods"]["concierge"]["dedup"]["R@1"] == 1.0
    # the shared file itself (same content under another name) is never its own training data
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(train.read_bytes())
    fresh = {**env, "CONCIERGE_DATA_DIR": str(tmp_path / "data2")}
    same = CliRunner().invoke(app, ["eval", "redial", "--dialogues", str(copy), "--catalog", str(movies)], env=fresh)
    assert same.exit_code == 0 and "content only" in same.output and "fitted" not in same.output
    # a file that shares conversations with the shared dialogues: those are never fitted on
    overlap = tmp_path / "overlap.jsonl"
    overlap.write_text("\n".join(train.read_text().splitlines()[:3]
                                 + [conversation("v0", [("s", "I loved @4"), ("r", "Then watch @3")])]) + "\n")
    mixed = CliRunner().invoke(app, ["eval", "redial", "--dialogues", str(overlap), "--catalog", str(movies)],
                               env={**env, "CONCIERGE_DATA_DIR": str(tmp_path / "data3")})
    assert mixed.exit_code == 0, mixed.output
    assert "left out 3 shared conversations" in mixed.output and "on the 37 shared ReDial conversations" in mixed.output
    # shared dialogues that name movies this catalog lacks are not its training data either
    train.write_text("\n".join(conversation(f"x{i}", [("s", "I loved @900"), ("r", "Then watch @901")])
                               for i in range(40)) + "\n", encoding="utf-8")
    other = CliRunner().invoke(app, args[:-2], env=fresh)
    assert other.exit_code == 0 and "content only" in other.output and "fitted" not in other.output


@pytest.mark.skipif(not (SHARED_DATA / "redial" / "dialogues_dev.jsonl").is_file(), reason="no shared ReDial data")
def test_real_redial_dialogues_replay(tmp_path: Path) -> None:
    """A few real conversations against the real catalog (hashing embedder: embedding 6,581 items is instant)."""
    from evaluation.run import run_redial
    from tests.conftest import fake_settings

    settings = fake_settings(tmp_path)
    run = run_redial(settings, SHARED_DATA / "redial" / "dialogues_dev.jsonl", SHARED_DATA / "redial" / "movies.json",
                     limit=8, split="heldout", show_progress=False)
    data = run.to_json()
    assert data["conversations"] == 8 and data["turns"] > 8
    pop = data["methods"]["popularity"]
    assert pop["raw"]["pairs"] >= pop["dedup"]["pairs"] > 0
    assert data["unknown_mentions"] >= 0 and data["input"]["malformed_lines"] == 0


def test_with_llm_extraction_reads_only_seeker_messages(catalog: Catalog) -> None:
    from chat.lm.base import ScriptedGenerator

    generator = ScriptedGenerator(respond=lambda _messages: '{"genres": ["horror"]}')
    replayer = Replayer(catalog.titles, MentionResolver(catalog.items), generator, "always")
    dialogue = load_line(conversation("5", [("s", "something horror-ish for tonight"), ("r", "SECRET pick: @3"),
                                            ("s", "ok what else"), ("r", "@2")]))
    turns = list(replayer.turns(dialogue))
    # the LM's reading of the seeker message is used ("horror-ish" is no genre word to the rules)
    assert turns[0].state.genres_wanted == ["horror"]
    asked = [call[-1]["content"] for call in generator.calls]
    assert asked == ["something horror-ish for tonight", "ok what else"]  # never the recommender's messages
