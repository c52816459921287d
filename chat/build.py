"""Wiring: an engine from the settings (database, catalog, models), and one shared engine per process."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from chat.catalog import Catalog, catalog_db_url, import_default_catalog, import_file, sync_embeddings
from chat.engine import Engine
from chat.lm.base import Generator
from chat.reading import Taught
from chat.settings import Settings
from common.errors import ConfigError
from retrieval.embedders.base import Embedder
from storage.engine import open_database
from storage.importers import demo_catalog_file
from storage.repository import CatalogRepository, ConversationRepository
from storage.users import FeedbackRepository, ProfileRepository

log = logging.getLogger(__name__)
READER_BASE = "multilingual-e5-small"  # the encoder the taught reader is fine-tuned from


def configured_catalog(settings: Settings) -> Path | None:
    """The file the `catalog` setting names (None: the embedded default)."""
    if settings.catalog == "default":
        return None
    return demo_catalog_file(settings.catalog) or Path(settings.catalog).expanduser()


def build_engine(settings: Settings, embedder: Embedder | None = None, generator: Generator | None = None,
                 load_lm: bool = True, catalog_file: Path | None = None) -> Engine:
    """Open the database (migrating it), import the catalog the settings name (or `catalog_file`) if it is empty,
    sync embeddings, load models."""
    catalog_file = catalog_file or configured_catalog(settings)
    sessions = open_database(settings.db_url)
    catalog_repo = CatalogRepository(sessions)
    if catalog_repo.count() == 0:
        report = import_file(catalog_repo, catalog_file)[1] if catalog_file else import_default_catalog(catalog_repo)
        log.info("Imported the %s catalog: %d items", catalog_file or "default", report.added)
    if embedder is None:
        from retrieval.embedders.presets import load_embedder

        embedder = load_embedder(settings.embedder, settings.cache_dir, settings.resolved_device())
    sync_embeddings(catalog_repo, embedder)
    catalog = Catalog.load(catalog_repo, embedder, with_likes=settings.learn_from_likes)
    if generator is None and load_lm and (settings.lm_replies or settings.lm_extraction != "never"):
        from chat.lm.presets import configured_generator

        generator = configured_generator(settings)
    return Engine(settings, catalog, embedder, ConversationRepository(sessions), generator, catalog_repo,
                  ProfileRepository(sessions), FeedbackRepository(sessions), taught_reader(settings))


def taught_reader(settings: Settings) -> Taught | None:
    """The taught reader the `reader` setting asks for, if `concierge train-reader` made one (else the rules)."""
    if settings.reader == "rules":
        return None
    from chat.reading import OPINION_FIELDS, OpinionModel
    from retrieval.embedders.presets import prepare_embedder

    cache = settings.cache_dir
    if not (cache / "readers" / "opinions").is_dir():
        if settings.reader == "model":
            log.warning("reader=model, but no taught reader is trained (`concierge train-reader`): the rules read")
        return None
    base = prepare_embedder(READER_BASE, cache)
    model = OpinionModel.find(cache, str(base), settings.resolved_device())
    if model is None:
        return None
    fields = frozenset(OPINION_FIELDS) if settings.reader == "model" else frozenset(model.fields())
    log.info("The taught reader reads %s; the rules the rest", ", ".join(sorted(fields)) or "nothing")
    return Taught(model, fields)


def build_engine_for(settings: Settings, catalog: str, embedder: Embedder | None = None,
                     generator: Generator | None = None) -> Engine:
    """An engine over a named catalog: "default" (the settings' database), "redial" (the shared ReDial
    movies) or a catalog file, each file kept in its own database under data_dir/eval."""
    if catalog == "default":
        return build_engine(settings.model_copy(update={"catalog": "default"}), embedder, generator)
    path = (settings.shared_data / "redial" / "movies.json" if catalog == "redial" else demo_catalog_file(catalog)
            or Path(catalog))
    if not path.is_file():
        hint = "set CONCIERGE_SHARED_DATA to the folder holding redial/" if catalog == "redial" else \
            "give a .jsonl, .csv or ReDial movies.json file"
        raise ConfigError(f"No catalog file at {path}: {hint}.")
    folder = settings.data_dir / "eval"  # shared with `concierge eval redial`: one embedding, one fitted ranker
    folder.mkdir(parents=True, exist_ok=True)
    scoped = settings.model_copy(update={"database_url": catalog_db_url(path, folder)})
    return build_engine(scoped, embedder, generator, catalog_file=path)


_shared: dict[str, Engine] = {}
_shared_lock = threading.Lock()


def shared_engine(settings: Settings) -> Engine:
    """One engine per process and settings: models load once and are shared by every session."""
    key = settings.model_dump_json()
    with _shared_lock:
        if key not in _shared:
            _shared[key] = build_engine(settings)
        return _shared[key]
