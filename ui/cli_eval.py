"""`concierge eval ...`: measure the system (the scripted dialogue suite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from storage.errors import ConciergeError
from ui.cli_common import Verbose, exit_error, setup_command

eval_app = typer.Typer(no_args_is_help=True, help="Measure Concierge: scripted dialogues.")


@eval_app.command("dialogues")
def dialogues(
    folder: Annotated[Path, typer.Argument(help="folder of *.yaml dialogue scripts")] = Path("tests/dialogues"),
    json_out: Annotated[Path | None, typer.Option("--json", help="write the report as JSON here")] = None,
    verbose: Verbose = False,
) -> None:
    """Run the scripted dialogue suite (docs/dialogue-scripts.md) and print a pass table."""
    settings = setup_command(verbose)
    from chat.dialogues import run_folder
    from chat.engine import Engine

    engines: dict[str, Engine] = {}

    def engine_for(catalog: str) -> Engine:
        if catalog not in engines:
            base = engines.get("default")
            engines[catalog] = Engine.for_catalog(settings, catalog, base.embedder if base else None,
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
