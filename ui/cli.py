"""The `concierge` command line: serve, chat, ask, ingest, models, enrich, eval."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from chat.build import build_engine
from chat.settings import Settings
from common.errors import ConciergeError
from ui.cli_common import CatalogOption, Verbose, exit_error, setup_command
from ui.cli_eval import eval_app, train_command, train_reader_command

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Concierge: a conversational recommender that runs offline.")
app.add_typer(eval_app, name="eval")
app.command("train")(train_command)
app.command("train-reader")(train_reader_command)
log = logging.getLogger("concierge")

@app.command()
def models(verbose: Verbose = False) -> None:
    """Prepare the model cache (LM, embedder) and the default catalog, then show what is there."""
    settings = setup_command(True)
    from chat.catalog import import_default_catalog, sync_embeddings
    from chat.lm.presets import onnx_build, prepare_lm
    from retrieval.embedders.presets import load_embedder
    from storage.engine import open_database
    from storage.repository import CatalogRepository

    try:
        t0 = time.perf_counter()
        typer.echo(f"Model cache: {settings.cache_dir}")
        typer.echo(f"[1/3] language model '{settings.lm}' ...")
        path = prepare_lm(settings.lm, settings.cache_dir)
        onnx = None if settings.lm_server_url else onnx_build(
            settings.lm, settings.cache_dir, settings.resolved_device(), settings.lm_runtime, settings.lm_precision)
        if onnx is not None:  # the runtime's quantised model, exported once (lm_runtime)
            from chat.lm.onnx import build_onnx

            path = str(build_onnx(*onnx, settings.lm_precision))
        typer.echo(f"      ready at {path} ({time.perf_counter() - t0:.0f} s)")
        typer.echo(f"[2/3] embedder '{settings.embedder}' ...")
        embedder = load_embedder(settings.embedder, settings.cache_dir, settings.resolved_device())
        typer.echo(f"      ready ({time.perf_counter() - t0:.0f} s)")
        typer.echo(f"[3/3] catalog in {settings.db_url} ...")
        repo = CatalogRepository(open_database(settings.db_url))
        if repo.count() == 0:
            report = import_default_catalog(repo)
            typer.echo(f"      imported the default catalog: {report.added} items")
        n = sync_embeddings(repo, embedder)
        typer.echo(f"      {repo.count()} items, {n} newly embedded ({time.perf_counter() - t0:.0f} s total)")
    except ConciergeError as exc:
        raise exit_error(exc) from None
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
    mapping: Annotated[list[str] | None, typer.Option(
        "--map", help="FIELD=COLUMN, e.g. --map title=name; FIELD may be a declared attribute (--map price=cost)")]
    = None,
    domain: Annotated[str, typer.Option(help="domain of rows that name none")] = "movie",
    schema: Annotated[Path | None, typer.Option(
        help="the attributes the catalog declares (TOML, docs/catalogs.md); default: FILE's stem + "
             ".attributes.toml or attributes.toml beside it")] = None,
    embed: Annotated[bool, typer.Option(help="compute embeddings for new or changed items")] = True,
    verbose: Verbose = False,
) -> None:
    """Import (upsert) a catalog file; only new or changed items are embedded."""
    settings = setup_command(verbose)
    from chat.catalog import import_file, sync_embeddings
    from storage.engine import open_database
    from storage.repository import CatalogRepository

    try:
        pairs = dict(_split_mapping(m) for m in mapping or [])
        repo = CatalogRepository(open_database(settings.db_url))
        rows, report = import_file(repo, file, fmt, pairs, domain, schema)
        typer.echo(f"{file}: {rows} rows: {report.added} added, {report.updated} updated, "
                   f"{report.unchanged} unchanged")
        if embed:
            from retrieval.embedders.presets import load_embedder

            embedder = load_embedder(settings.embedder, settings.cache_dir, settings.resolved_device())
            logging.getLogger("chat.catalog").setLevel(logging.INFO)
            started = time.perf_counter()
            n = sync_embeddings(repo, embedder)
            took = time.perf_counter() - started
            typer.echo(f"embedded {n} items with {embedder.name}" + (f" in {took:.1f} s ({n / took:.0f} items/s)"
                                                                     if n else ""))
    except ConciergeError as exc:
        raise exit_error(exc) from None


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
    catalog: CatalogOption = None,
    verbose: Verbose = False,
) -> None:
    """One turn, non-interactive; pass the printed session id back with --session to continue."""
    settings = setup_command(verbose, catalog=catalog)

    try:
        engine = build_engine(settings)
        if session is not None:
            engine.conversations.load_state(session)  # unknown id: a clear error, nothing created
        session_id = session or engine.new_session()
        result = engine.ask(session_id, text)
    except ConciergeError as exc:
        raise exit_error(exc) from None
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(result.reply)
        typer.echo(f"\n(session {session_id}: continue with --session {session_id})", err=True)


@app.command("chat")
def chat_repl(catalog: CatalogOption = None, verbose: Verbose = False) -> None:
    """A conversation in the terminal (Ctrl-D or 'quit' to leave)."""
    settings = setup_command(verbose, catalog=catalog)
    from chat.engine import Delta

    try:
        engine = build_engine(settings)
    except ConciergeError as exc:
        raise exit_error(exc) from None
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
def enrich(
    limit: Annotated[int | None, typer.Option(help="describe at most this many items")] = None,
    verbose: Verbose = False,
) -> None:
    """Write descriptions for catalog items that have none (marked as generated; human ones are kept)."""
    settings = setup_command(verbose)
    from tqdm import tqdm

    from chat.enrich import enrich as run_enrich
    from chat.lm.presets import configured_generator
    from storage.engine import open_database
    from storage.repository import CatalogRepository

    try:
        repo = CatalogRepository(open_database(settings.db_url))
        generator = configured_generator(settings)
        bar = tqdm(desc="describing", unit="item")

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = run_enrich(repo, generator, limit, progress)
        bar.close()
    except ConciergeError as exc:
        raise exit_error(exc) from None
    typer.echo(f"{report.generated} descriptions written by the model, {report.template} built from the facts "
               f"(the model's failed the check), {report.skipped} skipped (a human description exists). "
               "Run `concierge ingest` or restart the server to embed them.")


@app.command()
def prune(verbose: Verbose = False) -> None:
    """Delete sessions unused for session_idle_hours (and new ones never used after an hour), with their turns
    and feedback. The server does this every hour too."""
    settings = setup_command(verbose)
    from chat.access import SessionGate
    from storage.engine import open_database
    from storage.limits import RateWindows
    from storage.repository import ConversationRepository
    from storage.users import ProfileRepository

    try:
        sessions = open_database(settings.db_url)
        gate = SessionGate(ConversationRepository(sessions), RateWindows(sessions), settings)
        gone = gate.prune(ProfileRepository(sessions))
    except ConciergeError as exc:
        raise exit_error(exc) from None
    typer.echo(f"Deleted {gone['sessions']} expired sessions, {gone['anonymous_profiles']} anonymous profiles left "
               f"without a session and {gone['rate_windows']} ended rate windows.")


@app.command("sign-user")
def sign_user(
    user_id: Annotated[str, typer.Argument(help="your site's id for the user")],
    ttl: Annotated[int, typer.Option(help="seconds the signature holds")] = 3600,
) -> None:
    """Print a signed user id (with CONCIERGE_IDENTITY_SECRET) as POST /api/v1/sessions takes it: for trying the
    API by hand. Your site signs ids on its own server the same way (see the README)."""
    settings = setup_command(False)
    from chat.identity import sign_user_id

    if settings.identity_secret is None:
        raise exit_error(ConciergeError("No identity secret is set: set CONCIERGE_IDENTITY_SECRET first."))
    expires = int(time.time()) + ttl
    typer.echo(json.dumps({"user_id": user_id, "user_expires": expires, "user_signature": sign_user_id(
        settings.identity_secret.get_secret_value(), user_id, expires)}))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 7860)")] = None,
    catalog: CatalogOption = None,
    verbose: Verbose = False,
) -> None:
    """Serve the web page, the widget and the HTTP API (docs at /docs) from one process."""
    settings = setup_command(verbose, catalog=catalog)
    from ui.server import run

    try:
        run(settings, host or settings.host, port or settings.port)
    except ConciergeError as exc:
        raise exit_error(exc) from None


if __name__ == "__main__":  # pragma: no cover
    app()
