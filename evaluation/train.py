"""`concierge train`: fine-tune the embedder on (dialogue context -> item recommended next) pairs, kept only if it wins.

Pairs come from the same replay as `eval redial`: at each recommender message that names a catalog
movie not named before, the query is the text the live ranking would encode for that state
(`Recommender.query_texts`, the latest statement with its wanted genres) and the positive is the new
movie's catalog document. Only the fit part of the split is read. The trained model is saved as a
preset folder `<model cache>/embedders/<name>` (`CONCIERGE_EMBEDDER=<name>` selects it) with a
`concierge-train.json` describing how it was made; then the held-out part of the same file is
replayed content-only with the base and the trained embedder, and the trained one is kept only if
its deduplicated R@10 + R@50 is higher (or `keep` forces it). By default a quarter of the fit part is
not trained on, so the hybrid ranker's weights can later be fitted on conversations the embedder never saw.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chat.catalog import Catalog, sync_embeddings
from chat.recommend import Recommender
from chat.settings import Settings
from common.errors import ConciergeError
from evaluation.dialogues import Dialogue, MentionResolver, load_dialogues, select
from evaluation.fit import FOLDS, fold_of
from evaluation.redial import evaluate
from evaluation.replay import Replayer
from evaluation.run import open_eval_catalog
from retrieval.embedders.base import Embedder
from retrieval.embedders.finetune import FinetuneConfig, TrainingPair, finetune
from retrieval.embedders.presets import TRAIN_INFO, prepare_embedder, trained_embedder

log = logging.getLogger(__name__)

RESERVED_FOLD = FOLDS - 1  # the fit fold kept out of embedder training (see `run_train`)


def training_pairs(dialogues: list[Dialogue], catalog: Catalog, resolver: MentionResolver,
                   item_pairs: bool = False) -> list[TrainingPair]:
    """(query the live ranking would encode, document of a movie the recommender named next) per new target.

    With `item_pairs`, also (document of the movie named last before, document of the new target): liked
    items enter the interest vector as documents, so item-to-item closeness is learnt too.
    """
    replayer = Replayer(catalog.titles, resolver)
    pairs = []
    for dialogue in dialogues:
        for turn in replayer.turns(dialogue):
            texts = Recommender.query_texts(turn.state)
            last = next((c for c in reversed(turn.context_ids) if c in catalog.items), None)
            for target in turn.targets:
                if target in turn.context_ids or target not in catalog.items:
                    continue
                document = catalog.items[target].document_text()
                if texts:
                    pairs.append(TrainingPair(texts[0], document, target))
                if item_pairs and last is not None:
                    pairs.append(TrainingPair(catalog.items[last].document_text(), document, target, True))
    return pairs


@dataclass
class GateResult:
    """Held-out deduplicated recall, content-only, of the base and the trained embedder."""

    base: dict[str, float]
    trained: dict[str, float]
    conversations: int

    @property
    def wins(self) -> bool:
        return _score(self.trained) > _score(self.base)

    def to_json(self) -> dict[str, object]:
        return {"base": self.base, "trained": self.trained, "heldout_conversations": self.conversations,
                "trained_wins": self.wins}


def _score(dedup: dict[str, float]) -> float:
    return dedup.get("R@10", 0.0) + dedup.get("R@50", 0.0)


def content_recall(dialogues: list[Dialogue], catalog: Catalog, embedder: Embedder,
                   show_progress: bool = True) -> dict[str, float]:
    """Deduplicated R@1/10/50 of content-only ranking (no fitted ranker) over `dialogues`."""
    saved, catalog.ranker = catalog.ranker, None
    try:
        resolver = MentionResolver(catalog.items)
        report = evaluate(dialogues, Recommender(catalog, embedder), resolver, None, show_progress=show_progress)
    finally:
        catalog.ranker = saved
    dedup = report.methods["concierge"].dedup
    return {f"R@{k}": round(dedup.recall(k), 4) for k in dedup.ks}


def run_train(settings: Settings, dialogues_file: Path, catalog_file: Path, name: str, split: str = "fit",
              config: FinetuneConfig | None = None, limit: int | None = None, keep: bool = False,
              reserve: bool = True, item_pairs: bool = True, db_url: str | None = None, show_progress: bool = True,
              progress: Callable[[int, int, float], None] | None = None) -> dict[str, object]:
    """Build pairs, fine-tune, check on the held-out part, and keep or drop the model; returns a summary.

    `reserve` leaves one of the ranker's folds (a quarter of the fit part) out of training, so that
    `concierge eval fit` can fit the hybrid weights on conversations this embedder has not seen.
    """
    config = config or FinetuneConfig()
    if split not in ("fit", "all"):
        raise ConciergeError("Train on --split fit (the held-out part then decides whether the model is kept) "
                             "or --split all (a final model, with --keep); never on the held-out part.")
    if split == "all" and not keep:
        raise ConciergeError("--split all leaves no held-out part to check the model on: add --keep to keep "
                             "it anyway, or train on --split fit.")
    if not name or "/" in name or name.startswith("."):
        raise ConciergeError(f"'{name}' cannot name a preset: use letters, digits, '-' or '_'.")
    base_folder = prepare_embedder(settings.embedder, settings.cache_dir)
    if base_folder is None:
        raise ConciergeError(f"Cannot fine-tune '{settings.embedder}': set CONCIERGE_EMBEDDER to a "
                             "sentence-transformers preset or folder (the hashing embedder has nothing to train).")
    loaded = load_dialogues(dialogues_file)
    train = select(loaded.dialogues, split)[:limit]
    if reserve:
        train = [d for d in train if fold_of(d.conversation_id) != RESERVED_FOLD]
    heldout = select(loaded.dialogues, "heldout") if split == "fit" else []
    opened, base_embedder = open_eval_catalog(settings, catalog_file, db_url, show_progress, threads=None)
    catalog = opened.catalog
    pairs = training_pairs(train, catalog, MentionResolver(catalog.items), item_pairs)
    if len(pairs) < 2:
        raise ConciergeError(f"{dialogues_file} ({split} part) gives {len(pairs)} training pair(s): a recommender "
                             "turn must name a catalog movie after the seeker said something. Check --catalog.")

    final = settings.cache_dir / "embedders" / name
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=final.parent))
    try:
        t0 = time.perf_counter()
        report = finetune(str(base_folder), pairs, work / "model", config, base_embedder.query_prefix,
                          base_embedder.document_prefix, settings.resolved_device(), progress)
        info = {"id": uuid.uuid4().hex[:12], "base": settings.embedder, "dialogues": str(dialogues_file),
                "split": split, "conversations": len(train), "catalog": str(catalog_file), "item_pairs": item_pairs,
                "reserved_fold": RESERVED_FOLD if reserve else None,
                "conversation_ids": [d.conversation_id for d in train],
                "config": config.__dict__, "training": report.to_json(), "trained_at": time.strftime("%Y-%m-%d %H:%M")}
        (work / "model" / TRAIN_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        gate = None
        if heldout:
            trained = trained_embedder(name, work / "model", settings.resolved_device())
            sync_embeddings(opened.repo, trained, show_progress=show_progress)
            trained_catalog = Catalog.load(opened.repo, trained, with_ranker=False)
            gate = GateResult(content_recall(heldout, catalog, base_embedder, show_progress),
                              content_recall(heldout, trained_catalog, trained, show_progress), len(heldout))
            info["heldout"] = gate.to_json()
            (work / "model" / TRAIN_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        kept = keep or (gate is not None and gate.wins)
        if kept:
            if final.exists():
                shutil.rmtree(final)
            (work / "model").rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"preset": name, "kept": kept, "folder": str(final) if kept else None, "pairs": len(pairs),
            "conversations": len(train), "training": report.to_json(), "heldout": gate.to_json() if gate else None,
            "seconds": round(time.perf_counter() - t0, 1), "malformed_lines": len(loaded.malformed)}
