"""The reading stage: the front door, the taught reader's windows and fields, and `eval reading` against the
seekers' own answers (which never reach a reader)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chat.catalog import Catalog
from chat.reading import Taught, read
from chat.reading.opinions import MARK, Judgement, Window, marked, windows
from chat.state import DialogueState
from chat.tracking import track
from evaluation.dialogues import load_dialogues
from evaluation.reading import Label, load_labels, opinion_report, predict, score_reader, trivial
from evaluation.replay import Replayer
from tests.conftest import MODEL_CACHE
from tests.test_evaluation import MentionResolver, catalog, conversation, redial_movies  # noqa: F401 (fixture)
from ui.cli import app


class FixedOpinions:
    """A taught reader that says what it was told to about each item (a real implementation of `judge`)."""

    def __init__(self, said: dict[str, tuple[str, float]]) -> None:
        self.said, self.seen_windows = said, []
        self.meta: dict[str, Any] = {}

    def judge(self, found: Sequence[Window]) -> list[Judgement]:
        self.seen_windows += list(found)
        return [Judgement(w.item_id, w.kind, *self.said.get(w.item_id, ("unsaid", 0.0))) for w in found]


def test_windows_mark_the_item_and_answer_the_list_shown(catalog: Catalog) -> None:  # noqa: F811
    after = DialogueState(liked=["redial:1"], seen=["redial:1"])
    found = windows("I loved Alien, seen the second one too", [("redial:1", "Alien")],
                    "Have you seen Aliens or The Shining?", [("redial:2", ["Aliens"]), ("redial:3", ["The Shining"]),
                                                             ("redial:1", ["Alien"])], after)
    assert [(w.item_id, w.kind) for w in found] == [("redial:1", "named"), ("redial:2", "reply"), ("redial:3", "reply")]
    named, reply = found[0], found[1]
    assert named.text == f"Seeker: I loved {MARK}, seen the second one too"
    assert (named.rules_opinion, named.rules_seen) == ("liked", True)
    assert reply.text == f"Recommender: Have you seen {MARK} or The Shining?\nSeeker: I loved Alien, seen the second " \
                         "one too" and reply.rules_opinion == "unsaid"
    assert marked("ALIEN and aliens", ["Aliens", "Alien"]) == f"{MARK} and {MARK}"  # the longer name first, any case
    assert windows("thanks", [], "", [("redial:2", ["Aliens"])], after) == []  # nothing shown before: no reply


def test_the_taught_reader_reads_only_the_fields_it_was_chosen_for(catalog: Catalog) -> None:  # noqa: F811
    state = DialogueState(last_shown=["redial:2", "redial:3"], last_reply="1. Aliens (1986) 2. The Shining (1980)",
                          shown=["redial:2", "redial:3"])
    said = FixedOpinions({"redial:2": ("liked", 0.9), "redial:3": ("disliked", 0.2)})
    for fields, liked, disliked, seen in ((frozenset(), [], [], []),
                                          (frozenset({"opinion_reply"}), ["redial:2"], ["redial:3"], []),
                                          (frozenset({"seen"}), [], [], ["redial:2"])):
        u = read("oh that sounds great", state, catalog.titles, taught=Taught(said, fields),  # type: ignore[arg-type]
                 items=catalog.items)
        after = state.model_copy(deep=True)
        track(u, after, catalog.items)
        assert (after.liked, after.disliked, after.seen) == (liked, disliked, seen), fields
    # a question about an item is no opinion of it
    said.seen_windows.clear()
    read("who directed the second one?", state, catalog.titles, taught=Taught(said, frozenset({"seen"})),  # type: ignore[arg-type]
         items=catalog.items)
    assert said.seen_windows == []


def test_a_named_item_the_model_finds_no_opinion_on_stays_context_only(catalog: Catalog) -> None:  # noqa: F811
    said = FixedOpinions({"redial:1": ("unsaid", 0.1)})
    u = read("have you heard of Alien?", DialogueState(), catalog.titles,
             taught=Taught(said, frozenset({"opinion_named"})), items=catalog.items)  # type: ignore[arg-type]
    state = DialogueState()
    track(u, state, catalog.items)
    assert state.liked == [] and state.mentioned == ["redial:1"]


def _dialogues(tmp: Path) -> Path:
    lines = [
        conversation("c1", [("s", "Hi! I loved @1 and I hate @3"), ("r", "Have you seen @2 ?"),
                            ("s", "yes I have seen it, it was great"), ("r", "How about @6 ?"), ("s", "thanks, bye")],
                     {"1": {"suggested": 0, "seen": 1, "liked": 1}, "3": {"suggested": 0, "seen": 1, "liked": 0},
                      "2": {"suggested": 1, "seen": 1, "liked": 1}, "6": {"suggested": 1, "seen": 2, "liked": 2}}),
        conversation("c2", [("s", "something like @4 please"), ("r", "You might like @6"), ("s", "not my thing")],
                     {"4": {"suggested": 0, "seen": 1, "liked": 1}, "6": {"suggested": 1, "seen": 0, "liked": 0}}),
    ]
    path = tmp / "dialogues.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_scores_compare_final_states_with_the_answers_per_group(catalog: Catalog, tmp_path: Path) -> None:  # noqa: F811
    path = _dialogues(tmp_path)
    labels = load_labels(path)
    assert labels["c1"]["3"] == Label(False, "disliked", True) and labels["c2"]["6"] == Label(True, "disliked", False)
    resolver = MentionResolver(catalog.items)
    dialogues = load_dialogues(path).dialogues
    rules = score_reader(dialogues, labels, Replayer(catalog.titles, resolver), resolver)
    assert rules.opinions["named"] == [("liked", "liked"), ("disliked", "disliked"), ("liked", "liked")]
    assert [y for y, _ in rules.opinions["suggested"]] == ["liked", "unsaid", "disliked"]
    assert len(rules.latencies_ms) == 5  # one per seeker message
    answers = rules.to_json()
    assert answers["named"]["macro_f1"] == opinion_report(rules.opinions["named"])["macro_f1"]  # type: ignore[index]
    assert trivial(DialogueState(), "x") == predict(DialogueState(liked=["x"]), "x")
    # the answers are an answer key only: other answers change the score, never what the reader predicts
    other = {c: {m: Label(a.suggested, "unsaid", None) for m, a in answers_of.items()}
             for c, answers_of in labels.items()}
    again = score_reader(dialogues, other, Replayer(catalog.titles, resolver), resolver)
    for group in ("named", "suggested"):
        assert [p for _, p in again.opinions[group]] == [p for _, p in rules.opinions[group]]
        assert {y for y, _ in again.opinions[group]} == {"unsaid"}


def test_eval_reading_writes_every_reader_side_by_side(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCIERGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONCIERGE_MODEL_CACHE", str(tmp_path / "cache"))  # no taught reader there
    monkeypatch.setenv("CONCIERGE_EMBEDDER", "hashing")
    out = tmp_path / "reading.json"
    result = CliRunner().invoke(app, ["eval", "reading", "--dialogues", str(_dialogues(tmp_path)),
                                      "--catalog", str(redial_movies(tmp_path)), "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["readers"]) == {"rules", "auto", "trivial"}  # no taught reader: `model` was not run
    for name, r in data["readers"].items():
        assert {"macro_f1", "accuracy"} <= set(r["named"]) and {"macro_f1", "accuracy"} <= set(r["suggested"])
        assert set(r["seen"]) == {"named", "suggested"} and "f1" in r["seen"]["named"]
        assert ("latency_ms" in r) == (name != "trivial")
    assert data["readers"]["auto"]["named"] == data["readers"]["rules"]["named"]
    bad = tmp_path / "no-answers.jsonl"
    bad.write_text(conversation("x", [("s", "hi")]) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "reading", "--dialogues", str(bad), "--catalog",
                                      str(redial_movies(tmp_path))])
    assert result.exit_code == 2 and "initiatorQuestions" in result.output


@pytest.mark.real_models
def test_train_reader_stores_a_measured_model_that_eval_reading_runs(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "embedders").symlink_to(MODEL_CACHE / "embedders")  # the e5 base, built once for the suite
    monkeypatch.setenv("CONCIERGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONCIERGE_MODEL_CACHE", str(cache))
    monkeypatch.setenv("CONCIERGE_EMBEDDER", "hashing")
    dialogues, movies = _dialogues(tmp_path), redial_movies(tmp_path)
    lines = dialogues.read_text().splitlines()
    dialogues.write_text("\n".join(lines * 3) + "\n")  # some of them land in the held-out part
    result = CliRunner().invoke(app, ["train-reader", "--dialogues", str(dialogues), "--catalog", str(movies),
                                      "--epochs", "1", "--max-minutes", "1"])
    assert result.exit_code == 0, result.output
    meta = json.loads((cache / "readers" / "opinions" / "reader.json").read_text())
    assert set(meta["measured"]) == {"opinion_named", "opinion_reply", "seen"} and meta["trained_on"] == "fit"
    out = tmp_path / "reading.json"
    result = CliRunner().invoke(app, ["eval", "reading", "--dialogues", str(dialogues), "--catalog", str(movies),
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert set(json.loads(out.read_text())["readers"]) == {"rules", "auto", "model", "trivial"}
    # nothing in it is about movies: on the embedded catalog it judges a book the user names
    from chat.build import build_engine
    from retrieval.embedders.hashing import HashingEmbedder
    from tests.conftest import fake_settings

    engine = build_engine(fake_settings(tmp_path / "books", model_cache=cache, reader="model"),
                          embedder=HashingEmbedder())
    assert engine.taught is not None and engine.taught.fields == {"opinion_named", "opinion_reply", "seen"}
    book = next(i for i in engine.catalog.items.values() if i.domain == "book" and i.title.isascii())
    u = read(f"I loved {book.title}, anything like it?", DialogueState(), engine.catalog.titles,
             taught=engine.taught, items=engine.catalog.items)
    assert [(j.item_id, j.kind) for j in u.opinions] == [(book.id, "named")]


def _json_reader(answer: dict[str, Any] | str) -> Any:
    """A scripted LM that answers the model reader's prompt with `answer` (and nothing else)."""
    from chat.lm.base import ScriptedGenerator

    text = answer if isinstance(answer, str) else json.dumps(answer)
    return ScriptedGenerator(respond=lambda messages: text if "write JSON only" in messages[0]["content"] else "")


