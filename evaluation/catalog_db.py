"""A cached database per catalog file: imported and embedded once, reused by every later evaluation run."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from chat.catalog import Catalog, catalog_db_url, sync_embeddings
from retrieval.embedders.base import Embedder
from storage.engine import open_database
from storage.importers import load_file
from storage.ranker_store import RankerRepository
from storage.repository import CatalogRepository

log = logging.getLogger(__name__)


@dataclass
class OpenedCatalog:
    catalog: Catalog
    repo: CatalogRepository
    rankers: RankerRepository
    url: str
    embedded: int
    embed_seconds: float


def open_catalog(catalog_file: Path, embedder: Embedder, folder: Path, url: str | None = None,
                 show_progress: bool = True) -> OpenedCatalog:
    """Import `catalog_file` (idempotent upsert) into its cached database, embed what is missing, load it."""
    items = load_file(catalog_file)
    url = url or catalog_db_url(catalog_file, folder)
    sessions = open_database(url)
    repo = CatalogRepository(sessions)
    report = repo.upsert(items)
    if report.added or report.updated:
        log.info("catalog %s: %d added, %d updated", catalog_file, report.added, report.updated)
    t = time.perf_counter()
    n = sync_embeddings(repo, embedder, show_progress=show_progress)
    seconds = time.perf_counter() - t
    # the fitted counts only: likes stored by sessions on this database (scripted dialogues, the simulator,
    # a demo) must not move evaluation figures
    return OpenedCatalog(Catalog.load(repo, embedder, with_likes=False), repo, RankerRepository(sessions), url, n,
                         seconds)
