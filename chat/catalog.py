"""The catalog as the chat layer sees it: default import, embedding sync, and the shared indexes."""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from tqdm import tqdm

from chat.reading import AttributeReader
from chat.text import normalise
from chat.titles import TitleIndex
from common.errors import EmptyCatalogError
from retrieval.adapter import from_bytes
from retrieval.embedders.base import Embedder
from retrieval.index import VectorIndex
from retrieval.ranking import ContextLikeness, HybridRanker, HybridWeights, LinkCounts, item_people
from storage.attributes import AttributeSpec, load_schema
from storage.importers import catalog_schema, embedded_catalog_files, iter_file, load_file
from storage.ranker_store import RankerRepository
from storage.records import CatalogItem
from storage.repository import CatalogRepository, UpsertReport
from storage.users import FeedbackRepository

log = logging.getLogger(__name__)


def import_default_catalog(repo: CatalogRepository) -> UpsertReport:
    """Upsert the embedded movies and books (idempotent)."""
    items: list[CatalogItem] = []
    for path in embedded_catalog_files():
        items += load_file(path)
    return repo.upsert(items)


IMPORT_BATCH = 2000  # rows per transaction when importing a file


def import_file(repo: CatalogRepository, path: Path, fmt: str | None = None, mapping: dict[str, str] | None = None,
                domain: str = "movie", schema_file: Path | None = None,
                batch_size: int = IMPORT_BATCH) -> tuple[int, UpsertReport]:
    """Upsert a catalog file with the attributes it declares (`schema_file`, else the schema file beside it):
    (rows read, what changed).

    Two passes over the file, so memory stays bounded for any size: the first validates every row and stores
    nothing (an invalid row stops the import with nothing of the file stored), the second stores it in batches of
    `batch_size`, one transaction each. An import cut off in the second pass is finished by running it again: the
    batches already stored are unchanged and skipped.
    """
    schema: dict[str, AttributeSpec] = load_schema(schema_file) if schema_file else catalog_schema(path)
    rows = sum(1 for _ in iter_file(path, fmt, mapping, domain, schema))
    report = UpsertReport(0, 0, 0)
    for chunk in batches(iter_file(path, fmt, mapping, domain, schema), batch_size):
        report += repo.upsert(chunk, schema)
    return rows, report


def batches(items: Iterable[CatalogItem], size: int) -> Iterator[list[CatalogItem]]:
    """`items` in lists of `size` (the last one shorter)."""
    chunk: list[CatalogItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def sync_embeddings(repo: CatalogRepository, embedder: Embedder, batch_size: int = 64,
                    show_progress: bool = True, page: int = 4096) -> int:
    """Embed the items that have no vector for this embedder (or changed since); returns how many.

    Items are read `page` at a time, in id order, and each batch's vectors are stored as soon as they are computed:
    memory stays bounded, and a run cut off is resumed by running it again (what is stored is not redone)."""
    total = repo.count_needing_embedding(embedder.name)
    if not total:
        return 0
    log.info("Embedding %d catalog items with %s", total, embedder.name)
    bar = tqdm(total=total, desc=f"embedding ({embedder.name})", unit="item",
               disable=not show_progress or log.getEffectiveLevel() > logging.INFO)
    done, after = 0, None
    while todo := repo.needing_embedding(embedder.name, limit=page, after=after):
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            vectors = embedder.embed_documents([it.document_text() for it in chunk])
            repo.save_embeddings(embedder.name, chunk, vectors)
            bar.update(len(chunk))
        done, after = done + len(todo), todo[-1].id
    bar.close()
    return done


@dataclass
class Catalog:
    """Items, their vectors and the title index: built once per process, read-only afterwards."""

    items: dict[str, CatalogItem]
    index: VectorIndex
    titles: TitleIndex
    people: set[str] = field(default_factory=set)  # every creator named in the catalog
    ranker: HybridRanker | None = None  # the fitted hybrid ranker; None: content-only ranking
    twins: dict[str, tuple[str, ...]] = field(default_factory=dict)  # one work's other records (`twin_ids`)
    attributes: dict[str, AttributeSpec] = field(default_factory=dict)  # what the catalog declares (price, ...)

    @cached_property
    def attribute_reader(self) -> AttributeReader | None:
        """Reads the declared attributes out of messages; None for a catalog that declares none."""
        if not self.attributes:
            return None
        observed: dict[str, set[str]] = defaultdict(set)
        for item in self.items.values():
            for name, value in item.attributes.items():
                if isinstance(value, str | list) and name in self.attributes:
                    observed[name].update([value] if isinstance(value, str) else value)
        return AttributeReader(self.attributes, observed)

    @classmethod
    def load(cls, repo: CatalogRepository, embedder: Embedder, with_ranker: bool = True,
             with_likes: bool = True) -> Catalog:
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
                   ranker=load_ranker(RankerRepository(repo.sessions), index, embedder.name,
                                      FeedbackRepository(repo.sessions) if with_likes else None)
                   if with_ranker else None, twins=twin_ids(items.values()), attributes=repo.declarations())


