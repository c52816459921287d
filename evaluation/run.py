"""What the `concierge eval ...` commands do, settings in and typed results out (the CLI only prints)."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from chat.build import build_engine, taught_reader
from chat.reading import LM_FIELDS, OPINION_FIELDS, Taught
from chat.recommend import Recommender
from chat.settings import Settings
from common.errors import ConciergeError
from evaluation.baselines import mention_counts
from evaluation.catalog_db import OpenedCatalog, open_catalog
from evaluation.dialogues import KFOLD, Dialogue, LoadReport, MentionResolver, load_dialogues, select
from evaluation.fit import reader_name
from evaluation.redial import CachingEmbedder, EvalReport, evaluate
from evaluation.replay import Replayer
from retrieval.adapter import MIN_PAIRS
from storage.records import CatalogItem

if TYPE_CHECKING:
    from chat.lm.base import Generator
    from evaluation.fit import FitResult
    from evaluation.reader import ReaderConfig
    from retrieval.embedders.base import Embedder

log = logging.getLogger(__name__)
# share of the shared dialogues' movie mentions the catalog must know for them to be its default training data
DEFAULT_TRAINING_COVERAGE = 0.5


@dataclass
class RedialRun:
    report: EvalReport
    loaded: LoadReport
    opened: OpenedCatalog
    split: str
    train_note: str
    ranker_note: str
    notes: list[str] = field(default_factory=list)
    folds: list[dict[str, object]] = field(default_factory=list)  # --split kfold: each outer fold's ranker and scores

    def to_json(self) -> dict[str, object]:
        out = self.report.to_json()
        if self.folds:
            out["folds"] = self.folds
        out.update({"split": self.split, "input": self.loaded.to_json(), "popularity_counts": self.train_note,
                    "ranker": self.ranker_note, "catalog_db": self.opened.url,
                    "catalog_embedded_now": self.opened.embedded,
                    "catalog_embed_seconds": round(self.opened.embed_seconds, 1), "notes": self.notes})
        return out


def open_eval_catalog(settings: Settings, catalog_file: Path, db_url: str | None = None,
                      show_progress: bool = True, threads: int | None = 1) -> tuple[OpenedCatalog, CachingEmbedder]:
    """The cached catalog database and its embedder; afterwards torch uses `threads` threads.

    Replays embed one or two short queries at a time: there, one thread is ~10x faster than two on a
    2-core machine shared with other work (no oversubscribed spinning); batch catalog embedding
    before that keeps torch's default.
    """
    from retrieval.embedders.presets import load_embedder

    embedder = CachingEmbedder(load_embedder(settings.embedder, settings.cache_dir, settings.resolved_device()))
    opened = open_catalog(catalog_file, embedder, settings.data_dir / "eval", db_url, show_progress)
    if threads and settings.embedder != "hashing":
        import torch

        torch.set_num_threads(threads)
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


def default_training(settings: Settings, dialogues_file: Path,
                     items: Mapping[str, CatalogItem]) -> tuple[Path, list[Dialogue]] | None:
    """The shared ReDial dialogues (file and conversations), as training data for evaluating other dialogues
    over a ReDial catalog.

    None when they are missing, are the file being evaluated (same content), or mostly name movies this
    catalog lacks (another catalog: fitting there would learn nothing).
    """
    path = settings.shared_data / "redial" / "dialogues_dev.jsonl"
    if not path.is_file() or _sha1(path) == _sha1(dialogues_file):
        return None
    resolver = MentionResolver(items)
    shared = load_dialogues(path).dialogues
    mentioned = [raw for d in shared for raw in d.mentioned_ids()]
    known = sum(1 for raw in mentioned if resolver.item_id(raw) is not None)
    return (path, shared) if mentioned and known >= DEFAULT_TRAINING_COVERAGE * len(mentioned) else None


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def run_redial(settings: Settings, dialogues_file: Path, catalog_file: Path, train_file: Path | None = None,
               limit: int | None = None, ks: tuple[int, ...] = (1, 10, 50), split: str = "all",
               with_llm: bool = False, use_ranker: bool = True, db_url: str | None = None,
               show_progress: bool = True, fit: bool = True) -> RedialRun:
    """Replay `dialogues_file` and score concierge and the baselines.

    With `train_file` (and `fit`), the hybrid ranker is first fitted on every conversation of it, unless
    the stored one was fitted on exactly those conversations with this embedder: one command then
    evaluates the whole system on unseen dialogues. Without `train_file`, with nothing stored and the whole
    file evaluated, the shared ReDial dialogues are the training file (`default_training`), so a fresh
    machine does not score content-only ranking by mistake.
    """
    if split == KFOLD:
        return _run_kfold(settings, dialogues_file, catalog_file, train_file, limit, ks, with_llm, use_ranker, db_url,
                          show_progress)
    loaded = load_dialogues(dialogues_file)
    dialogues = select(loaded.dialogues, split)
    if limit is not None:
        dialogues = dialogues[:limit]
    opened, embedder = open_eval_catalog(settings, catalog_file, db_url, show_progress)
    catalog = opened.catalog
    notes: list[str] = []
    default = None
    if train_file is None and split == "all" and fit and use_ranker and opened.rankers.load_for(embedder.name) is None:
        default = default_training(settings, dialogues_file, catalog.items)
    if default is None:
        train, train_note = training_dialogues(dialogues_file, split, train_file)
    else:
        train_file, shared = default
        notes.append(f"no --train given and no ranker stored with this catalog: it is fitted on the shared ReDial "
                     f"dialogues {train_file} (--train FILE to choose others, --no-fit for content only)")
        # never fit on the conversations being evaluated (a ReDial file may share some with the shared one)
        evaluated = {d.conversation_id for d in dialogues}
        train, train_note = [d for d in shared if d.conversation_id not in evaluated], str(train_file)
        if len(train) < len(shared):
            notes.append(f"left out {len(shared) - len(train)} shared conversations that are also being evaluated")
            train_note += f" (less the {len(shared) - len(train)} evaluated here)"
    taught = taught_reader(settings)
    if fit and use_ranker and train_file is not None and train and not _fitted_on(opened, train, embedder.name,
                                                                                  taught):
        t = time.perf_counter()
        result = _fit(train, opened, embedder, train_note, show_progress, _embedder_saw(settings), taught)
        cv = result.scores.get("R@10", 0.0)
        given = "--train" if default is None else "shared ReDial"
        notes.append(f"fitted the hybrid ranker on the {len(train)} {given} conversations first "
                     f"({time.perf_counter() - t:.0f} s, cross-validated dedup R@10 {cv:.3f}"
                     f"{_sampled(result)}); "
                     "it stays stored with the catalog (--no-fit keeps the stored one)")
    stored = opened.rankers.load_for(embedder.name)
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
    generator = _generator(settings) if with_llm else None
    replayer = Replayer(catalog.titles, resolver, generator, "always" if with_llm else "never", taught)
    report = evaluate(dialogues, Recommender(catalog, embedder), resolver, counts, ks, replayer, show_progress)
    notes.append(f"read by {reader_name(taught)}")
    return RedialRun(report, loaded, opened, split, train_note, ranker_note, notes)


def _run_kfold(settings: Settings, dialogues_file: Path, catalog_file: Path, train_file: Path | None,
               limit: int | None, ks: tuple[int, ...], with_llm: bool, use_ranker: bool, db_url: str | None,
               show_progress: bool) -> RedialRun:
    """Nested k-fold over every conversation of `dialogues_file` (chat/evaluation/kfold.py)."""
    from evaluation.kfold import run_folds

    if train_file is not None:
        raise ConciergeError("--split kfold trains each fold on the other folds of --dialogues: drop --train "
                             "(or use --split heldout with --train to fit on another file).")
    if not use_ranker:
        raise ConciergeError("--split kfold fits a hybrid ranker per fold: drop --no-ranker (content-only figures "
                             "need no folds: use --split all --no-ranker).")
    loaded = load_dialogues(dialogues_file)
    dialogues = loaded.dialogues[:limit]
    opened, embedder = open_eval_catalog(settings, catalog_file, db_url, show_progress)
    notes = []
    saw = _embedder_saw(settings)
    seen = sum(1 for d in dialogues if d.conversation_id in saw)
    if seen:
        notes.append(f"the embedder was fine-tuned on {seen} of these {len(dialogues)} conversations: "
                     "these figures are not held-out figures")
    resolver = MentionResolver(opened.catalog.items)
    replayer = Replayer(opened.catalog.titles, resolver, _generator(settings) if with_llm else None,
                        "always" if with_llm else "never", taught_reader(settings))
    result = run_folds(dialogues, opened.catalog, embedder, ks, replayer, show_progress)
    if len(result.folds) < 2:
        raise ConciergeError(f"--split kfold needs conversations in at least two folds; these {len(dialogues)} "
                             "fall in one: pass more (or drop --limit).")
    note = "each fold fitted on the other folds (weights by inner cross-validation, counts from all of them)"
    return RedialRun(result.pooled, loaded, opened, KFOLD, "each fold: the other folds", note, notes,
                     [f.to_json() for f in result.folds])


def run_fit(settings: Settings, dialogues_file: Path, catalog_file: Path, split: str = "fit",
            limit: int | None = None, db_url: str | None = None, show_progress: bool = True) -> dict[str, object]:
    """Fit the hybrid ranker on one part of `dialogues_file` and store it in the catalog's database."""
    if split == "heldout":
        raise ConciergeError("Refusing to fit on the held-out part: use --split fit (or all for a final model).")
    loaded = load_dialogues(dialogues_file)
    dialogues = select(loaded.dialogues, split)[:limit]
    opened, embedder = open_eval_catalog(settings, catalog_file, db_url, show_progress)
    source = f"{dialogues_file} ({split} part{'' if limit is None else f', first {limit}'})"
    saw = _embedder_saw(settings)
    result = _fit(dialogues, opened, embedder, source, show_progress, saw, taught_reader(settings))
    return {"weights": result.weights.to_json(), "cv_dedup": result.scores,
            "weights_fitted_on": f"{result.weight_conversations} conversations the embedder was not trained on"
                                 + _sampled(result),
            "cv_dedup_content_only": result.content_only,
            "interest_adapter": _adapter_note(result), "cv_dedup_without_adapter": result.without_adapter,
            "conversations": len(dialogues), "turns": result.turns, "pairs": result.pairs,
            "malformed_lines": len(loaded.malformed), "catalog_db": opened.url, "source": source}


