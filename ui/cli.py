"""The `concierge` command line: serve, chat, ask, ingest, models."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from chat.settings import Settings, load_settings
from storage.errors import ConciergeError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Concierge: a conversational recommender that runs offline.")
log = logging.getLogger("concierge")

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log progress and details")]


def _setup(verbose: bool, quiet_models: bool = True) -> Settings:
    """Logging for an entry point, offline switches for the model libraries, and the settings."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                       ("GRADIO_ANALYTICS_ENABLED", "False"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(key, value)
    if quiet_models and not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        return load_settings()
    except ConciergeError as exc:
        raise _fail(exc) from None


def _fail(exc: ConciergeError) -> typer.Exit:
    typer.secho(f"Error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)


@app.command()
def models(verbose: Verbose = False) -> None:
    """Prepare the model cache (LM, embedder) and the default catalog, then show what is there."""
    settings = _setup(True)
    from chat.catalog import import_default_catalog, sync_embeddings
    from chat.lm.presets import prepare_lm
    from retrieval.embedders.presets import load_embedder
    from storage.engine import make_engine, migrate, session_factory
    from storage.repository import CatalogRepository

    try:
        t0 = time.perf_counter()
        typer.echo(f"Model cache: {settings.cache_dir}")
        typer.echo(f"[1/3] language model '{settings.lm}' ...")
        path = prepare_lm(settings.lm, settings.cache_dir)
        typer.echo(f"      ready at {path} ({time.perf_counter() - t0:.0f} s)")
        typer.echo(f"[2/3] embedder '{settings.embedder}' ...")
        embedder = load_embedder(settings.embedder, settings.cache_dir, settings.resolved_device())
        typer.echo(f"      ready ({time.perf_counter() - t0:.0f} s)")
        typer.echo(f"[3/3] catalog in {settings.db_url} ...")
        engine = make_engine(settings.db_url)
        migrate(engine)
        repo = CatalogRepository(session_factory(engine))
        if repo.count() == 0:
            report = import_default_catalog(repo)
            typer.echo(f"      imported the default catalog: {report.added} items")
        n = sync_embeddings(repo, embedder)
        typer.echo(f"      {repo.count()} items, {n} newly embedded ({time.perf_counter() - t0:.0f} s total)")
    except ConciergeError as exc:
        raise _fail(exc) from None
    _show_cache(settings)


def _show_cache(settings: Settings) -> None:
    from chat.lm.presets import PRESETS as LM_PRESETS
    from retrieval.embedders.presets import PRESETS as EMB_PRESETS

    typer.echo("\nLanguage models (CONCIERGE_LM):")
    for name, p in LM_PRESETS.items():
        built = (settings.cache_dir / "lm" / name / "config.json").is_file()
        mark = "*" if name == settings.lm else " "
        typer.echo(f" {mark} {name:22} {'cached' if built else 'not built'}  {p.note}")
    typer.echo("Embedders (CONCIERGE_EMBEDDER):")
    for name, e in EMB_PRESETS.items():
        mark = "*" if name == settings.embedder else " "
        typer.echo(f" {mark} {name:22} {e.note}")


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(help="catalog file: .jsonl, .csv, or ReDial movies.json")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl, csv or redial (default: from the name)")] = None,
    mapping: Annotated[list[str] | None, typer.Option("--map", help="FIELD=COLUMN, e.g. --map title=name")] = None,
    domain: Annotated[str, typer.Option(help="domain of rows that name none")] = "movie",
    embed: Annotated[bool, typer.Option(help="compute embeddings for new or changed items")] = True,
    verbose: Verbose = False,
) -> None:
    """Import (upsert) a catalog file; only new or changed items are embedded."""
    settings = _setup(verbose)
    from chat.catalog import sync_embeddings
    from storage.engine import make_engine, migrate, session_factory
    from storage.importers import load_file
    from storage.repository import CatalogRepository

    try:
        pairs = dict(_split_mapping(m) for m in mapping or [])
        items = load_file(file, fmt, pairs, domain)
        engine = make_engine(settings.db_url)
        migrate(engine)
        repo = CatalogRepository(session_factory(engine))
        report = repo.upsert(items)
        typer.echo(f"{file}: {len(items)} rows: {report.added} added, {report.updated} updated, "
                   f"{report.unchanged} unchanged")
        if embed:
            from retrieval.embedders.presets import load_embedder

            embedder = load_embedder(settings.embedder, settings.cache_dir, settings.resolved_device())
            logging.getLogger("chat.catalog").setLevel(logging.INFO)
            n = sync_embeddings(repo, embedder)
            typer.echo(f"embedded {n} items with {embedder.name}")
    except ConciergeError as exc:
        raise _fail(exc) from None


