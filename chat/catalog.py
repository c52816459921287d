"""The catalog as the chat layer sees it: default import, embedding sync, and the shared indexes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from chat.linker import TitleIndex
from retrieval.embedders.base import Embedder
from retrieval.index import VectorIndex
from retrieval.ranking import HybridRanker, HybridWeights, LinkCounts
from storage.errors import EmptyCatalogError
from storage.importers import embedded_catalog_files, load_file
from storage.ranker_store import RankerRepository
from storage.records import CatalogItem
from storage.repository import CatalogRepository, UpsertReport

log = logging.getLogger(__name__)


def import_default_catalog(repo: CatalogRepository) -> UpsertReport:
    """Upsert the embedded movies and books (idempotent)."""
    items: list[CatalogItem] = []
    for path in embedded_catalog_files():
        items += load_file(path)
    return repo.upsert(items)


def sync_embeddings(repo: CatalogRepository, embedder: Embedder, batch_size: int = 64,
                    show_progress: bool = True) -> int:
    """Embed the items that have no vector for this embedder (or changed since); returns how many."""
    todo = repo.needing_embedding(embedder.name)
    if not todo:
        return 0
    log.info("Embedding %d catalog items with %s", len(todo), embedder.name)
    bar = tqdm(total=len(todo), desc=f"embedding ({embedder.name})", unit="item",
               disable=not show_progress or log.getEffectiveLevel() > logging.INFO)
    for start in range(0, len(todo), batch_size):
        chunk = todo[start : start + batch_size]
        vectors = embedder.embed_documents([it.document_text() for it in chunk])
        repo.save_embeddings(embedder.name, chunk, vectors)
        bar.update(len(chunk))
    bar.close()
    return len(todo)


@dataclass
class Catalog:
    """Items, their vectors and the title index: built once per process, read-only afterwards."""

    items: dict[str, CatalogItem]
    index: VectorIndex
    titles: TitleIndex
    people: set[str] = field(default_factory=set)  # every creator named in the catalog
    ranker: HybridRanker | None = None  # the fitted hybrid ranker; None: content-only ranking

    @classmethod
    def load(cls, repo: CatalogRepository, embedder: Embedder) -> Catalog:
        items = {it.id: it for it in repo.all_items()}
        if not items:
            raise EmptyCatalogError("The catalog is empty: run `concierge ingest FILE` or `concierge models` "
                                    "(which imports the default catalog).")
        ids, matrix = repo.load_embeddings(embedder.name)
        keep = [i for i, item_id in enumerate(ids) if item_id in items]
        matrix = matrix[keep] if len(ids) else np.zeros((0, 1), dtype=np.float32)
        ordered = [items[ids[i]] for i in keep]
        if len(ordered) < len(items):
            log.warning("%d items have no %s vector yet; run `concierge ingest` to embed them",
                        len(items) - len(ordered), embedder.name)
        index = VectorIndex(ordered, matrix)
        return cls(items=items, index=index, titles=TitleIndex(items.values()),
                   people={p for it in items.values() for p in it.creators if len(p) > 3},
                   ranker=load_ranker(RankerRepository(repo.sessions), index))


def load_ranker(rankers: RankerRepository, index: VectorIndex) -> HybridRanker | None:
    """The stored hybrid ranker bound to `index`, or None when none was fitted (`concierge eval fit`)."""
    stored = rankers.load()
    if stored is None or not stored.weights:
        return None
    log.info("Hybrid ranker loaded (%s)", stored.weights)
    return HybridRanker(HybridWeights.from_json(stored.weights), LinkCounts.from_rows(stored.links),
                        [it.id for it in index.items], [it.year for it in index.items])