def _adapter_note(result: FitResult) -> str:
    """Whether the fit kept the interest adapter, and why."""
    if result.adapter is not None:
        return (f"kept: fitted on {result.adapter_pairs} (interest vector, movie) pairs, it raised the "
                "cross-validated recall (cv_dedup, against cv_dedup_without_adapter)")
    if result.adapter_pairs < MIN_PAIRS:
        return f"none: {result.adapter_pairs} (interest vector, movie) pairs, under the {MIN_PAIRS} it needs"
    return (f"left out: fitted on {result.adapter_pairs} (interest vector, movie) pairs, it did not raise the "
            "cross-validated recall")


def _sampled(result: FitResult) -> str:
    """The note that only a sample of the conversations fitted the weights, when that is so."""
    if result.weight_conversations >= result.eligible_conversations:
        return ""
    return (f"; the weights from a fixed sample of {result.weight_conversations} of "
            f"{result.eligible_conversations} conversations, the counts from all")


def _embedder_saw(settings: Settings) -> frozenset[str]:
    """Ids of the conversations the configured embedder was fine-tuned on (none for a stock model)."""
    from retrieval.embedders.presets import training_info

    trained_on = (training_info(settings.embedder, settings.cache_dir) or {}).get("conversation_ids")
    return frozenset(str(c) for c in trained_on) if isinstance(trained_on, list) else frozenset()


