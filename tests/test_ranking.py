"""Hybrid ranking: counts, the fitted weights, storage with the catalog, and live chat using them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from chat.catalog import Catalog, load_ranker, ranker_for, twin_ids
from chat.reading.rules import read_rules
from chat.recommend import Recommender, context_items
from chat.state import DialogueState
from chat.tracking import track
from common.errors import ConciergeError
from evaluation.dialogues import MentionResolver, load_dialogues
from evaluation.fit import GENRE_HARD, YEAR_HARD, features, fit_and_store, weight_sample
from retrieval.embedders.hashing import HashingEmbedder
from retrieval.index import Filters, VectorIndex
from retrieval.ranking import (
    ContextLikeness,
    HybridRanker,
    HybridWeights,
    LinkCounts,
    PeopleIndex,
    RankContext,
    item_people,
    series_key,
)
from storage.engine import make_engine, migrate, session_factory
from storage.ranker_store import RankerRepository, model_name
from storage.records import CatalogItem
from storage.repository import CatalogRepository
from tests.test_evaluation import catalog, catalog_of, conversation  # noqa: F401  (fixture)


def test_link_counts_and_collaborative_scores() -> None:
    counts = LinkCounts()
    counts.add_dialogue(["a", "b", "c"])
    counts.add_dialogue(["a", "b"])
    counts.add_accepted(["c"], "d", weight=2.0)
    assert counts.popularity == {"a": 2, "b": 2, "c": 1, "d": 2}
    assert counts.pairs["a"] == {"b": 2, "c": 1} and counts.pairs["c"]["d"] == 2 and counts.pairs["d"]["c"] == 2
    again = LinkCounts.from_rows(counts.rows())
    assert again.popularity == counts.popularity and again.pairs == counts.pairs
    ranker = HybridRanker(HybridWeights(liked=1.0), counts, ["a", "b", "c", "d"])
    cf = ranker.collaborative(["a"])
    assert cf[1] == np.float32(2 / (3 + 5)) and cf[2] == np.float32(1 / 8) and cf[0] == 0 and cf[3] == 0
    assert ranker.popularity.argmin() == 2  # "c" is named least
    cos = np.array([0.9, 0.1, 0.1, 0.1], dtype=np.float32)
    prior = ranker.prior(cos, RankContext(liked=["a"]))
    assert np.allclose(prior, cos.std() * cf)


def test_fit_learns_co_occurrence_and_live_chat_uses_it(tmp_path: Path, catalog: Catalog) -> None:  # noqa: F811
    # In every training conversation, the seeker loves Toy Story and the recommender answers The Shining:
    # nothing in the text links them, only the co-occurrence does.
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(conversation(str(i), [("s", "I loved @4"), ("r", "Then watch @3")])
                              for i in range(40)) + "\n", encoding="utf-8")
    dialogues = load_dialogues(path).dialogues
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    rankers = RankerRepository(session_factory(engine))
    result = fit_and_store(dialogues, catalog, Recommender(catalog, HashingEmbedder()), rankers, "test",
                           show_progress=False)
    assert result.scores["R@1"] == 1.0 > result.content_only["R@1"]
    assert result.weights.liked > 0 or result.weights.popularity > 0
    stored = rankers.load_for(HashingEmbedder().name)
    assert stored is not None and stored.meta["conversations"] == 40 and len(stored.meta["conversation_ids"]) == 40
    # a fresh process: the catalog loads the stored ranker, and the live recommender ranks The Shining first
    fresh = Catalog.load(CatalogRepository(session_factory(engine)), HashingEmbedder())
    assert fresh.ranker is not None
    state = DialogueState(liked=["redial:4"], mentioned=["redial:4"], statements=["I loved Toy Story"])
    assert [h.item.id for h in Recommender(fresh, HashingEmbedder()).recommend(state, 3)][0] == "redial:3"
    assert Recommender(fresh, HashingEmbedder()).ranking(state, 1) == ["redial:3"]


def test_each_embedder_keeps_its_own_fitted_ranker(tmp_path: Path, catalog: Catalog,  # noqa: F811
                                                  caplog: pytest.LogCaptureFixture) -> None:
    # Weights are in units of one embedder's content scores: fitting with another must not replace them.
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(conversation(str(i), [("s", "I loved @4"), ("r", "Then watch @3")])
                              for i in range(20)) + "\n", encoding="utf-8")
    rankers = RankerRepository(session_factory(make_engine(f"sqlite:///{tmp_path / 'c.db'}")))
    rankers.save({"popularity": 7.0}, {"source": "an older fit", "embedder": "other-embedder"}, [])  # shared slot
    fitted = fit_and_store(load_dialogues(path).dialogues, catalog, Recommender(catalog, HashingEmbedder()),
                           rankers, "test", show_progress=False).weights
    rankers.save({"popularity": 3.0}, {"source": "another fit", "embedder": "hashing-128"}, [],
                 model_name("hashing-128"))
    index = catalog.index
    own = load_ranker(rankers, index, HashingEmbedder().name)
    assert own is not None and own.weights == fitted
    other = load_ranker(rankers, index, "hashing-128")
    assert other is not None and other.weights == HybridWeights(popularity=3.0)
    with caplog.at_level("WARNING"):
        shared = load_ranker(rankers, index, "a-third-embedder")  # nothing of its own: the shared one, with a warning
    assert shared is not None and shared.weights == HybridWeights(popularity=7.0)
    assert "fitted with the embedder other-embedder, not a-third-embedder" in caplog.text


def test_without_a_fitted_model_ranking_is_content_only(tmp_path: Path, catalog: Catalog) -> None:  # noqa: F811
    assert catalog.ranker is None
    state = DialogueState(statements=["toys come alive"])
    rec = Recommender(catalog, HashingEmbedder())
    assert rec.prior(state, rec.interest(state)) is None
    assert rec.ranking(state, 1) == [h.item.id for h in rec.recommend(state, 1)] == ["redial:4"]


def test_feedback_counts_grow_the_stored_model(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate(engine)
    rankers = RankerRepository(session_factory(engine))
    rankers.save({"liked": 1.0}, {"source": json.dumps("x")}, [("", "a", 1.0), ("a", "b", 1.0)])
    rankers.add_links([("a", "b", 2.0), ("b", "a", 2.0)])
    stored = rankers.load()
    assert stored is not None
    assert sorted(stored.links) == [("", "a", 1.0), ("a", "b", 3.0), ("b", "a", 2.0)]


def test_weights_are_fitted_only_on_conversations_the_embedder_was_not_trained_on(tmp_path: Path,
                                                                                  catalog: Catalog) -> None:  # noqa: F811
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(conversation(str(i), [("s", "I loved @4"), ("r", "Then watch @3")])
                              for i in range(20)) + "\n", encoding="utf-8")
    dialogues = load_dialogues(path).dialogues
    rankers = RankerRepository(session_factory(make_engine(f"sqlite:///{tmp_path / 'c.db'}")))
    rec = Recommender(catalog, HashingEmbedder())
    with pytest.raises(ConciergeError, match="fine-tuned on every one"):
        fit_and_store(dialogues, catalog, rec, rankers, "t", False, frozenset(d.conversation_id for d in dialogues))
    result = fit_and_store(dialogues, catalog, rec, rankers, "t", False, frozenset(str(i) for i in range(15)))
    stored = rankers.load_for(HashingEmbedder().name)
    assert stored is not None and stored.meta["weight_conversations"] == 5 and result.turns == 5
    assert stored.meta["conversations"] == 20  # the counts still come from every dialogue
    assert stored.meta["embedder"] == HashingEmbedder().name


def test_a_large_training_file_fits_the_weights_on_a_fixed_sample_and_counts_on_all(
        tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    # ReDial's full training split (10,000 conversations) would need ~14 GB of turn features: past the cap only a
    # sample fits the weights, picked by conversation id, so reordering the file picks the same sample.
    monkeypatch.setattr("evaluation.fit.WEIGHT_CONVERSATIONS", 6)
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(conversation(str(i), [("s", "I loved @4"), ("r", "Then watch @3")])
                              for i in range(20)) + "\n", encoding="utf-8")
    dialogues = load_dialogues(path).dialogues
    rec = Recommender(catalog, HashingEmbedder())
    picks = []
    for order in (dialogues, dialogues[::-1]):
        engine = make_engine(f"sqlite:///{tmp_path / f'r{len(picks)}.db'}")
        migrate(engine)
        rankers = RankerRepository(session_factory(engine))
        result = fit_and_store(order, catalog, rec, rankers, "t", False)
        stored = rankers.load_for(HashingEmbedder().name)
        assert stored is not None and result.weight_conversations == 6 == stored.meta["weight_conversations"]
        assert result.turns == 6 and result.eligible_conversations == 20 == stored.meta["conversations"]
        assert ("redial:4", "redial:3", 20.0) in stored.links  # every conversation counted, not only the sample
        picks.append(sorted(weight_sample(order, 6), key=lambda d: d.conversation_id))
    assert [d.conversation_id for d in picks[0]] == [d.conversation_id for d in picks[1]]
    assert len({d.conversation_id for d in weight_sample(dialogues, 6)}) == 6


def test_fitted_genre_weight_makes_wanted_genres_a_boost_not_a_filter(catalog: Catalog) -> None:  # noqa: F811
    counts = LinkCounts()
    for _ in range(5):
        counts.add_dialogue(["redial:4", "redial:5"])  # Toy Story and Heat, always named together
    state = DialogueState(liked=["redial:4"], mentioned=["redial:4"], genres_wanted=["horror"],
                          statements=["I loved Toy Story, something horror"])
    rec = Recommender(catalog, HashingEmbedder())
    catalog.ranker = ranker_for(HybridWeights(liked=100.0, genre=2.0), counts, catalog.index)
    assert rec.filters(state).genres_any == frozenset()
    assert rec.ranking(state, 1) == ["redial:5"]  # the co-mentioned crime film beats the genre boost
    catalog.ranker = ranker_for(HybridWeights(liked=100.0, genre=GENRE_HARD), counts, catalog.index)
    assert {catalog.items[i].genres[0] for i in rec.ranking(state, 2)} == {"horror", "sci-fi"}  # Alien, The Shining
    assert all("horror" in catalog.items[i].genres for i in rec.ranking(state, 2))
    catalog.ranker = None
    assert rec.filters(state).genres_any == frozenset({"horror"})  # no fitted model: a hard filter


def test_people_shared_with_the_conversation() -> None:
    people = PeopleIndex([["Ridley Scott", "Sigourney Weaver"], ["James Cameron", "Sigourney Weaver"],
                          ["Stanley Kubrick"], ["Ridley Scott"]])
    assert people.shared([0]).tolist() == [2.0, 1.0, 0.0, 1.0]
    assert item_people(("Ridley Scott",), {"stars": ["Sigourney Weaver", 3], "writers": ["Dan O'Bannon"]}) == [
        "Ridley Scott", "Sigourney Weaver"]
    ranker = HybridRanker(HybridWeights(people=1.0), LinkCounts(), ["a", "b", "c", "d"],
                          people=[["x"], ["x", "y"], ["y"], []])
    assert ranker.boost(RankContext(liked=["a"])).tolist() == [1.0, 1.0, 0.0, 0.0]


def test_two_hop_reaches_the_neighbours_of_neighbours() -> None:
    counts = LinkCounts()
    counts.add_dialogue(["a", "b"])
    counts.add_dialogue(["b", "c"])
    ranker = HybridRanker(HybridWeights(liked2=1.0), counts, ["a", "b", "c", "d"])
    assert ranker.collaborative(["a"])[2] == 0  # a and c were never named together
    # a -> b (1 / (1 + 5)), then b -> c (1 / (2 + 5)); and back to a itself
    assert np.allclose(ranker.two_hop(["a"]), [1 / 42, 0.0, 1 / 42, 0.0])
    assert np.allclose(ranker.boost(RankContext(liked=["a"])), ranker.two_hop(["a"]))


def test_people_asked_for_by_name() -> None:
    people = PeopleIndex([["Ridley Scott", "Sigourney Weaver"], ["James Cameron", "Sigourney Weaver"], ["x"]])
    assert people.named(["Sigourney Weaver", "Ridley Scott", "Nobody"]).tolist() == [2.0, 1.0, 0.0]
    ranker = HybridRanker(HybridWeights(named_people=3.0), LinkCounts(), ["a", "b", "c"],
                          people=[["x"], ["x", "y"], ["y"]])
    assert ranker.boost(RankContext(named=["y"])).tolist() == [0.0, 3.0, 3.0]


FILMS = [("Cast Away", "Tom Hanks"), ("Big", "Tom Hanks"), ("Gravity", "Sandra Bullock"),
         ("Speed", "Sandra Bullock"), ("Heat", "Al Pacino"), ("Scarface", "Al Pacino")]


@pytest.fixture
def starred(tmp_path: Path) -> Catalog:
    """Six films whose stars are only in `extra.stars`: the documents the embedder reads never name them."""
    return catalog_of([CatalogItem(f"redial:{i}", "movie", t, year=1990 + i, genres=("drama",),
                                   description=f"A film called {t}.", extra={"redial_id": str(i), "stars": [star]})
                       for i, (t, star) in enumerate(FILMS)], tmp_path / "p.db")


def test_people_asked_for_lead_and_people_ruled_out_sink_without_a_ranker(starred: Catalog) -> None:
    rec = Recommender(starred, HashingEmbedder())
    asked = DialogueState(people_wanted=["Sandra Bullock"], statements=["Anything with Sandra Bullock?"])
    assert set(rec.ranking(asked, 2)) == {"redial:2", "redial:3"}
    assert {h.item.id for h in rec.recommend(asked, 2, diversify=False)} == {"redial:2", "redial:3"}
    ruled_out = DialogueState(people_avoided=["Tom Hanks"], statements=["a film called Big or Cast Away"])
    assert set(rec.ranking(ruled_out, 6)[-2:]) == {"redial:0", "redial:1"}


def test_fit_learns_to_follow_people_named_in_the_conversation(tmp_path: Path, starred: Catalog) -> None:
    # Seekers ask for a star; the recommender names a film with that star. Only the star links them,
    # and every film is named equally often.
    lines = [conversation(f"{star}-{n}", [("s", f"Hi! Anything with {star}?"), ("r", f"Try @{i}")])
             for n in range(6) for i, (_t, star) in enumerate(FILMS)]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rankers = RankerRepository(session_factory(make_engine(f"sqlite:///{tmp_path / 'p.db'}")))
    result = fit_and_store(load_dialogues(path).dialogues, starred, Recommender(starred, HashingEmbedder()),
                           rankers, "test", show_progress=False)
    assert result.weights.named_people > 0
    assert result.scores["R@1"] > result.content_only["R@1"]
    state = DialogueState(people_wanted=["Sandra Bullock"], statements=["Anything with Sandra Bullock?"])
    assert starred.ranker is not None
    assert set(Recommender(starred, HashingEmbedder()).ranking(state, 2)) == {"redial:2", "redial:3"}


def test_genre_targets_are_counted_stored_and_scored() -> None:
    counts = LinkCounts()
    counts.add_genre_targets(["horror", "sci-fi"], ["a", "b"])
    counts.add_genre_targets(["horror"], ["a"])
    again = LinkCounts.from_rows(counts.rows())
    assert again.genre_targets == {"horror": {"a": 2.0, "b": 1.0}, "sci-fi": {"a": 1.0, "b": 1.0}}
    assert again.pairs == {} and again.popularity == {}  # genre rows are neither pairs nor mentions
    ranker = HybridRanker(HybridWeights(genre_items=1.0), again, ["a", "b", "c"])
    assert np.allclose(ranker.genre_targets(["horror"]), np.log1p([2.0, 1.0, 0.0]))
    assert np.allclose(ranker.boost(RankContext(genres=["horror", "sci-fi"])), np.log1p([2.0, 1.0, 0.0]) + np.log1p(
        [1.0, 1.0, 0.0]))


def test_fit_learns_what_is_recommended_for_a_genre(tmp_path: Path, catalog: Catalog) -> None:  # noqa: F811
    # Horror seekers always get The Shining (3), never Alien (1), though Alien is named as often elsewhere.
    lines = [conversation(f"h{i}", [("s", "Something horror please"), ("r", "Try @3")]) for i in range(20)]
    lines += [conversation(f"a{i}", [("s", "I loved @1"), ("r", "Then @2")]) for i in range(20)]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rankers = RankerRepository(session_factory(make_engine(f"sqlite:///{tmp_path / 'c.db'}")))
    result = fit_and_store(load_dialogues(path).dialogues, catalog, Recommender(catalog, HashingEmbedder()),
                           rankers, "test", show_progress=False)
    stored = rankers.load_for(HashingEmbedder().name)
    assert stored is not None and ("genre:horror", "redial:3", 20.0) in stored.links
    assert result.scores["R@1"] == 1.0
    state = DialogueState(genres_wanted=["horror"], statements=["Something horror please"])
    assert Recommender(catalog, HashingEmbedder()).ranking(state, 1) == ["redial:3"]


def test_evaluation_ranks_with_fitted_counts_only_never_stored_likes(tmp_path: Path) -> None:
    # Sessions on the evaluation database (scripted dialogues, the simulator) store likes; the product's
    # ranker adds them to its counts, an evaluation must not, or its figures would depend on that history.
    from evaluation.catalog_db import open_catalog
    from storage.records import FeedbackRecord
    from storage.repository import ConversationRepository
    from storage.users import FeedbackRepository

    catalog_file = tmp_path / "movies.jsonl"
    catalog_file.write_text("\n".join(json.dumps({"id": f"m{i}", "domain": "movie", "title": f"Film {i}",
                                                  "description": f"plot number {i}"}) for i in range(4)) + "\n")
    opened = open_catalog(catalog_file, HashingEmbedder(), tmp_path, show_progress=False)
    opened.rankers.save(HybridWeights(liked=1.0).to_json(), {"source": "test"}, [("m0", "m1", 1.0), ("m1", "m0", 1.0)])
    sessions = opened.repo.sessions
    sid = ConversationRepository(sessions).create("u1")
    FeedbackRepository(sessions).add(FeedbackRecord(sid, "u1", f"m{i}", "like", "button", True) for i in (2, 3))
    evaluated = open_catalog(catalog_file, HashingEmbedder(), tmp_path, show_progress=False).catalog.ranker
    live = Catalog.load(opened.repo, HashingEmbedder()).ranker
    assert evaluated is not None and live is not None
    assert evaluated.collaborative(["m0"])[1] > 0  # the fitted pair
    assert evaluated.collaborative(["m2"]).sum() == 0 < live.collaborative(["m2"])[3]  # the stored likes


def test_without_a_ranker_liked_items_lift_the_items_that_share_their_genres_and_people(tmp_path: Path) -> None:
    films = [("Alien", ("horror", "sci-fi"), "Ridley Scott"), ("Film A", ("horror", "sci-fi"), "Nobody"),
             ("Film B", ("sci-fi",), "Ridley Scott"), ("Film C", ("comedy",), "Someone")]
    films_catalog = catalog_of([CatalogItem(f"m:{i}", "movie", t, year=2000, genres=g, creators=(who,),
                                      description="A film.") for i, (t, g, who) in enumerate(films)],
                         tmp_path / "l.db")
    rec = Recommender(films_catalog, HashingEmbedder())
    state = DialogueState(liked=["m:0"])
    prior = rec.likeness_prior(state)
    assert prior is not None
    # Film A has both of Alien's genres (0.04); Film B half of them (0.02) and its director (0.04)
    assert np.allclose(prior[1:], [0.04, 0.06, 0.0])
    vec = rec.interest(state)
    assert vec is not None and np.allclose(rec.scores(state) - films_catalog.index.scores(vec), prior)  # it ranks
    assert rec.likeness_prior(DialogueState(statements=["sci-fi"])) is None  # nothing liked
    films_catalog.ranker = ranker_for(HybridWeights(popularity=1.0), LinkCounts(), films_catalog.index)
    assert rec.likeness_prior(state) is None  # a fitted ranker has its own, fitted, item features


def test_language_filters_apply_only_to_catalogs_that_record_languages() -> None:
    def index(languages: list[str | None]) -> VectorIndex:
        items = [CatalogItem(f"m{i}", "movie", f"Film {i}", language=lang) for i, lang in enumerate(languages)]
        return VectorIndex(items, np.eye(len(items), dtype=np.float32))

    recorded = index(["ko", "fr", None, "ko"])
    assert recorded.mask(Filters(languages_any=frozenset({"ko"}))).tolist() == [True, False, False, True]
    assert recorded.mask(Filters(languages_none=frozenset({"ko"}))).tolist() == [False, True, True, False]
    assert index([None, None]).mask(Filters(languages_any=frozenset({"ko"}))).tolist() == [True, True]


def test_a_ranker_from_users_likes_alone_keeps_the_likeness_and_people_lifts(tmp_path: Path,
                                                                             starred: Catalog) -> None:
    # Once two items are liked together, the catalog gets a ranker from feedback with fixed weights; nothing
    # was fitted, so the unfitted lifts (liked films' genres and people, people asked for) must stay on.
    from storage.records import FeedbackRecord
    from storage.repository import ConversationRepository
    from storage.users import FeedbackRepository

    films = [("Alien", ("horror", "sci-fi"), "Ridley Scott"), ("Film A", ("horror", "sci-fi"), "Nobody"),
             ("Film B", ("sci-fi",), "Ridley Scott"), ("Film C", ("comedy",), "Someone")]
    films_catalog = catalog_of([CatalogItem(f"m:{i}", "movie", t, year=2000, genres=g, creators=(who,),
                                            description="A film.") for i, (t, g, who) in enumerate(films)],
                               tmp_path / "f.db")
    repo = CatalogRepository(session_factory(make_engine(f"sqlite:///{tmp_path / 'f.db'}")))
    sid = ConversationRepository(repo.sessions).create("u1")
    FeedbackRepository(repo.sessions).add(FeedbackRecord(sid, "u1", f"m:{i}", "like", "button", True) for i in (2, 3))
    ranker = load_ranker(RankerRepository(repo.sessions), films_catalog.index, "hashing", FeedbackRepository(
        repo.sessions))
    assert ranker is not None and not ranker.fitted and ranker.collaborative(["m:2"])[3] > 0
    films_catalog.ranker = ranker
    rec = Recommender(films_catalog, HashingEmbedder())
    prior = rec.likeness_prior(DialogueState(liked=["m:0"]))
    assert prior is not None and np.allclose(prior[1:], [0.04, 0.06, 0.0])

    starred.ranker = ranker_for(HybridWeights(liked=0.5), LinkCounts(), starred.index, fitted=False)
    asked = DialogueState(people_wanted=["Sandra Bullock"], statements=["Anything with Sandra Bullock?"])
    assert set(Recommender(starred, HashingEmbedder()).ranking(asked, 2)) == {"redial:2", "redial:3"}


def test_a_ruled_out_compound_genre_drops_only_items_with_every_part() -> None:
    genres = [["comedy"], ["romance"], ["comedy", "romance"], ["comedy", "romance", "drama"], ["horror"]]
    items = [CatalogItem(f"m{i}", "movie", f"Film {i}", genres=g) for i, g in enumerate(genres)]
    index = VectorIndex(items, np.eye(len(items), dtype=np.float32))
    assert index.mask(Filters(genres_none=frozenset({"comedy+romance"}))).tolist() == [True, True, False, False, True]
    assert index.mask(Filters(genres_none=frozenset({"comedy"}))).tolist() == [False, True, False, False, True]
    assert index.mask(Filters(genres_none=frozenset({"comedy+western"}))).all()  # no item is a western


def test_a_critique_moves_the_list_under_a_ranker_whose_counts_point_the_other_way(tmp_path: Path) -> None:
    # ReDial with its fitted ranker: "less scary" after The Conjuring kept three horror films, and "funnier"
    # after The Godfather three crime dramas; co-occurrence outweighed the critique's fixed genre step
    films = [("The Haunting", ("horror",))] + [(f"Fright {i}", ("horror", "thriller")) for i in range(4)] + \
        [(f"Mild {i}", ("comedy", "family")) for i in range(4)] + [(f"Plain {i}", ("drama",)) for i in range(20)]
    films_catalog = catalog_of([CatalogItem(f"m:{i}", "movie", t, year=2000 + i, genres=g, description=f"{t} story.")
                                for i, (t, g) in enumerate(films)], tmp_path / "c.db")
    counts = LinkCounts()
    for _ in range(30):
        counts.add_dialogue(["m:0", "m:1", "m:2", "m:3", "m:4"])
    counts.add_dialogue(["m:0", "m:5"])
    films_catalog.ranker = ranker_for(HybridWeights(liked=32.0, liked2=512.0), counts, films_catalog.index)
    state = DialogueState(liked=["m:0"], mentioned=["m:0"], statements=["I like scary movies like The Haunting"])
    rec = Recommender(films_catalog, HashingEmbedder())
    genres = {it.id: it.genres for it in films_catalog.items.values()}
    before = rec.ranking(state, 3)
    assert all("horror" in genres[i] for i in before)  # the counts lead
    state.steer("scary", -1)
    after = rec.ranking(state, 3)
    assert sum("horror" in genres[i] for i in after) < 3 and any("comedy" in genres[i] for i in after)


def test_another_record_of_a_liked_work_is_not_recommended(tmp_path: Path) -> None:
    # ReDial lists "The Godfather" and "The Godfather (1972)" apart, with one IMDb id
    items = [CatalogItem("r:1", "movie", "The Godfather", genres=("crime",), extra={"imdb_id": "tt0068646"}),
             CatalogItem("r:2", "movie", "The Godfather", year=1972, genres=("crime",), extra={"imdb_id": "tt0068646"}),
             CatalogItem("r:3", "movie", "The Godfather Part II", year=1974, genres=("crime",),
                         extra={"imdb_id": "tt0071562"}),
             CatalogItem("r:4", "movie", "Spider-Man 3", year=2007, extra={"imdb_id": "tt0413300"}),
             CatalogItem("r:5", "movie", "Spider", year=2007, extra={"imdb_id": "tt0413300"}),  # the record's error
             CatalogItem("r:6", "movie", "Frozen", year=2010), CatalogItem("r:7", "movie", "Frozen", year=2013),
             CatalogItem("b:1", "book", "The Godfather", year=1969, genres=("crime",))]
    assert twin_ids(items) == {"r:1": ("r:2",), "r:2": ("r:1",)}
    twins_catalog = catalog_of(items, tmp_path / "c.db")
    state = DialogueState(liked=["r:1"], mentioned=["r:1"], statements=["I liked The Godfather"], domain="movie")
    assert "r:2" not in Recommender(twins_catalog, HashingEmbedder()).ranking(state, 7)


@pytest.mark.parametrize("diversity", [1.0, 0.75])
def test_one_list_never_shows_two_records_of_a_work(tmp_path: Path, diversity: float) -> None:
    # ReDial's "The Man in the Iron Mask" is a 1985 and a 1998 record of one IMDb id; one list showed both
    plot = "The cruel King Louis XIV of France has a secret twin brother whom he keeps imprisoned."
    items = [CatalogItem("r:1", "movie", "The Man in the Iron Mask", year=1985, genres=("adventure",),
                         description=plot, extra={"imdb_id": "tt0120744"}),
             CatalogItem("r:2", "movie", "The Man in the Iron Mask", year=1998, genres=("adventure",),
                         description=plot, extra={"imdb_id": "tt0120744"}),
             *[CatalogItem(f"r:{i}", "movie", f"Musketeer Tale {i}", year=1990 + i, genres=("adventure",),
                           description=f"Swordsmen guard a king in France, story {i}.") for i in range(3, 9)]]
    rec = Recommender(catalog_of(items, tmp_path / "c.db"), HashingEmbedder(), diversity=diversity)
    state = DialogueState(statements=["the man in the iron mask, a king of France and his secret twin brother"],
                          domain="movie")
    for diversify in (True, False):
        shown = [h.item.id for h in rec.recommend(state, 3, diversify)]
        assert len(shown) == 3 and len({"r:1", "r:2"} & set(shown)) == 1, shown


def test_a_domain_the_catalog_lacks_filters_nothing(catalog: Catalog) -> None:  # noqa: F811
    # "the book is always better" in a film chat set the domain to books, and a film catalog then had
    # nothing to recommend (22 ReDial targets were ranked last that way)
    state = DialogueState(domain="book", statements=["space horror, the book is always better"])
    rec = Recommender(catalog, HashingEmbedder())
    assert rec.filters(state).domain is None
    assert len(rec.recommend(state, 3)) == 3
    assert rec.filters(state.model_copy(update={"domain": "movie"})).domain == "movie"


def test_the_conversations_genres_and_era_reach_items_no_dialogue_named() -> None:
    years = [1980, 1984, 2014, None]
    has = np.array([[1, 0], [1, 1], [0, 1], [1, 0]], dtype=bool)  # columns: horror, comedy
    likeness = ContextLikeness(np.array(years, dtype=np.float64), has)
    # named: the two 80s films; genre shares: horror 2/2, comedy 1/2
    assert np.allclose(likeness.genres([0, 1]), [1.0, 0.75, 0.5, 1.0])
    assert np.allclose(likeness.era([0, 1]), [np.exp(-0.2), np.exp(-0.2), np.exp(-3.2), 0.0])  # median 1982
    assert not likeness.genres([]).any() and not likeness.era([3]).any()  # nothing named, or no year known
    ranker = HybridRanker(HybridWeights(context_era=1.0, context_genres=1.0), LinkCounts(), ["a", "b", "c", "d"],
                          years, likeness=likeness)
    boost = ranker.boost(RankContext(liked=["a"], shown=["b"]))
    assert np.allclose(boost, likeness.genres([0, 1]) + likeness.era([0, 1]))
    assert boost[0] > boost[3] > boost[2]  # the 80s horror film, the horror film of no known year, the 2014 comedy
    assert not HybridRanker(HybridWeights(), LinkCounts(), ["a", "b", "c", "d"], years, likeness=likeness).boost(
        RankContext(liked=["a"], shown=["b"])).any()  # weights 0: nothing added


def test_the_fitted_context_features_are_what_live_chat_adds(tmp_path: Path, catalog: Catalog) -> None:  # noqa: F811
    lines = [conversation(f"c{i}", [("s", "I loved @1 and @3"), ("r", "Then try @2")]) for i in range(4)]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dialogues = load_dialogues(path).dialogues
    rec = Recommender(catalog, HashingEmbedder())
    feats = features(dialogues, catalog, rec, MentionResolver(catalog.items), show_progress=False)
    state = DialogueState(liked=["redial:1", "redial:3"], statements=["I loved Alien and The Shining"])
    catalog.ranker = ranker_for(HybridWeights(context_genres=2.0, context_era=3.0), LinkCounts(), catalog.index)
    liked, others = context_items(state)
    live = catalog.ranker.boost(RankContext(liked, others))
    assert np.allclose(live, 2.0 * feats.content['context_genres'][0] + 3.0 * feats.content['context_era'][0])
    order = [catalog.index.items[i].title for i in np.argsort(-live)]
    assert order[:2] == ["The Shining", "Alien"] and order[-1] == "Finding Nemo"  # 1979-80 horror first, 2003 last


def test_year_bounds_from_an_era_word_are_read_as_vague_and_numbers_are_not(catalog: Catalog) -> None:  # noqa: F811
    cases = {"Any classic movies? I loved Toy Story": (None, 1995, True),  # widened to keep the example in
             "something more recent": (2010, None, True), "movies from before 1990": (None, 1989, False),
             "anything from the 80s": (1980, 1989, False)}
    for text, bounds in cases.items():
        state = DialogueState()
        track(read_rules(text, catalog.titles, None, "never"), state, catalog.items)
        assert (state.year_min, state.year_max, state.year_vague) == bounds, text
    state = DialogueState()
    for text in ("something older please", "from before 1990 then"):  # numbers after an era word: a limit again
        track(read_rules(text, catalog.titles, None, "never"), state, catalog.items)
    assert (state.year_max, state.year_vague) == (1989, False)


def test_a_fitted_year_weight_makes_era_words_a_boost_and_numbers_stay_a_filter(catalog: Catalog) -> None:  # noqa: F811
    counts = LinkCounts()
    for _ in range(5):
        counts.add_dialogue(["redial:4", "redial:6"])  # Toy Story (1995) and Finding Nemo (2003), named together
    vague = DialogueState(liked=["redial:4"], mentioned=["redial:4"], year_max=1995, year_vague=True,
                          statements=["Any classic movies? I loved Toy Story"])
    exact = vague.model_copy(update={"year_vague": False})  # "anything up to 1995"
    rec = Recommender(catalog, HashingEmbedder())
    catalog.ranker = ranker_for(HybridWeights(liked=100.0, year=2.0), counts, catalog.index)
    assert rec.filters(vague).year_max is None and rec.soft_years(vague)
    assert rec.ranking(vague, 1) == ["redial:6"]  # the co-mentioned 2003 film beats the era boost
    assert rec.filters(exact).year_max == 1995 and not rec.soft_years(exact)
    assert catalog.items[rec.ranking(exact, 1)[0]].year <= 1995  # a year given as a number stays a limit
    inside = rec.in_era(vague)
    assert inside is not None and [catalog.index.items[i].title for i in np.flatnonzero(inside)] == [
        "Alien", "Aliens", "The Shining", "Toy Story", "Heat"]
    catalog.ranker = ranker_for(HybridWeights(liked=100.0, year=YEAR_HARD), counts, catalog.index)
    assert catalog.items[rec.ranking(vague, 1)[0]].year <= 1995  # the fit's starting point: the hard filter
    catalog.ranker = ranker_for(HybridWeights(liked=100.0), counts, catalog.index)  # stored before the year weight
    assert rec.filters(vague).year_max == 1995 and catalog.items[rec.ranking(vague, 1)[0]].year <= 1995
    catalog.ranker = None
    assert rec.filters(vague).year_max == 1995  # no fitted model: a hard filter


def test_fit_learns_when_era_words_are_a_preference_not_a_limit(tmp_path: Path, catalog: Catalog) -> None:  # noqa: F811
    # Seekers who ask for classics like Toy Story about the ocean are always given Finding Nemo (2003), which the
    # content score ranks first: the era word is no limit.
    said = "Any classic movies about a fish in the ocean? I loved @4"
    lines = [conversation(f"c{i}", [("s", said), ("r", "Then try @6")]) for i in range(20)]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dialogues = load_dialogues(path).dialogues
    rec = Recommender(catalog, HashingEmbedder())
    feats = features(dialogues, catalog, rec, MentionResolver(catalog.items), show_progress=False)
    assert feats.content['year'][0].tolist() == [1, 1, 1, 1, 1, 0]  # up to 1995, kept for Toy Story
    assert np.isfinite(feats.base[0][5])  # Finding Nemo is not filtered out: the weight decides
    rankers = RankerRepository(session_factory(make_engine(f"sqlite:///{tmp_path / 'c.db'}")))
    result = fit_and_store(dialogues, catalog, rec, rankers, "test", show_progress=False)
    assert 0 < result.weights.year < YEAR_HARD and result.scores["R@1"] == 1.0
    state = DialogueState(liked=["redial:4"], mentioned=["redial:4"], year_max=1995, year_vague=True,
                          statements=[said.replace("@4", "Toy Story")])
    assert rec.ranking(state, 1) == ["redial:6"]
    assert Recommender(catalog, HashingEmbedder()).ranking(state.model_copy(update={"year_vague": False}), 1) != [
        "redial:6"]  # "up to 1995" in numbers: still a limit


def test_series_keys_join_a_film_and_its_sequels_only() -> None:
    same = [("Die Hard", "Die Hard 2"), ("The Hangover", "The Hangover Part II"), ("Rocky", "Rocky IV"),
            ("Transformers", "Transformers: Dark of the Moon"), ("Blade Runner", "Blade Runner 2049"),
            ("Guardians of the Galaxy", "Guardians of the Galaxy Vol. 2"), ("X-Men", "X-Men: Apocalypse"),
            ("星际穿越", "星际穿越：续集")]
    for a, b in same:
        assert series_key(a) and series_key(a) == series_key(b), (a, b)
    assert series_key("Alien") != series_key("Aliens") and series_key("Heat") != series_key("Heathers")
    assert series_key("It") == series_key("Up") == ""  # too short to say anything: joins nothing
    titles = ["Die Hard", "Die Hard 2", "Die Hard: With a Vengeance", "Heat", "It", "It"]
    likeness = ContextLikeness(np.full(len(titles), np.nan), np.zeros((len(titles), 1), dtype=bool), titles)
    assert likeness.series([0]).tolist() == [1, 1, 1, 0, 0, 0]
    assert likeness.series([0, 1, 0]).tolist() == [2, 2, 2, 0, 0, 0]  # each named item once
    assert not likeness.series([3, 4]).any()  # no sequel of Heat; "It" has no series key
    ranker = HybridRanker(HybridWeights(series=3.0), LinkCounts(), [f"m{i}" for i in range(6)], likeness=likeness)
    assert ranker.boost(RankContext(liked=["m0"])).tolist() == [3, 3, 3, 0, 0, 0]
    assert not ContextLikeness(np.zeros(2), np.zeros((2, 1), dtype=bool)).series([0, 1]).any()  # no titles given


SERIES = ["Crimson Harbor", "Silent Orchard", "Iron Meadow", "Velvet Canyon", "Paper Lantern", "Hollow Summit",
          "Glass River", "Amber Falls", "Copper Valley", "Frozen Tide", "Emerald Vault", "Broken Compass"]


def test_fit_learns_to_follow_a_series_and_live_chat_offers_the_sequel(tmp_path: Path) -> None:
    # Each seeker loved one film and asked for a dragon in space; the recommender offered that film's sequel.
    # Content alone prefers a dragon film over that place, and no series is named twice, so co-occurrence
    # cannot learn it.
    items = []
    for i, name in enumerate(SERIES):
        items.append(CatalogItem(f"redial:{900 + i}", "movie", f"Skyfire over {name}", year=2001,
                                 genres=("drama",), description=f"A dragon in space burns {name}.",
                                 extra={"redial_id": str(900 + i)}))
        sequel = f"{name} 2" if i % 2 else f"{name}: The Return"
        items += [CatalogItem(f"redial:{i}", "movie", name, year=1990 + i, genres=("drama",),
                              description=f"A quiet story of {name.split()[1].lower()} people.",
                              extra={"redial_id": str(i)}),
                  CatalogItem(f"redial:{100 + i}", "movie", sequel, year=1995 + i, genres=("drama",),
                              description="The family goes on.", extra={"redial_id": str(100 + i)})]
    series_catalog = catalog_of(items, tmp_path / "c.db")
    said = "I loved @{}. Anything with a dragon in space?"
    lines = [conversation(f"c{i}", [("s", said.format(i)), ("r", f"Then try @{100 + i}")]) for i in range(len(SERIES))]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dialogues = load_dialogues(path).dialogues
    rec = Recommender(series_catalog, HashingEmbedder())
    rankers = RankerRepository(session_factory(make_engine(f"sqlite:///{tmp_path / 'c.db'}")))
    result = fit_and_store(dialogues, series_catalog, rec, rankers, "test", show_progress=False)
    assert result.content_only["R@1"] < 0.5  # the dragon films come first on content
    assert result.weights.series > 0 and result.scores["R@1"] == 1.0
    state = DialogueState(liked=["redial:0"], mentioned=["redial:0"],
                          statements=["I loved Crimson Harbor. Anything with a dragon in space?"])
    assert rec.ranking(state, 1) == ["redial:100"]  # "Crimson Harbor: The Return"
    stored = load_ranker(rankers, series_catalog.index, HashingEmbedder().name)
    assert stored is not None and stored.weights.series == result.weights.series  # stored with the catalog
