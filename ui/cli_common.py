"""What every `concierge` command shares: logging, offline switches, settings, error exit."""

from __future__ import annotations

import logging
import os
from typing import Annotated

import typer

from chat.settings import Settings, load_settings
from common.errors import ConciergeError

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log progress and details")]


def setup_command(verbose: bool, quiet_models: bool = True) -> Settings:
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
        raise exit_error(exc) from None


def exit_error(exc: ConciergeError) -> typer.Exit:
    typer.secho(f"Error: {exc}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=2)