def _fit(dialogues: list[Dialogue], opened: OpenedCatalog, embedder: Embedder, source: str, show_progress: bool,
         embedder_saw: frozenset[str], taught: Taught | None = None) -> FitResult:
    from evaluation.fit import fit_and_store

    return fit_and_store(dialogues, opened.catalog, Recommender(opened.catalog, embedder), opened.rankers, source,
                         show_progress, embedder_saw, taught)


def _generator(settings: Settings) -> Generator:
    """The configured generative model, for `--with-llm` runs."""
    from chat.lm.presets import configured_generator

    return configured_generator(settings)


def _fitted_on(opened: OpenedCatalog, dialogues: list[Dialogue], embedder: str, taught: Taught | None = None
               ) -> bool:
    """Whether the stored ranker was fitted on exactly these conversations, with this embedder and reader, by this
    fit."""
    from evaluation.fit import FIT_VERSION

    stored = opened.rankers.load_for(embedder)
    if stored is None or not stored.weights or stored.meta.get("embedder") != embedder:
        return False
    if stored.meta.get("fit_version") != FIT_VERSION or stored.meta.get("reader", "rules") != reader_name(taught):
        return False
    return sorted(map(str, stored.meta.get("conversation_ids") or [])) == sorted(d.conversation_id for d in dialogues)


def run_simulate(settings: Settings, dialogues_file: Path, catalog_file: Path, split: str = "heldout",
                 episodes_n: int = 200, seed: int = 0, max_turns: int = 5, db_url: str | None = None,
                 show_progress: bool = True, with_llm: bool = False) -> dict[str, object]:
    """Simulated seekers with hidden targets (taken from `split` of the dialogues) against the live engine;
    `with_llm`: the generative model rewords the seekers' messages (the engine still reads them by rules)."""
    from evaluation.simulate import episodes, simulate

    dialogues = select(load_dialogues(dialogues_file).dialogues, split)
    opened, embedder = open_eval_catalog(settings, catalog_file, db_url, show_progress)
    # likes the simulated seekers (of this run or earlier ones) store must not steer later episodes
    live = settings.model_copy(update={"database_url": opened.url, "lm_replies": False, "lm_extraction": "never",
                                       "learn_from_likes": False})
    engine = build_engine(live, embedder=embedder, load_lm=False)
    eps = episodes(dialogues, MentionResolver(engine.catalog.items), episodes_n, seed)
    report = simulate(engine, eps, seed, max_turns, show_progress, _generator(settings) if with_llm else None)
    out = report.to_json()
    out.update({"split": split, "seed": seed, "ranker": "hybrid" if engine.catalog.ranker else "content only",
                "examples": report.transcripts})
    return out