def twin_ids(items: Iterable[CatalogItem]) -> dict[str, tuple[str, ...]]:
    """Per item id, the other records of the same work: one domain and normalised title with the same IMDb id,
    or the same known year. ReDial lists "The Godfather" and "The Godfather (1972)" (one IMDb id) apart, and
    liking one must not bring the other back as a recommendation."""
    groups: defaultdict[tuple[object, ...], list[str]] = defaultdict(list)
    for it in items:
        key = (it.domain, normalise(it.title))
        imdb = it.extra.get("imdb_id")
        if imdb:
            groups[(*key, "imdb", imdb)].append(it.id)
        if it.year:
            groups[(*key, "year", it.year)].append(it.id)
    twins: defaultdict[str, set[str]] = defaultdict(set)
    for ids in groups.values():
        for item_id in ids:
            twins[item_id].update(i for i in ids if i != item_id)
    return {item_id: tuple(sorted(others)) for item_id, others in twins.items() if others}


# Without a fitted model, users' likes still count: liked-together items lift each other this much.
FEEDBACK_WEIGHTS = HybridWeights(liked=0.5)


def load_ranker(rankers: RankerRepository, index: VectorIndex, embedder: str,
                feedback: FeedbackRepository | None = None) -> HybridRanker | None:
    """The stored hybrid ranker fitted with `embedder` (else the shared one) bound to `index`, its collaborative
    counts joined by the product's own feedback (items liked by the same user; accepted recommendations), or
    None when there is neither."""
    stored = rankers.load_for(embedder)
    fitted_with = stored.meta.get("embedder") if stored else None
    if fitted_with and fitted_with != embedder:
        log.warning("The hybrid ranker was fitted with the embedder %s, not %s: its weights may not suit this "
                    "one; re-run `concierge eval fit` with this embedder.", fitted_with, embedder)
    weights = HybridWeights.from_json(stored.weights) if stored and stored.weights else None
    counts = LinkCounts.from_rows(stored.links) if weights and stored else LinkCounts()
    adapter = from_bytes(stored.adapter, index.dim) if weights and stored and stored.adapter else None
    pairs = feedback.co_liked_pairs() if feedback else {}
    for (a, b), n in pairs.items():
        counts.add_dialogue([a, b], float(n))
    if weights is None and not pairs:
        return None
    log.info("Hybrid ranker loaded (%s; %d liked-together pairs from feedback)", weights or FEEDBACK_WEIGHTS,
             len(pairs))
    return ranker_for(weights or FEEDBACK_WEIGHTS, counts, index, fitted=weights is not None, adapter=adapter)


def ranker_for(weights: HybridWeights, counts: LinkCounts, index: VectorIndex, fitted: bool = True,
               adapter: np.ndarray | None = None) -> HybridRanker:
    """A hybrid ranker bound to `index`'s rows, with the years, people and genres of its items."""
    return HybridRanker(weights, counts, [it.id for it in index.items], [it.year for it in index.items],
                        [item_people(it.creators, it.extra) for it in index.items], fitted,
                        likeness_for(index), adapter)


def likeness_for(index: VectorIndex) -> ContextLikeness:
    """The catalog facts the likeness features read (years, genres, titles of `index`'s items): one place for
    live ranking and the fit, so both score the same features."""
    return ContextLikeness(index.years, index.genre_matrix, [it.title for it in index.items])


def catalog_db_url(catalog_file: Path, folder: Path) -> str:
    """`<folder>/<file stem>-<sha1 of the file, 10 hex>.db`: the database a catalog file is imported into once
    (a changed file gets a fresh one)."""
    digest = hashlib.sha1(catalog_file.read_bytes()).hexdigest()[:10]
    return f"sqlite:///{folder / f'{catalog_file.stem}-{digest}.db'}"
