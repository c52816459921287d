"""Ingest throughput against the raw embedder's, on the same texts, and the memory it takes.

usage: python bench/bench_ingest.py [--items 5000] [--embedder multilingual-e5-small] [--json OUT]
The catalog: ReDial's movies (../shared/data/redial/movies.json) written as JSONL, repeated with a numbered title
until it has --items rows (the texts are real; repeats differ in their title). The raw figure embeds the same
document texts with the same embedder and batch size, nothing else; the ingest figure is `import_file` (validate,
then store in batches) plus `sync_embeddings` (read pages, embed, store) into a fresh SQLite file, as
`concierge ingest` runs them. Prints items/s for both, their ratio (target >= 0.90) and the peak RSS of each step.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chat.catalog import import_file, sync_embeddings  # noqa: E402
from chat.settings import load_settings  # noqa: E402
from retrieval.embedders.presets import load_embedder  # noqa: E402
from storage.engine import open_database  # noqa: E402
from storage.importers import load_file  # noqa: E402
from storage.repository import CatalogRepository  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--embedder", default=None, help="default: the settings' embedder")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    settings = load_settings()
    base = load_file(settings.shared_data / "redial" / "movies.json")
    embedder = load_embedder(args.embedder or settings.embedder, settings.cache_dir, settings.resolved_device())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for n in range(args.items):
                it = base[n % len(base)]
                title = it.title if n < len(base) else f"{it.title} {n // len(base) + 1}"
                fh.write(json.dumps({"id": f"bench:{n}", "domain": "movie", "title": title, "year": it.year,
                                     "creators": list(it.creators), "genres": list(it.genres),
                                     "description": it.description}, ensure_ascii=False) + "\n")
        texts = [it.document_text() for it in load_file(path)]
        embedder.embed_documents(texts[: args.batch])  # warm up
        t0 = time.perf_counter()
        for start in range(0, len(texts), args.batch):
            embedder.embed_documents(texts[start : start + args.batch])
        raw_s = time.perf_counter() - t0
        raw_peak = peak_mb()
        repo = CatalogRepository(open_database(f"sqlite:///{Path(tmp) / 'bench.db'}"))
        t0 = time.perf_counter()
        rows, _report = import_file(repo, path)
        stored_s = time.perf_counter() - t0
        embedded = sync_embeddings(repo, embedder, batch_size=args.batch, show_progress=False)
        ingest_s = time.perf_counter() - t0
    out = {"items": rows, "embedded": embedded, "embedder": embedder.name,
           "raw_items_per_s": round(len(texts) / raw_s, 1), "ingest_items_per_s": round(rows / ingest_s, 1),
           "ratio": round(raw_s / ingest_s, 3), "import_s": round(stored_s, 1), "ingest_s": round(ingest_s, 1),
           "peak_rss_mb_after_raw": round(raw_peak), "peak_rss_mb_after_ingest": round(peak_mb())}
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