def run_eval_reading(settings: Settings, dialogues_file: Path, catalog_file: Path, limit: int | None = None,
                     with_llm: bool = False, db_url: str | None = None, show_progress: bool = True
                     ) -> dict[str, object]:
    """Every reader side by side on the same conversations, scored against the seekers' questionnaire answers:
    the rules, the taught reader wherever it can (`model`, when `concierge train-reader` made one), the setting
    `auto` (the taught reader in the fields it was measured to read better), and the trivial reader."""
    from tqdm import tqdm

    from evaluation.reading import check_labels, load_labels, score_reader, trivial

    loaded = load_dialogues(dialogues_file)
    dialogues = loaded.dialogues[:limit] if limit else loaded.dialogues
    labels = load_labels(dialogues_file)
    check_labels(labels, dialogues_file)
    opened, _embedder = open_eval_catalog(settings, catalog_file, db_url, show_progress)
    catalog = opened.catalog
    resolver = MentionResolver(catalog.items)
    readers: dict[str, Replayer] = {"rules": Replayer(catalog.titles, resolver)}
    auto = taught_reader(settings.model_copy(update={"reader": "auto"}))
    model = None if auto is None else Taught(auto.model, frozenset(OPINION_FIELDS))  # the same weights, every field
    readers["auto"] = Replayer(catalog.titles, resolver, taught=auto)
    if model is not None:
        readers["model"] = Replayer(catalog.titles, resolver, taught=model)
    if with_llm:  # the generative LM reads every field it can, in JSON under a schema (the rules where it fails)
        readers["lm"] = Replayer(catalog.titles, resolver, _generator(settings), lm_fields=frozenset(LM_FIELDS))
    out: dict[str, object] = {}
    for name, replayer in readers.items():
        bar = tqdm(total=len(dialogues), desc=f"reading ({name})", unit="conv", disable=not show_progress)
        out[name] = score_reader(dialogues, labels, replayer, resolver, progress=partial(bar.update, 1)).to_json()
        bar.close()
    out["trivial"] = score_reader(dialogues, labels, readers["rules"], resolver, trivial).to_json()
    out["trivial"].pop("latency_ms", None)  # type: ignore[attr-defined]
    return {"readers": out, "conversations": sum(1 for d in dialogues if d.conversation_id in labels),
            "input": loaded.to_json(), "taught_reader": {
                "fields_auto": sorted(auto.fields) if auto else [],
                "measured": model.model.meta.get("measured") if model else None,
                "trained_on": model.model.meta.get("sources") if model else None}}


def run_train_reader(settings: Settings, dialogue_files: list[Path], catalog_file: Path, split: str = "fit",
                     config: ReaderConfig | None = None, limit: int | None = None, db_url: str | None = None,
                     progress: Callable[[int, int], None] | None = None, show_progress: bool = True
                     ) -> dict[str, object]:
    """Teach the reading model on ReDial conversations and their answers; store it in the model cache."""
    from chat.build import READER_BASE
    from evaluation import reader
    from evaluation.reading import check_labels, load_labels
    from retrieval.embedders.presets import prepare_embedder

    if split not in ("fit", "all"):
        raise ConciergeError(f"Unknown split '{split}' for train-reader: use fit (the held-out part measures it) "
                             "or all (measured the same way, then trained again on everything).")
    opened, _embedder = open_eval_catalog(settings, catalog_file, db_url, show_progress)
    resolver = MentionResolver(opened.catalog.items)
    found: list[reader.Example] = []
    for path in dialogue_files:
        dialogues = load_dialogues(path).dialogues
        labels = load_labels(path)
        check_labels(labels, path)
        found += reader.examples(dialogues[:limit] if limit else dialogues, labels, opened.catalog.titles, resolver)
    if not found:
        raise ConciergeError("No labelled movie mention in these conversations: nothing to teach the reader.")
    base = str(prepare_embedder(READER_BASE, settings.cache_dir))
    folder = settings.cache_dir / "readers" / "opinions"
    report = reader.run_train_reader(base, folder, found, config or reader.ReaderConfig(), split,
                                     [str(p) for p in dialogue_files], progress)
    return {"folder": str(folder), "split": split, **report.to_json()}