def test_the_model_reader_keeps_only_what_the_message_and_catalog_back(catalog: Catalog) -> None:  # noqa: F811
    from chat.reading import LM_FIELDS

    state = DialogueState(last_shown=["redial:2", "redial:3"], shown=["redial:2", "redial:3"])
    answer = {"items": [{"title": "Alien", "opinion": "liked", "seen": "yes"},
                        {"title": "Finding Nemo", "opinion": "liked", "seen": "no"}],  # not in the message
              "shown": [{"position": 2, "opinion": "disliked", "seen": "unknown"},
                        {"position": 7, "opinion": "liked", "seen": "yes"}],  # no seventh item was shown
              "genres_wanted": ["comedy", "space westerns"], "genres_avoided": [],
              "people_wanted": ["Ridley Scott"], "people_avoided": [], "year_min": 1979, "year_max": 2030,
              "closing": False}
    u = read("I loved Alien, comedy please from 1979 on, and no to the second one", state, catalog.titles,
             _json_reader(answer), items=catalog.items, lm_fields=frozenset(LM_FIELDS))
    after = state.model_copy(deep=True)
    track(u, after, catalog.items)
    assert after.liked == ["redial:1"] and after.seen == ["redial:1"] and after.disliked == ["redial:3"]
    assert after.genres_wanted == ["comedy"] and after.people_wanted == []  # nobody in this catalog is credited
    assert (after.year_min, after.year_max) == (1979, None)  # 2030 is not in the message
    assert u.lm_used and u.lm_valid


