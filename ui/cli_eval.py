"""`concierge eval ...`: measure the system: ReDial replay, ranker fitting, a simulated user, scripted dialogues."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from chat.build import build_engine_for
from common.errors import ConciergeError
from ui.cli_common import Verbose, exit_error, setup_command

eval_app = typer.Typer(no_args_is_help=True,
                       help="Measure Concierge: ReDial recall, ranker fitting, a simulated user, scripted dialogues.")


@eval_app.command("dialogues")
def dialogues(
    folder: Annotated[Path, typer.Argument(help="folder of *.yaml dialogue scripts")] = Path("tests/dialogues"),
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report as JSON here")] = None,
    verbose: Verbose = False,
) -> None:
    """Run the scripted dialogue suite (docs/dialogue-scripts.md) and print a pass table."""
    settings = setup_command(verbose)
    from chat.engine import Engine
    from evaluation.scripts import run_folder

    engines: dict[str, Engine] = {}

    def engine_for(catalog: str) -> Engine:
        if catalog not in engines:
            base = engines.get("default")
            engines[catalog] = build_engine_for(settings, catalog, base.embedder if base else None,
                                                  base.generator if base else None)
        return engines[catalog]

    try:
        engine_for("default")
        report = run_folder(engine_for, folder)
    except ConciergeError as exc:
        raise exit_error(exc) from None
    width = max(len(r.name) for r in report.scripts)
    for r in report.scripts:
        mark = typer.style("pass", fg=typer.colors.GREEN) if r.passed else typer.style("FAIL", fg=typer.colors.RED)
        typer.echo(f"{mark}  {r.name:{width}}  [{r.catalog}]")
        for failure in r.failures:
            typer.echo(f"      {failure}")
    stats, latency = report.explanations(), report.latency()
    total = sum(stats.values()) or 1
    typer.echo(f"\n{report.passed}/{len(report.scripts)} scripts passed")
    typer.echo("explanations: " + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in stats.items()))
    typer.echo(f"turn latency: p50 {latency['p50_s']} s, p95 {latency['p95_s']} s over {latency['turns']} turns")
    if json_out:
        json_out.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    if report.passed < len(report.scripts):
        raise typer.Exit(code=1)


DialoguesOpt = Annotated[Path, typer.Option("--dialogues", help="ReDial JSONL conversations")]
CatalogOpt = Annotated[Path, typer.Option("--catalog", help="catalog file, e.g. ReDial movies.json")]
_SPLITS_HELP = "all, fit or heldout (20 % by sha1 of the conversation id)"
SplitOpt = Annotated[str, typer.Option("--split", help=_SPLITS_HELP)]
DbOpt = Annotated[str | None, typer.Option("--db", help="database URL (default: a cached one per catalog file)")]


def _ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(sorted({int(k) for k in text.split(",") if k.strip()}))
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a comma-separated list of integers", param_hint="--k") from None
    if not ks or ks[0] < 1:
        raise typer.BadParameter("k values must be positive integers, e.g. 1,10,50", param_hint="--k")
    return ks


@eval_app.command("redial")
def eval_redial(
    dialogues: DialoguesOpt,
    catalog: CatalogOpt,
    train: Annotated[Path | None, typer.Option("--train", help="training dialogues: the popularity baseline's counts "
                                               "and (unless --no-fit) what the hybrid ranker is fitted on; default "
                                               "with --split all and no stored ranker: the shared ReDial dialogues, "
                                               "when the catalog has their movies")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="only the first N conversations")] = None,
    k: Annotated[str, typer.Option("--k", help="cut-offs, comma-separated")] = "1,10,50",
    json_out: Annotated[Path | None, typer.Option("--json", help="write the results as JSON here")] = None,
    plot_out: Annotated[Path | None, typer.Option("--plot", help="write recall@k curves (PNG) here")] = None,
    with_llm: Annotated[bool, typer.Option("--with-llm", help="also run LM preference extraction per turn")] = False,
    split: Annotated[str, typer.Option("--split", help=f"{_SPLITS_HELP}, or "
                                       "kfold: every conversation, each of 5 folds (the held-out part and the fit "
                                       "part's 4 folds) scored by a ranker fitted on the other 4")] = "all",
    ranker: Annotated[bool, typer.Option(help="use the fitted hybrid ranker (--no-ranker: content only)")] = True,
    fit: Annotated[bool, typer.Option(help="with --train: first fit the ranker on it, unless the stored one was "
                                           "fitted on exactly those conversations (--no-fit: keep the stored one)")
                   ] = True,
    db: DbOpt = None,
    verbose: Verbose = False,
) -> None:
    """Replay ReDial conversations through live state tracking and ranking; R@k for concierge and baselines."""
    settings = setup_command(verbose)
    from evaluation.redial import plot
    from evaluation.run import run_redial

    logging.getLogger("chat.catalog").setLevel(logging.INFO)  # the embedding progress bar
    try:
        result = run_redial(settings, dialogues, catalog, train, limit, _ks(k), split, with_llm, ranker, db, fit=fit)
    except ConciergeError as exc:
        raise exit_error(exc) from None
    data = result.to_json()
    rep = result.report
    typer.echo(f"{rep.conversations} conversations ({split}), {rep.turns} recommender turns, "
               f"{rep.seconds:.0f} s; ranker: {result.ranker_note}")
    typer.echo(f"{'method':12} {'':6} " + " ".join(f"{'R@' + str(x):>7}" for x in rep.ks) + "   pairs  p50 ms  p95 ms")
    for name, m in rep.methods.items():
        lat = m.to_json()["latency_ms"]
        for kind, counter in (("raw", m.raw), ("dedup", m.dedup)):
            figures = " ".join(f"{counter.recall(x):7.3f}" for x in rep.ks)
            typer.echo(f"{name:12} {kind:6} {figures} {counter.pairs:7d}"
                       + (f" {lat['p50']:7.1f} {lat['p95']:7.1f}" if kind == "raw" else ""))  # type: ignore[index]
    ci = data["methods"]["concierge"]["dedup"].get("ci95")  # type: ignore[index]
    if ci:
        typer.echo("concierge dedup, 95 % interval (bootstrap over conversations): " + ", ".join(
            f"{name} {lo:.3f}-{hi:.3f}" for name, (lo, hi) in ci.items()))
    for fold in result.folds:
        figures = ", ".join(f"{name} {value:.3f}" for name, value in fold["dedup"].items()  # type: ignore[attr-defined]
                            if name.startswith("R@"))
        typer.echo(f"  {fold['fold']:14} {fold['conversations']:5} conversations: concierge dedup {figures} "
                   f"({fold['dedup']['pairs']} pairs; fitted on {fold['training_conversations']})")  # type: ignore[index]
    typer.echo(f"popularity counts: {result.train_note}")
    if result.loaded.malformed:
        typer.echo(f"skipped {len(result.loaded.malformed)} malformed line(s): "
                   + ", ".join(str(n) for n, _ in result.loaded.malformed[:10]), err=True)
    if rep.unknown_mentions:
        typer.echo(f"{rep.unknown_mentions} mention(s) of {len(rep.unknown_ids)} movie id(s) not in the catalog "
                   "were ignored", err=True)
    for note in result.notes:
        typer.secho(f"Note: {note}", err=True, fg=typer.colors.YELLOW)
    if json_out is not None:
        json_out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"wrote {json_out}")
    if plot_out is not None:
        if plot(rep, str(plot_out)):
            typer.echo(f"wrote {plot_out}")
        else:
            typer.secho("No plot: matplotlib is not installed (pip install -e '.[eval]').", err=True,
                        fg=typer.colors.YELLOW)


@eval_app.command("fit")
def eval_fit(
    dialogues: DialoguesOpt,
    catalog: CatalogOpt,
    split: Annotated[str, typer.Option("--split", help="fit (default) or all; never heldout")] = "fit",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="only the first N conversations")] = None,
    db: DbOpt = None,
    verbose: Verbose = False,
) -> None:
    """Fit the hybrid ranker (content + co-occurrence + popularity) on training dialogues; stored with the catalog."""
    settings = setup_command(verbose)
    from evaluation.run import run_fit

    logging.getLogger("chat.catalog").setLevel(logging.INFO)
    try:
        out = run_fit(settings, dialogues, catalog, split, limit, db)
    except ConciergeError as exc:
        raise exit_error(exc) from None
    typer.echo(json.dumps(out, indent=2))


@eval_app.command("simulate")
def eval_simulate(
    dialogues: DialoguesOpt,
    catalog: CatalogOpt,
    split: SplitOpt = "heldout",
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="simulated seekers (one target each; "
                                          "fewer when the split has fewer suggestions)")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="fixes the targets drawn and every seeker choice")] = 0,
    max_turns: Annotated[int, typer.Option("--max-turns", min=1, max=20)] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the results as JSON here")] = None,
    db: DbOpt = None,
    with_llm: Annotated[bool, typer.Option("--with-llm", help="the generative model rewords the seeker's messages "
                                           "(kept only when the rules read them as the originals)")] = False,
    verbose: Verbose = False,
) -> None:
    """A rule-based seeker with a hidden target talks to the engine: success@3, success@5, mean turns."""
    settings = setup_command(verbose)
    from evaluation.run import run_simulate

    logging.getLogger("chat.catalog").setLevel(logging.INFO)
    try:
        out = run_simulate(settings, dialogues, catalog, split, episodes, seed, max_turns, db, with_llm=with_llm)
    except ConciergeError as exc:
        raise exit_error(exc) from None
    typer.echo(f"{out['episodes']} episodes ({split}, seed {seed}, ranker: {out['ranker']}): "
               f"success@3 {out['success@3']}, success@5 {out['success@5']}, "
               f"mean turns to success {out['mean_turns_to_success']}")
    if with_llm:
        typer.echo(f"the model reworded {out['lm_rewordings_kept']} of {out['lm_rewordings']} seeker messages; "
                   "the others were sent as the rules wrote them")
    if json_out is not None:
        json_out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"wrote {json_out}")


@eval_app.command("reading")
def eval_reading(
    dialogues: DialoguesOpt,
    catalog: CatalogOpt,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="only the first N conversations")] = None,
    with_llm: Annotated[bool, typer.Option("--with-llm", help="also the generative LM as a reader (`lm`): JSON under "
                                           "a schema, grounded, every message")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the results as JSON here")] = None,
    db: DbOpt = None,
    verbose: Verbose = False,
) -> None:
    """How well each reader understands what ReDial seekers meant about each movie, against their own answers."""
    settings = setup_command(verbose)
    from evaluation.run import run_eval_reading

    try:
        result = run_eval_reading(settings, dialogues, catalog, limit, with_llm, db)
    except ConciergeError as exc:
        raise exit_error(exc) from None
    readers = result["readers"]
    assert isinstance(readers, dict)
    typer.echo(f"{result['conversations']} conversations with answers")
    typer.echo(f"{'reader':8}  {'named F1 (acc)':>15}  {'suggested F1 (acc)':>19}  {'seen F1 n/s':>12}  "
               f"{'ms p50/p95':>11}")
    for name, r in readers.items():
        lat = r.get("latency_ms")
        typer.echo(f"{name:8}  {r['named']['macro_f1']:>7.3f} ({r['named']['accuracy']:.2f})  "
                   f"{r['suggested']['macro_f1']:>11.3f} ({r['suggested']['accuracy']:.2f})  "
                   f"{r['seen']['named']['f1']:>5.2f} {r['seen']['suggested']['f1']:>5.2f}  "
                   + (f"{lat['p50']:>5.0f}/{lat['p95']:<5.0f}" if lat else ""))
    if json_out:
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")


@eval_app.command("explanations")
def eval_explanations(
    json_out: Annotated[Path | None, typer.Option("--json", help="write the results as JSON here")] = None,
    judged: Annotated[Path | None, typer.Option("--judged", help="judged reasons (JSONL; default: the shipped set)")]
    = None,
    probe: Annotated[bool, typer.Option("--probe/--no-probe", help="also write the probe's reasons with the "
                                        "configured model, timed")] = True,
    draft: Annotated[Path | None, typer.Option("--draft", help="instead: write every draft of the probe's reasons, "
                                               "unlabelled, to this JSONL file for a person to judge")] = None,
    verbose: Verbose = False,
) -> None:
    """How far the reasons can be trusted: the gate against reasons a person judged; the probe's model-written share."""
    settings = setup_command(verbose)
    from evaluation import explanations as ex

    try:
        engine = build_engine_for(settings, "default")
        pairs = ex.load_probe()
        if draft is not None:
            rows = ex.drafts(engine, pairs, engine.generator if settings.lm_replies else None,
                             engine.generator.name if engine.generator else "")
            draft.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
            typer.echo(f"wrote {len(rows)} unlabelled reasons to {draft}")
            return
        rows = ex.load_judged(judged) if judged else ex.load_judged()
        gate = ex.score_gate(engine, rows)
        out: dict[str, object] = {"judged": gate.to_json()}
        if probe:
            out["probe"] = ex.run_probe(engine, pairs, engine.generator if settings.lm_replies else None
                                        ).to_json(rows)
    except ConciergeError as exc:
        raise exit_error(exc) from None
    g = out["judged"]
    assert isinstance(g, dict)
    typer.echo(f"judged: {g['n']} model-written reasons {g['labels']}; the gate refuses wrong with precision "
               f"{g['wrong_precision']:.2f}, recall {g['wrong_recall']:.2f} (any bad: {g['bad_precision']:.2f} / "
               f"{g['bad_recall']:.2f}); bad ones it lets through: {g['bad_passed']}")
    if verbose:
        for d in gate.disagreements:
            typer.echo(f"  {d['label']:8} {d['item']}: {d['text']!r} -> {d['gate']}")
    if "probe" in out:
        p = out["probe"]
        assert isinstance(p, dict)
        typer.echo(f"probe: {p['n']} reasons for {p['requests']} requests; model-written "
                   f"{p['model_written_share']:.0%} {p['paths']}; of those, judged {p['model_written_judged']}; "
                   f"first reason p50 "
                   f"{p['first_reason_s'].get('p50')} s, full p50 {p['full_reply_s'].get('p50')} s "
                   f"p95 {p['full_reply_s'].get('p95')} s")
    if json_out:
        json_out.write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


