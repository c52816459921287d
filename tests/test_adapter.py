"""The interest adapter: fitting, storage (migration 0004) and live ranking through it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import text

from chat.catalog import Catalog
from chat.recommend import Recommender
from chat.state import DialogueState
from evaluation.dialogues import load_dialogues
from evaluation.fit import FitResult, fit_and_store
from retrieval.adapter import MIN_PAIRS, adapt, fit_adapter, from_bytes, to_bytes
from retrieval.embedders.hashing import HashingEmbedder
from storage.engine import make_engine, migrate, session_factory
from storage.ranker_store import RankerRepository
from storage.repository import CatalogRepository
from tests.test_evaluation import catalog, conversation  # noqa: F401  (fixture)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _mean_rank(queries: np.ndarray, targets: np.ndarray, items: np.ndarray, adapter: np.ndarray | None) -> float:
    ranks = []
    for q, t in zip(queries, targets, strict=True):
        scores = items @ adapt(adapter, q)
        ranks.append(int((scores > scores[t]).sum()))
    return float(np.mean(ranks))


def test_the_adapter_learns_the_map_from_queries_to_the_items_asked_for() -> None:
    # Queries are the wanted item's vector turned by a fixed rotation, plus noise: plain cosine ranks the wanted
    # item far down; an adapter fitted on 300 such pairs ranks unseen queries' items near the top.
    rng = np.random.default_rng(0)
    dim, n = 16, 200
    items = _unit(rng.normal(size=(n, dim)))
    rotation = np.linalg.qr(rng.normal(size=(dim, dim)))[0].astype(np.float32)

    def queries(targets: np.ndarray) -> np.ndarray:
        return _unit(items[targets] @ rotation.T + 0.1 * rng.normal(size=(len(targets), dim)))

    train, test = rng.integers(0, n, 300), rng.integers(0, n, 100)
    adapter = fit_adapter(queries(train), train, items, strength=1e-4)
    assert adapter is not None and adapter.shape == (dim, dim) and adapter.dtype == np.float32
    q = queries(test)
    before, after = _mean_rank(q, test, items, None), _mean_rank(q, test, items, adapter)
    assert before > 40 and after < 5, (before, after)
    assert np.isclose(np.linalg.norm(adapt(adapter, q[0])), 1.0)
    # too few pairs fit nothing: ranking stays as it was
    assert fit_adapter(queries(train[:MIN_PAIRS - 1]), train[:MIN_PAIRS - 1], items) is None
    first = q[0]
    assert adapt(None, first) is first


def test_the_stored_bytes_give_back_the_adapter_for_its_dimension_only() -> None:
    adapter = np.arange(9, dtype=np.float32).reshape(3, 3)
    data = to_bytes(adapter)
    assert np.array_equal(from_bytes(data, 3), adapter)
    assert from_bytes(data, 4) is None  # fitted for 3-d vectors: another embedder's index ignores it


def test_upgrading_a_0003_database_keeps_its_ranker_and_adds_the_adapter(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0003")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO ranker_models (name, weights, meta, updated_at) "
                          "VALUES ('default', '{\"liked\": 2.0}', '{\"source\": \"old\"}', '2026-01-01')"))
        conn.execute(text("INSERT INTO item_links (model, source_id, target_id, count) "
                          "VALUES ('default', 'a', 'b', 3)"))
    migrate(engine)
    rankers = RankerRepository(session_factory(engine))
    stored = rankers.load()
    assert stored is not None and stored.weights == {"liked": 2.0} and stored.links == [("a", "b", 3.0)]
    assert stored.adapter is None
    rankers.save({"liked": 1.0}, {"source": "new"}, [], adapter=to_bytes(np.eye(2, dtype=np.float32)))
    again = rankers.load()
    assert again is not None and again.adapter is not None and np.array_equal(from_bytes(again.adapter, 2), np.eye(2))


def _fit(tmp_path: Path, catalog: Catalog, turns: list[list[tuple[str, str]]]) -> tuple[RankerRepository, FitResult]:  # noqa: F811
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(conversation(str(i), t) for i, t in enumerate(turns)) + "\n", encoding="utf-8")
    rankers = RankerRepository(session_factory(make_engine(f"sqlite:///{tmp_path / 'c.db'}")))
    embedder = HashingEmbedder()
    recommender = Recommender(catalog, embedder)
    result = fit_and_store(load_dialogues(path).dialogues, catalog, recommender, rankers, "test", show_progress=False)
    assert recommender.embedder is embedder  # the fit's batched query cache is gone afterwards
    return rankers, result


def test_the_fit_stores_an_adapter_that_helps_and_live_chat_ranks_through_it(tmp_path: Path,
                                                                             catalog: Catalog) -> None:  # noqa: F811
    # Seekers who asked for something for their grandma were recommended Heat, those who asked for something for
    # their nephew Finding Nemo. Nothing but the adapter can tell them apart (no movie named, no genre, equal
    # counts), so it is kept; it turns the interest vector of a grandma request towards Heat's vector, in the fit
    # and after a fresh load.
    grandma, nephew = "Something to watch with my grandma tonight", "Something to watch with my nephew tonight"
    rankers, result = _fit(tmp_path, catalog, [[("s", grandma), ("r", "Then watch @5")],
                                               [("s", nephew), ("r", "Then watch @6")]] * (MIN_PAIRS // 2 + 15))
    assert result.adapter is not None and result.adapter_pairs == 2 * (MIN_PAIRS // 2 + 15)
    assert result.scores["R@1"] > result.without_adapter["R@1"]
    stored = rankers.load_for(HashingEmbedder().name)
    assert stored is not None and stored.adapter == to_bytes(result.adapter) and stored.meta["adapter_kept"]
    fresh = Catalog.load(CatalogRepository(session_factory(make_engine(f"sqlite:///{tmp_path / 'c.db'}"))),
                         HashingEmbedder())
    assert fresh.ranker is not None and np.array_equal(fresh.ranker.adapter, result.adapter)
    rec = Recommender(fresh, HashingEmbedder())
    state = DialogueState(statements=[grandma])
    raw, adapted = rec.raw_interest(state), rec.interest(state)
    assert raw is not None and adapted is not None and np.isclose(np.linalg.norm(adapted), 1.0)
    heat = fresh.index.vector("redial:5")
    assert heat is not None and float(adapted @ heat) > float(raw @ heat) + 0.05
    # without the fitted ranker nothing is adapted
    fresh.ranker = None
    assert np.array_equal(rec.interest(state), raw)


def test_an_adapter_that_adds_nothing_is_left_out(tmp_path: Path, catalog: Catalog) -> None:  # noqa: F811
    # Seekers who loved Toy Story were always recommended The Shining: co-occurrence alone ranks it first in every
    # fold, so the adapter cannot raise the cross-validated recall and is not stored.
    rankers, result = _fit(tmp_path, catalog, [[("s", "I loved @4"), ("r", "Then watch @3")]] * (MIN_PAIRS + 10))
    assert result.adapter is None and result.adapter_pairs == MIN_PAIRS + 10
    assert result.scores == result.without_adapter and result.scores["R@1"] == 1.0
    stored = rankers.load_for(HashingEmbedder().name)
    assert stored is not None and stored.adapter is None and not stored.meta["adapter_kept"]
