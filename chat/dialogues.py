"""Scripted dialogue tests: YAML files of user turns with expectations, run against an engine.

Format (one script per file; see tests/dialogues/*.yaml):

    name: sci-fi fan rejects one
    turns:
      - user: hi
        expect: {asks: true}
      - user: I loved Inception, something sci-fi please
        expect: {recommends: true, genre_any: [sci-fi], language: en}
      - user: not the first one
        expect: {recommends: true, rejected_absent: true}

Expectations per turn: asks, recommends (bool); min_items; genre_any / genre_none (genres);
domain; language (en/zh); year_min / year_max (every shown item inside); not_shown (item ids);
rejected_absent (no item the user rejected so far is shown). Checked on every turn, always:
each shown item exists in the catalog, no item is shown twice in a conversation, no rejected
item comes back, and every catalog title the reply names is a shown or user-named item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chat.checker import without_people
from chat.engine import Engine
from chat.reply import first_sentence
from chat.state import DialogueState
from chat.understand import detect_language
from storage.errors import ConciergeError

KNOWN_EXPECTATIONS = {"asks", "recommends", "min_items", "genre_any", "genre_none", "domain", "language",
                      "year_min", "year_max", "not_shown", "rejected_absent"}


@dataclass
class ScriptResult:
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def load_script(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("turns"), list) or not data["turns"]:
        raise ConciergeError(f"{path}: a dialogue script needs a 'turns' list (see chat/dialogues.py)")
    for n, turn in enumerate(data["turns"], 1):
        if not isinstance(turn, dict) or not isinstance(turn.get("user"), str):
            raise ConciergeError(f"{path}: turn {n} needs a 'user' string")
        unknown = set(turn.get("expect") or {}) - KNOWN_EXPECTATIONS
        if unknown:
            raise ConciergeError(f"{path}: turn {n} has unknown expectations {sorted(unknown)}; "
                                 f"valid: {sorted(KNOWN_EXPECTATIONS)}")
    data.setdefault("name", path.stem)
    return data


def run_script(engine: Engine, script: dict[str, Any]) -> ScriptResult:
    """Play every turn in a fresh session and collect failed expectations."""
    result = ScriptResult(script["name"])
    session = engine.new_session()
    shown_before: set[str] = set()
    for n, turn in enumerate(script["turns"], 1):
        out = engine.ask(session, turn["user"])
        state = DialogueState.from_json(engine.conversations.load_state(session))
        exp = turn.get("expect") or {}
        items = [engine.catalog.items.get(r.item_id) for r in out.recommendations]

        def fail(msg: str, where: str = f"turn {n} ({turn['user'][:40]!r})") -> None:
            result.failures.append(f"{where}: {msg}")

        if any(it is None for it in items):
            fail("a shown item is not in the catalog")
            continue
        shown_ids = [r.item_id for r in out.recommendations]
        if set(shown_ids) & shown_before:
            fail(f"shown again: {sorted(set(shown_ids) & shown_before)}")
        if set(shown_ids) & (set(state.disliked) | set(state.seen)):
            fail("a rejected or seen item was shown")
        allowed = set(shown_ids) | set(state.mentioned)
        written = out.reply
        for it in items:  # a shown item's own catalog description may name other works: that is a fact
            if it and it.description:
                written = written.replace(it.description, " ").replace(first_sentence(it.description), " ")
        written = without_people(written, {p for it in items if it for p in it.creators})
        titles = engine.catalog.titles
        foreign = [name for name in titles.find_names(written, strict_case=True)
                   if not {i.id for i in titles.items_named(name)} & allowed]
        if foreign:
            fail(f"reply names items it did not show: {sorted(foreign)}")
        if "asks" in exp and (out.action == "ask") != exp["asks"]:
            fail(f"expected asks={exp['asks']}, got action {out.action}")
        if "recommends" in exp and bool(shown_ids) != exp["recommends"]:
            fail(f"expected recommends={exp['recommends']}, got {len(shown_ids)} items")
        if len(shown_ids) < exp.get("min_items", 0):
            fail(f"expected at least {exp['min_items']} items, got {len(shown_ids)}")
        genres = [set(it.genres) for it in items if it]
        if "genre_any" in exp and not any(g & set(exp["genre_any"]) for g in genres):
            fail(f"no shown item has a genre in {exp['genre_any']}")
        if "genre_none" in exp and any(g & set(exp["genre_none"]) for g in genres):
            fail(f"a shown item has a genre in {exp['genre_none']}")
        if "domain" in exp and any(it and it.domain != exp["domain"] for it in items):
            fail(f"a shown item is not a {exp['domain']}")
        if "language" in exp and detect_language(out.reply) != exp["language"]:
            fail(f"reply is not in {exp['language']}")
        for key, ok in (("year_min", lambda y, b: y >= b), ("year_max", lambda y, b: y <= b)):
            if key in exp and any(it and (it.year is None or not ok(it.year, exp[key])) for it in items):
                fail(f"a shown item's year is outside {key}={exp[key]}")
        if set(exp.get("not_shown", [])) & set(shown_ids):
            fail(f"shown despite not_shown: {sorted(set(exp['not_shown']) & set(shown_ids))}")
        if exp.get("rejected_absent") and set(shown_ids) & set(state.disliked):
            fail("a rejected item was shown")
        shown_before |= set(shown_ids)
    return result


def run_folder(engine: Engine, folder: Path) -> list[ScriptResult]:
    return [run_script(engine, load_script(p)) for p in sorted(folder.glob("*.yaml"))]