@eval_app.command("wishes")
def eval_wishes(
    cases: Annotated[Path | None, typer.Option("--cases", help="labelled messages (JSONL; default: the shipped shop "
                                               "set, evaluation/judged/shop_wishes.jsonl)")] = None,
    catalog: Annotated[str, typer.Option(help="the catalog whose attributes are read")] = "shop",
    with_llm: Annotated[bool, typer.Option("--with-llm", help="also the model reader (the configured LM)")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the results as JSON here")] = None,
    verbose: Verbose = False,
) -> None:
    """What the rules and the model reader read of the catalog's attributes, against labelled messages."""
    settings = setup_command(verbose)
    from evaluation import wishes as ws

    try:
        engine = build_engine_for(settings.model_copy(update={"lm_replies": False}), catalog)
        labelled = ws.load_cases(cases) if cases else ws.load_cases()
        readers = {"rules": ws.rules(engine)}
        if with_llm and engine.generator is not None:
            readers["model"] = ws.model(engine)
        result = {"readers": {name: ws.score(fn, labelled) for name, fn in readers.items()}}
    except ConciergeError as exc:
        raise exit_error(exc) from None
    typer.echo(f"{'reader':8} {'n':>4} {'prec':>5} {'rec':>5} {'F1':>5} {'exact':>6}  latency p50/p95 ms")
    for name, r in result["readers"].items():
        lat = r["latency_ms"]
        typer.echo(f"{name:8} {r['n']:>4} {r['precision']:>5.2f} {r['recall']:>5.2f} {r['f1']:>5.2f} "
                   f"{r['exact']:>6.2f}  {lat['p50']:.0f}/{lat['p95']:.0f}")
        for miss in r["misses"] if verbose else ():
            typer.echo(f"  {miss['text']!r}: extra {miss['extra']}, missed {miss['missed']}")
    if json_out:
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def train_reader_command(
    dialogues: Annotated[list[Path], typer.Option("--dialogues", help="ReDial JSONL conversations with the seekers' "
                                                  "answers (repeat for several files)")],
    catalog: CatalogOpt,
    split: Annotated[str, typer.Option("--split", help="fit (the held-out part measures it) or all (measured the "
                                       "same way, then trained again on everything)")] = "fit",
    epochs: Annotated[float, typer.Option("--epochs", min=0.1, max=20)] = 2.0,
    max_minutes: Annotated[float, typer.Option("--max-minutes", min=0.1, help="training stops here")] = 25.0,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="only the first N conversations a file")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the summary as JSON here")] = None,
    db: DbOpt = None,
    verbose: Verbose = False,
) -> None:
    """Teach the reading model what users think of the items they name or are shown (liked, disliked, seen)."""
    settings = setup_command(verbose)
    from tqdm import tqdm

    from evaluation.reader import ReaderConfig
    from evaluation.run import run_train_reader

    bar = tqdm(desc="teaching the reader", unit="step")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        result = run_train_reader(settings, dialogues, catalog, split,
                                  ReaderConfig(epochs=epochs, max_seconds=max_minutes * 60), limit, db, progress)
    except ConciergeError as exc:
        raise exit_error(exc) from None
    finally:
        bar.close()
    measured = result["measured"]
    assert isinstance(measured, dict)
    typer.echo(f"Saved to {result['folder']} ({result['examples']} windows, {result['steps']} steps, "
               f"{result['seconds']:.0f} s). Measured on the held-out part (rules -> taught reader):")
    for name, m in measured.items():
        chosen = "reads it" if m["model"] > m["rules"] + 0.01 else "the rules read it"
        typer.echo(f"  {name:14} {m['rules']:.3f} -> {m['model']:.3f} over {m['n']:.0f} windows: {chosen} with "
                   "reader=auto")
    if json_out:
        json_out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")


