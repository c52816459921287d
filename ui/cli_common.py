"""What every `concierge` command shares: logging, offline switches, settings, error exit."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from chat.settings import Settings, load_settings
from common import logs
from common.errors import ConciergeError

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log progress and details")]
CatalogOption = Annotated[str | None, typer.Option(
    "--catalog", help="default (films and books), shop (the demo shop) or a catalog file: the `catalog` setting")]


def setup_command(verbose: bool, quiet_models: bool = True, **overrides: object) -> Settings:
    """Logging for an entry point, offline switches for the model libraries, and the settings (`overrides`: the
    command's own flags, which win)."""
    for key, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("HF_HUB_DISABLE_TELEMETRY", "1"),
                       ("GRADIO_ANALYTICS_ENABLED", "False"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(key, value)
    if quiet_models and not verbose:
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        settings = load_settings(None, **{k: v for k, v in overrides.items() if v is not None})
    except ConciergeError as exc:
        logs.configure(logging.WARNING)
        raise exit_error(exc) from None
    logs.configure(logging.INFO if verbose else logging.WARNING, settings.log_format)
    return settings


def exit_error(exc: ConciergeError) -> typer.Exit:
    typer.secho(f"Error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)