def _split_mapping(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise typer.BadParameter(f"'{text}' is not FIELD=COLUMN", param_hint="--map")
    field, column = text.split("=", 1)
    return field.strip(), column.strip()


@app.command()
def ask(
    text: Annotated[str, typer.Argument(help="what you say")],
    session: Annotated[str | None, typer.Option("--session", help="continue this session id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object")] = False,
    verbose: Verbose = False,
) -> None:
    """One turn, non-interactive; pass the printed session id back with --session to continue."""
    settings = _setup(verbose)
    from chat.engine import Engine

    try:
        engine = Engine.from_settings(settings)
        if session is not None:
            engine.conversations.load_state(session)  # unknown id: a clear error, nothing created
        session_id = session or engine.new_session()
        result = engine.ask(session_id, text)
    except ConciergeError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(result.reply)
        typer.echo(f"\n(session {session_id}: continue with --session {session_id})", err=True)


@app.command("chat")
def chat_repl(verbose: Verbose = False) -> None:
    """A conversation in the terminal (Ctrl-D or 'quit' to leave)."""
    settings = _setup(verbose)
    from chat.engine import Delta, Engine

    try:
        engine = Engine.from_settings(settings)
    except ConciergeError as exc:
        raise _fail(exc) from None
    session_id = engine.new_session()
    typer.echo("Concierge: tell me what you like (Ctrl-D to quit).")
    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo()
            break
        if line.strip().lower() in ("quit", "exit"):
            break
        try:
            for event in engine.turn(session_id, line):
                if isinstance(event, Delta):
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
        except ConciergeError as exc:
            typer.secho(f"Error: {exc}", err=True, fg=typer.colors.RED)
        typer.echo()
    typer.echo(f"(session {session_id})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 7860)")] = None,
    verbose: Verbose = False,
) -> None:
    """Serve the web UI."""
    settings = _setup(verbose)
    from ui.web import run

    try:
        run(settings, host or settings.host, port or settings.port)
    except ConciergeError as exc:
        raise _fail(exc) from None


eval_app = typer.Typer(no_args_is_help=True, help="Measure recommendation quality (ReDial replay, fitting).")
app.add_typer(eval_app, name="eval")

DialoguesOpt = Annotated[Path, typer.Option("--dialogues", help="ReDial JSONL conversations")]
CatalogOpt = Annotated[Path, typer.Option("--catalog", help="catalog file, e.g. ReDial movies.json")]
SplitOpt = Annotated[str, typer.Option("--split", help="all, fit or heldout (20 % by sha1 of the conversation id)")]
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
    train: Annotated[Path | None, typer.Option("--train", help="training dialogues for the popularity counts")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="only the first N conversations")] = None,
    k: Annotated[str, typer.Option("--k", help="cut-offs, comma-separated")] = "1,10,50",
    json_out: Annotated[Path | None, typer.Option("--json", help="write the results as JSON here")] = None,
    plot_out: Annotated[Path | None, typer.Option("--plot", help="write recall@k curves (PNG) here")] = None,
    with_llm: Annotated[bool, typer.Option("--with-llm", help="also run LM preference extraction per turn")] = False,
    split: SplitOpt = "all",
    ranker: Annotated[bool, typer.Option(help="use the fitted hybrid ranker (--no-ranker: content only)")] = True,
    db: DbOpt = None,
    verbose: Verbose = False,
) -> None:
    """Replay ReDial conversations through live state tracking and ranking; R@k for concierge and baselines."""
    settings = _setup(verbose)
    from chat.evaluation.redial import plot
    from chat.evaluation.run import run_redial

    logging.getLogger("chat.catalog").setLevel(logging.INFO)  # the embedding progress bar
    try:
        result = run_redial(settings, dialogues, catalog, train, limit, _ks(k), split, with_llm, ranker, db)
    except ConciergeError as exc:
        raise _fail(exc) from None
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
    settings = _setup(verbose)
    from chat.evaluation.run import run_fit

    logging.getLogger("chat.catalog").setLevel(logging.INFO)
    try:
        out = run_fit(settings, dialogues, catalog, split, limit, db)
    except ConciergeError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps(out, indent=2))


@eval_app.command("simulate")
def eval_simulate(
    dialogues: DialoguesOpt,
    catalog: CatalogOpt,
    split: SplitOpt = "heldout",
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="simulated seekers (one target each)")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="fixes the targets drawn and every seeker choice")] = 0,
    max_turns: Annotated[int, typer.Option("--max-turns", min=1, max=20)] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the results as JSON here")] = None,
    db: DbOpt = None,
    verbose: Verbose = False,
) -> None:
    """A rule-based seeker with a hidden target talks to the engine: success@3, success@5, mean turns."""
    settings = _setup(verbose)
    from chat.evaluation.run import run_simulate

    logging.getLogger("chat.catalog").setLevel(logging.INFO)
    try:
        out = run_simulate(settings, dialogues, catalog, split, episodes, seed, max_turns, db)
    except ConciergeError as exc:
        raise _fail(exc) from None
    typer.echo(f"{out['episodes']} episodes ({split}, seed {seed}, ranker: {out['ranker']}): "
               f"success@3 {out['success@3']}, success@5 {out['success@5']}, "
               f"mean turns to success {out['mean_turns_to_success']}")
    if json_out is not None:
        json_out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        typer.echo(f"wrote {json_out}")


if __name__ == "__main__":  # pragma: no cover
    app()
