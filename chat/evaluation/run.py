"""What the `concierge eval ...` commands do, settings in and typed results out (the CLI only prints)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from chat.evaluation.baselines import mention_counts
from chat.evaluation.catalog_db import OpenedCatalog, open_catalog
from chat.evaluation.dialogues import Dialogue, LoadReport, MentionResolver, load_dialogues, select
from chat.evaluation.redial import CachingEmbedder, EvalReport, evaluate
from chat.evaluation.replay import Replayer
from chat.recommend import Recommender
from chat.settings import Settings
from storage.errors import ConciergeError

log = logging.getLogger(__name__)


@dataclass
class RedialRun:
    report: EvalReport
    loaded: LoadReport
    opened: OpenedCatalog
    split: str
    train_note: str
    ranker_note: str
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        out = self.report.to_json()
        out.update({"split": self.split, "input": self.loaded.to_json(), "popularity_counts": self.train_note,
                    "ranker": self.ranker_note, "catalog_db": self.opened.url,
                    "catalog_embedded_now": self.opened.embedded,
                    "catalog_embed_seconds": round(self.opened.embed_seconds, 1), "notes": self.notes})
        return out


def open_eval_catalog(settings: Settings, catalog_file: Path, db_url: str | None = None,
                      show_progress: bool = True) -> tuple[OpenedCatalog, CachingEmbedder]:
    from retrieval.embedders.presets import load_embedder

    embedder = CachingEmbedder(load_embedder(settings.embedder, settings.cache_dir, settings.resolved_device()))
    opened = open_catalog(catalog_file, embedder, settings.data_dir / "eval", db_url, show_progress)
    return opened, embedder


def training_dialogues(dialogues_file: Path, split: str, train_file: Path | None) -> tuple[list[Dialogue], str]:
    """The dialogues the popularity counts may come from, never the ones being evaluated."""
    same = train_file is not None and train_file.resolve() == dialogues_file.resolve()
    if train_file is None or same:
        if split != "heldout":
            if same:
                raise ConciergeError(f"--train {train_file} is the file being evaluated: pass --split heldout "
                                     "(the counts then come from its fit part) or another training file.")
            return [], "none (pass --train FILE, or --split heldout to count on the fit part)"
        return select(load_dialogues(dialogues_file).dialogues, "fit"), f"{dialogues_file} (fit part)"
    return load_dialogues(train_file).dialogues, str(train_file)


def run_redial(settings: Settings, dialogues_file: Path, catalog_file: Path, train_file: Path | None = None,
               limit: int | None = None, ks: tuple[int, ...] = (1, 10, 50), split: str = "all",
               with_llm: bool = False, use_ranker: bool = True, db_url: str | None = None,
               show_progress: bool = True) -> RedialRun:
    loaded = load_dialogues(dialogues_file)
    dialogues = select(loaded.dialogues, split)
    if limit is not None:
        dialogues = dialogues[:limit]
    train, train_note = training_dialogues(dialogues_file, split, train_file)
    opened, embedder = open_eval_catalog(settings, catalog_file, db_url, show_progress)
    catalog = opened.catalog
    notes: list[str] = []
    stored = opened.rankers.load()
    if not use_ranker:
        catalog.ranker = None
    if catalog.ranker is None:
        ranker_note = "content only" + (" (--no-ranker)" if stored and not use_ranker else "")
    else:
        meta = stored.meta if stored else {}
        ranker_note = f"hybrid {catalog.ranker.weights.to_json()} fitted on {meta.get('source', '?')}"
        fitted = set(meta.get("conversation_ids") or [])
        overlap = sum(1 for d in dialogues if d.conversation_id in fitted)
        if overlap:
            notes.append(f"{overlap} of the {len(dialogues)} evaluated conversations were used to fit the ranker: "
                         "these figures are not held-out figures")
    resolver = MentionResolver(catalog.items)
    counts: Counter[str] | None = mention_counts(train, resolver) if train else None
    resolver.unknown.clear()
    resolver.unknown_mentions = 0
    generator = None
    if with_llm:
        from chat.lm.presets import load_generator

        generator = load_generator(settings.lm, settings.cache_dir, settings.resolved_device())
    replayer = Replayer(catalog.titles, resolver, generator, "always" if with_llm else "never")
    report = evaluate(dialogues, Recommender(catalog, embedder), resolver, counts, ks, replayer, show_progress)
    return RedialRun(report, loaded, opened, split, train_note, ranker_note, notes)
