"""The simulated seeker's prompt and examples, as package data."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load(name: str) -> str:
    """The text of evaluation/prompts/<name>."""
    return (resources.files("evaluation.prompts") / name).read_text(encoding="utf-8")


@cache
def load_json(name: str) -> Any:
    return json.loads(load(name))
