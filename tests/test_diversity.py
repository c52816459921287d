"""MMR re-ranking: relevant lists that are not one franchise five times."""

from __future__ import annotations

from collections import Counter

import numpy as np

from retrieval.diversity import franchise_key, mmr
from storage.records import CatalogItem


def _item(title: str, director: str = "") -> CatalogItem:
    return CatalogItem(id=f"movie:{title}", domain="movie", title=title, creators=[director] if director else [])


def test_franchise_key_strips_sequel_numbers_and_subtitles() -> None:
    assert franchise_key(_item("Toy Story 3")) == "toy story"
    assert franchise_key(_item("Star Wars: Episode V - The Empire Strikes Back")) == "star wars"
    assert franchise_key(_item("Harry Potter and the Goblet of Fire")) == "harry potter"
    assert franchise_key(_item("The Godfather Part II")) == "the godfather"
    assert franchise_key(_item("Spider-Man")) == "spider-man"


def test_mmr_prefers_a_different_franchise_over_a_sequel() -> None:
    items = [_item("Toy Story"), _item("Toy Story 2"), _item("Toy Story 3"), _item("Finding Nemo")]
    vectors = np.eye(4, dtype=np.float32)
    relevance = np.array([0.9, 0.89, 0.88, 0.8])
    assert mmr(items, relevance, vectors, 2, lam=0.7) == [0, 3]
    assert mmr(items, relevance, vectors, 2, lam=1.0) == [0, 1]  # lambda 1 keeps the relevance order


def test_no_franchise_fills_a_list_however_relevant() -> None:
    # a fitted ranker's scores are unbounded: the series weight gave three Harry Potter films a lead that MMR's
    # penalty (at most 1 - lam) could not undo
    items = [_item("Harry Potter"), _item("Harry Potter and the Chamber of Secrets"),
             _item("Harry Potter and the Goblet of Fire"), _item("The Chronicles of Narnia")]
    vectors = np.eye(4, dtype=np.float32)
    assert mmr(items, np.array([30.0, 29.0, 28.0, 5.0]), vectors, 3, lam=0.75) == [0, 1, 3]
    assert mmr(items[:3], np.array([3.0, 2.0, 1.0]), vectors[:3, :3], 3) == [0, 1, 2]  # nothing else left


def test_mmr_takes_a_third_film_of_one_director_only_when_that_director_was_asked_for() -> None:
    items = [_item("Inception", "Christopher Nolan"), _item("Interstellar", "Christopher Nolan"),
             _item("The Dark Knight", "Christopher Nolan"), _item("The Matrix", "Lana Wachowski")]
    vectors = np.eye(4, dtype=np.float32)
    relevance = np.array([0.9, 0.89, 0.88, 0.8])
    assert mmr(items, relevance, vectors, 3, lam=0.7) == [0, 1, 3]
    assert mmr(items, relevance, vectors, 3, lam=0.7, wanted_people=frozenset({"Christopher Nolan"})) == [0, 1, 2]


def test_the_engine_list_holds_two_films_per_director_unless_asked(engine) -> None:  # type: ignore[no-untyped-def]
    for text in ("Something like Inception", "Like Inception but less confusing", "I loved Spirited Away"):
        out = engine.ask(engine.new_session(), text)
        directors = Counter(d for r in out.recommendations for d in engine.catalog.items[r.item_id].creators)
        assert len(out.recommendations) >= 3 and max(directors.values()) <= 2, text
    out = engine.ask(engine.new_session(), "Films by Christopher Nolan please")
    assert len(out.recommendations) >= 3
    assert all("Christopher Nolan" in engine.catalog.items[r.item_id].creators for r in out.recommendations)


def test_the_engine_list_holds_one_film_per_franchise(engine) -> None:  # type: ignore[no-untyped-def]
    sid = engine.new_session()
    out = engine.ask(sid, "I loved The Godfather")
    keys = [franchise_key(engine.catalog.items[r.item_id]) for r in out.recommendations]
    assert len(keys) == len(set(keys))