def test_when_the_model_reader_fails_the_rules_reading_stands(catalog: Catalog,  # noqa: F811
                                                             caplog: pytest.LogCaptureFixture) -> None:
    from chat.lm.base import ScriptedGenerator
    from chat.reading import LM_FIELDS
    from common.errors import LMError

    def down(_messages: object) -> str:
        raise LMError("the LM server could not be reached")

    rules = read("I loved Alien, no horror", DialogueState(), catalog.titles, items=catalog.items)
    for generator in (_json_reader("{not json"), _json_reader({"items": "many"}), ScriptedGenerator(respond=down)):
        with caplog.at_level("INFO"):
            u = read("I loved Alien, no horror", DialogueState(), catalog.titles, generator, items=catalog.items,
                     lm_fields=frozenset(LM_FIELDS))
        assert u.parse.mentions == rules.parse.mentions and u.parse.genres_avoided == ["horror"]
        assert not u.lm_used
    assert any("the rules' reading stands" in r.getMessage() for r in caplog.records)


def test_eval_reading_with_llm_scores_the_generative_reader_beside_the_rules(
        catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from chat.reading import LM_FIELDS

    # the LM reads every reaction to the list shown as "disliked, not seen": its predictions must show it
    answer = {"items": [], "shown": [{"position": 1, "opinion": "disliked", "seen": "no"}], "genres_wanted": [],
              "genres_avoided": [], "people_wanted": [], "people_avoided": [], "closing": False}
    path = _dialogues(tmp_path)
    labels, dialogues = load_labels(path), load_dialogues(path).dialogues
    resolver = MentionResolver(catalog.items)
    lm = _json_reader(answer)
    scored = score_reader(dialogues, labels, Replayer(catalog.titles, resolver, lm, lm_fields=frozenset(LM_FIELDS)),
                          resolver)
    rules = score_reader(dialogues, labels, Replayer(catalog.titles, resolver), resolver)
    assert [p for _, p in rules.opinions["suggested"]] == ["unsaid", "unsaid", "unsaid"]
    assert [p for _, p in scored.opinions["suggested"]] == ["disliked", "disliked", "disliked"]
    assert len(lm.calls) == 5  # every seeker message was read by the LM

    monkeypatch.setenv("CONCIERGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CONCIERGE_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CONCIERGE_EMBEDDER", "hashing")
    monkeypatch.setattr("evaluation.run._generator", lambda settings: _json_reader(answer))
    out = tmp_path / "reading.json"
    result = CliRunner().invoke(app, ["eval", "reading", "--dialogues", str(path), "--catalog",
                                      str(redial_movies(tmp_path)), "--with-llm", "--json", str(out)])
    assert result.exit_code == 0, result.output
    readers = json.loads(out.read_text())["readers"]
    assert set(readers) == {"rules", "auto", "lm", "trivial"} and "latency_ms" in readers["lm"]
    assert readers["lm"]["suggested"] != readers["rules"]["suggested"]
