"""Retrieval speed on the 6,583-movie ReDial catalog: query encoding and scoring + filtering.

usage: python bench/bench_retrieval.py [--embedder multilingual-e5-small] [--data DIR]
The first run embeds the catalog once (a few minutes on 2 cores) into DIR (default .cache/bench).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from chat.catalog import Catalog, sync_embeddings  # noqa: E402
from chat.settings import load_settings  # noqa: E402
from retrieval.embedders.presets import load_embedder  # noqa: E402
from retrieval.index import Filters  # noqa: E402
from storage.engine import open_database  # noqa: E402
from storage.importers import load_file  # noqa: E402
from storage.repository import CatalogRepository  # noqa: E402

QUERIES = ["a funny movie for the whole family", "dark psychological thriller with a twist", "space adventure",
           "romantic comedy set in New York", "something like The Matrix", "我喜欢科幻电影", "a war drama",
           "animated film about friendship", "a scary horror movie from the 80s", "crime saga about the mafia"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--embedder", default="multilingual-e5-small")
    ap.add_argument("--data", type=Path, default=Path(".cache/bench"))
    args = ap.parse_args()
    settings = load_settings()
    repo = CatalogRepository(open_database(f"sqlite:///{args.data / 'redial.db'}"))
    repo.upsert(load_file(settings.shared_data / "redial" / "movies.json"))
    embedder = load_embedder(args.embedder, settings.cache_dir)
    t = time.perf_counter()
    n = sync_embeddings(repo, embedder)
    if n:
        print(f"embedded {n} items in {time.perf_counter() - t:.0f} s")
    catalog = Catalog.load(repo, embedder)
    index = catalog.index
    enc = []
    for _ in range(5):
        for q in QUERIES:
            t = time.perf_counter()
            embedder.embed_query(q)
            enc.append((time.perf_counter() - t) * 1000)
    vecs = embedder.embed_queries(QUERIES)
    exclude = frozenset(it.id for it in index.items[:50])
    filters = [Filters(), Filters(genres_any=frozenset({"comedy"})), Filters(genres_none=frozenset({"horror"}),
               year_min=1990, year_max=1999, exclude_ids=exclude)]
    score = []
    for _ in range(20):
        for vec in vecs:
            for f in filters:
                t = time.perf_counter()
                index.search(vec, f, 10)
                score.append((time.perf_counter() - t) * 1000)
    result = {"catalog_items": len(index), "dim": index.dim,
              "query_encoding_ms": {"p50": statistics.median(enc), "p95": float(np.percentile(enc, 95))},
              "scoring_filtering_ms": {"p50": statistics.median(score), "p95": float(np.percentile(score, 95))}}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