def train_command(
    dialogues: DialoguesOpt,
    catalog: CatalogOpt,
    name: Annotated[str, typer.Option("--name", help="preset name to save as (CONCIERGE_EMBEDDER=NAME uses it)")]
    = "redial-e5",
    split: Annotated[str, typer.Option("--split", help="fit (default; held-out decides) or all (needs --keep)")]
    = "fit",
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=20)] = 3,
    batch_size: Annotated[int, typer.Option("--batch-size", min=2, max=512)] = 32,
    learning_rate: Annotated[float, typer.Option("--lr", min=1e-7, max=1e-2)] = 1e-4,
    max_minutes: Annotated[float, typer.Option("--max-minutes", min=0.1,
                                               help="training stops here and saves what it learnt; loading, "
                                                    "replay and the held-out check take about 6 min more on "
                                                    "a 2-core CPU, so the whole command stays within 30 min")
                 ] = 22.0,
    top_layers: Annotated[int, typer.Option("--top-layers", min=0, help="train only the top N transformer layers "
                                            "(0: all): each step then back-propagates through N layers only")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="only the first N conversations")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="keep the model even if it does not win on held-out")]
    = False,
    reserve: Annotated[bool, typer.Option(help="leave a quarter of the fit part out of training, for fitting "
                                          "the ranker's weights honestly (--no-reserve trains on all of it)")]
    = True,
    item_pairs: Annotated[bool, typer.Option(help="also learn (movie named before -> movie recommended) pairs "
                                             "(--no-item-pairs: context -> movie only, about 40 % faster)")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the summary as JSON here")] = None,
    db: DbOpt = None,
    verbose: Verbose = False,
) -> None:
    """Fine-tune the embedder on (dialogue context -> movie recommended next) pairs; kept only if it wins held-out."""
    settings = setup_command(verbose)
    from tqdm import tqdm

    from evaluation.train import run_train
    from retrieval.embedders.finetune import FinetuneConfig

    logging.getLogger("chat.catalog").setLevel(logging.INFO)
    config = FinetuneConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                            max_seconds=max_minutes * 60, top_layers=top_layers)
    bar = tqdm(desc="training", unit="step")

    def progress(step: int, planned: int, loss: float) -> None:
        bar.total = planned
        bar.set_postfix(loss=f"{loss:.3f}")
        bar.update(step - bar.n)

    try:
        out = run_train(settings, dialogues, catalog, name, split, config, limit, keep=keep, reserve=reserve,
                        item_pairs=item_pairs, db_url=db, progress=progress)
    except ConciergeError as exc:
        raise exit_error(exc) from None
    finally:
        bar.close()
    training = out["training"]
    typer.echo(f"trained on {out['pairs']} pairs from {out['conversations']} conversations: "
               f"{training['steps']}/{training['planned_steps']} steps in {training['seconds']} s"  # type: ignore[index]
               + (" (stopped by --max-minutes)" if training["stopped_by_budget"] else ""))  # type: ignore[index]
    gate = out["heldout"]
    if gate:
        typer.echo(f"held-out content-only dedup recall ({gate['heldout_conversations']} conversations): "  # type: ignore[index]
                   f"base {gate['base']}, trained {gate['trained']}")  # type: ignore[index]
    if out["kept"]:
        typer.echo(f"kept as preset '{name}' in {out['folder']}: use it with CONCIERGE_EMBEDDER={name}, then "
                   "re-fit the ranker (`concierge eval fit`), whose weights belong to one embedder")
    else:
        typer.secho("not kept: the trained embedder did not beat the base one on held-out dialogues "
                    "(--keep keeps it anyway)", fg=typer.colors.YELLOW)
    if json_out is not None:
        json_out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"wrote {json_out}")
