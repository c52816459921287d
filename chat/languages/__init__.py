"""Languages as data: one TOML file per language (`en.toml`, `zh.toml`) with the words the reader looks for (genres,
original languages, domains, negation, seen and era cues, critiques) and the bot's fixed replies. `load()` merges
them, English first; a new language is a new file with the same sections (any it lacks is simply not read)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

FIRST = "en"  # read first, so its forms come first in every merged list (`GENRES[g][0]` is the English name)


@cache
def load() -> dict[str, dict[str, Any]]:
    """Language code -> its parsed file."""
    files = sorted((f for f in resources.files(__name__).iterdir() if f.name.endswith(".toml")),
                   key=lambda f: (f.name != f"{FIRST}.toml", f.name))
    return {f.name.removesuffix(".toml"): tomllib.loads(f.read_text(encoding="utf-8")) for f in files}


def merged(section: str) -> dict[str, tuple[str, ...]]:
    """One section's lists, each key's lists of every language joined ("comedy": English forms, then Chinese)."""
    out: dict[str, list[str]] = {}
    for data in load().values():
        for key, values in data.get(section, {}).items():
            out.setdefault(key, []).extend(values)
    return {key: tuple(values) for key, values in out.items()}


@cache
def per_language(section: str) -> dict[str, dict[str, Any]]:
    """One section of every language: key -> {language: value} (the replies, the labels of genre pairs)."""
    out: dict[str, dict[str, Any]] = {}
    for language, data in load().items():
        for key, value in data.get(section, {}).items():
            out.setdefault(key, {})[language] = value
    return out


def phrase(section: str, key: str, language: str, /, **values: object) -> str:
    """A fixed piece of text in `language` with `values` filled in (English where that language's file lacks it)."""
    forms = per_language(section)[key]
    return str(forms[language] if language in forms else forms[FIRST]).format(**values)
