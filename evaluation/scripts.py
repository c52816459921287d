"""Scripted dialogue tests: YAML files of user turns with expectations, run against an engine.

The format is documented in docs/dialogue-scripts.md; in short:

    name: sci-fi fan asks for something older
    catalog: default            # or "redial", or a path to a catalog file (.jsonl/.csv/movies.json)
    turns:
      - user: I loved Inception, something sci-fi please
        expect: {recommends: true, genre_any: [sci-fi]}
      - user: something older
        expect: {year_trend: down}
      - user: who directed the second one?
        expect: {answers: true, answer_field: {item: 2, field: creators}}

Checked on every turn, always: each shown item exists in the catalog, no item is shown twice in
a conversation, no rejected or seen item comes back, every catalog title the reply names is a
shown or user-named item, and every explanation passes the ExplanationChecker.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chat.checker import ExplanationChecker, facts_text, first_sentence, without_people
from chat.engine import Engine, TurnResult
from chat.lexicon import genre_parts
from chat.reading.rules import detect_language
from chat.state import DialogueState
from common.errors import ConciergeError
from retrieval.diversity import franchise_key
from retrieval.ranking import item_people
from storage.records import CatalogItem

KNOWN_EXPECTATIONS = {"asks", "recommends", "answers", "min_items", "genre_any", "genre_none", "genre_all", "domain",
                      "language", "year_min", "year_max", "not_shown", "rejected_absent", "year_trend",
                      "genre_share", "answer_contains", "answer_field", "says_unknown", "reply_excludes",
                      "franchise_max", "people_any", "attributes", "attribute_trend", "no_match"}
UNKNOWN_MARKS = ("I don't know", "我不知道")
NO_MATCH_MARKS = ("Nothing in the catalog is", "目录里没有")  # the no_match reply (chat/languages)
_PRICE = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)")
_RATING = re.compile(r"(?:rated|评分)\s?(\d(?:\.\d)?)")
_FIELDS = ("creators", "year", "genres", "description", "stars")


@dataclass
class ScriptResult:
    name: str
    catalog: str = "default"
    failures: list[str] = field(default_factory=list)
    explanations: dict[str, int] = field(default_factory=dict)
    turn_seconds: list[float] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class SuiteReport:
    scripts: list[ScriptResult]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.scripts)

    def explanations(self) -> dict[str, int]:
        total = {"first_pass": 0, "regenerated": 0, "template": 0}
        for r in self.scripts:
            for path, n in r.explanations.items():
                total[path] = total.get(path, 0) + n
        return total

    def latency(self) -> dict[str, float]:
        times = sorted(t for r in self.scripts for t in r.turn_seconds)
        if not times:
            return {"p50_s": 0.0, "p95_s": 0.0, "turns": 0}
        return {"p50_s": round(statistics.median(times), 3),
                "p95_s": round(times[min(len(times) - 1, int(0.95 * len(times)))], 3), "turns": len(times)}

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": len(self.scripts) - self.passed,
                "scripts": [{"name": r.name, "catalog": r.catalog, "passed": r.passed, "failures": r.failures}
                            for r in self.scripts],
                "explanations": self.explanations(), "latency": self.latency()}


def load_script(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConciergeError(f"{path}: not valid YAML ({exc}); see docs/dialogue-scripts.md") from None
    if not isinstance(data, dict) or not isinstance(data.get("turns"), list) or not data["turns"]:
        raise ConciergeError(f"{path}: a dialogue script needs a 'turns' list (see docs/dialogue-scripts.md)")
    for n, turn in enumerate(data["turns"], 1):
        if not isinstance(turn, dict) or not isinstance(turn.get("user"), str):
            raise ConciergeError(f"{path}: turn {n} needs a 'user' string")
        unknown = set(turn.get("expect") or {}) - KNOWN_EXPECTATIONS
        if unknown:
            raise ConciergeError(f"{path}: turn {n} has unknown expectations {sorted(unknown)}; "
                                 f"valid: {sorted(KNOWN_EXPECTATIONS)}")
    data.setdefault("name", path.stem)
    data.setdefault("catalog", "default")
    return data


def _mean_year(items: Sequence[CatalogItem]) -> float | None:
    years = [it.year for it in items if it.year]
    return sum(years) / len(years) if years else None


def _mean(items: Sequence[CatalogItem], name: str) -> float | None:
    values = [v for v in (it.attributes.get(name) for it in items) if isinstance(v, int | float)]
    return sum(values) / len(values) if values else None


def _meets(value: Any, bounds: dict[str, Any]) -> bool:
    """A script's constraint on one attribute value: {max, min, any, none, value}."""
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    have = set(value) if isinstance(value, list) else {value}
    checks = (("max", lambda b: number is not None and number <= b),
              ("min", lambda b: number is not None and number >= b),
              ("any", lambda b: bool(have & set(b))), ("none", lambda b: not have & set(b)),
              ("value", lambda b: value is b))
    return all(ok(bounds[key]) for key, ok in checks if key in bounds)


def _share(items: Sequence[CatalogItem], genres: set[str]) -> float:
    return sum(bool(set(it.genres) & genres) for it in items) / len(items) if items else 0.0


def _field_values(item: CatalogItem, name: str) -> list[str]:
    if name == "creators":
        return list(item.creators)
    if name == "year":
        return [str(item.year)] if item.year else []
    if name == "genres":
        return list(item.genres[:1])
    if name == "stars":
        return [s for s in item.extra.get("stars") or () if isinstance(s, str)][:1]
    return [first_sentence(item.description, 400)[:60]] if item.description else []


class _Run:
    """One script in one fresh session."""

    def __init__(self, engine: Engine, script: dict[str, Any]) -> None:
        self.engine, self.script = engine, script
        self.result = ScriptResult(script["name"], str(script.get("catalog", "default")))
        self.session = engine.new_session()
        self.shown_before: set[str] = set()
        self.last_list: list[CatalogItem] = []
        self.checker = ExplanationChecker(engine.catalog.titles, engine.catalog.people)

    def play(self) -> ScriptResult:
        for n, turn in enumerate(self.script["turns"], 1):
            out = self.engine.ask(self.session, turn["user"])
            self.result.turn_seconds.append(out.timings.get("total_s", 0.0))
            for path, count in out.explanations.items():
                self.result.explanations[path] = self.result.explanations.get(path, 0) + count
            self.check(n, turn, out)
        return self.result

    def check(self, n: int, turn: dict[str, Any], out: TurnResult) -> None:  # noqa: C901 - one branch per key
        engine = self.engine
        state = DialogueState.from_json(engine.conversations.load_state(self.session))
        exp = turn.get("expect") or {}
        found = [engine.catalog.items.get(r.item_id) for r in out.recommendations]

        def fail(msg: str) -> None:
            self.result.failures.append(f"turn {n} ({turn['user'][:40]!r}): {msg}")

        if any(it is None for it in found):
            fail("a shown item is not in the catalog")
            return
        items = [it for it in found if it is not None]
        shown_ids = [it.id for it in items]
        if set(shown_ids) & self.shown_before:
            fail(f"shown again: {sorted(set(shown_ids) & self.shown_before)}")
        if set(shown_ids) & (set(state.disliked) | set(state.seen)):
            fail("a rejected or seen item was shown")
        self._check_titles(out, items, state, fail)
        user_items = [engine.catalog.items[i] for i in state.mentioned if i in engine.catalog.items]
        self.checker.user_items = user_items
        for rec, it in zip(out.recommendations, items, strict=True):
            verdict = self.checker.check(rec.claim, it)
            if not verdict.ok:
                fail(f"explanation for {it.title} fails the checker: {verdict.problems}")
        if "asks" in exp and (out.action == "ask") != exp["asks"]:
            fail(f"expected asks={exp['asks']}, got action {out.action}")
        if "answers" in exp and (out.action == "answer") != exp["answers"]:
            fail(f"expected answers={exp['answers']}, got action {out.action}")
        if "recommends" in exp and bool(shown_ids) != exp["recommends"]:
            fail(f"expected recommends={exp['recommends']}, got {len(shown_ids)} items")
        if len(shown_ids) < exp.get("min_items", 0):
            fail(f"expected at least {exp['min_items']} items, got {len(shown_ids)}")
        genres = [set(it.genres) for it in items]
        if "genre_any" in exp and not any(g & set(exp["genre_any"]) for g in genres):
            fail(f"no shown item has a genre in {exp['genre_any']}")
        if "genre_all" in exp and not all(g & set(exp["genre_all"]) for g in genres):
            fail(f"not every shown item has a genre in {exp['genre_all']}")
        if "genre_none" in exp and any(set(genre_parts(k)) <= g for k in exp["genre_none"] for g in genres):
            fail(f"a shown item has a genre in {exp['genre_none']}")  # "comedy+romance": both at once
        if "domain" in exp and any(it.domain != exp["domain"] for it in items):
            fail(f"a shown item is not a {exp['domain']}")
        if "language" in exp and detect_language(out.reply) != exp["language"]:
            fail(f"reply is not in {exp['language']}")
        for key, ok in (("year_min", lambda y, b: y >= b), ("year_max", lambda y, b: y <= b)):
            if key in exp and any(it.year is None or not ok(it.year, exp[key]) for it in items):
                fail(f"a shown item's year is outside {key}={exp[key]}")
        if set(exp.get("not_shown", [])) & set(shown_ids):
            fail(f"shown despite not_shown: {sorted(set(exp['not_shown']) & set(shown_ids))}")
        if exp.get("rejected_absent") and set(shown_ids) & set(state.disliked):
            fail("a rejected item was shown")
        if "year_trend" in exp:
            before, now = _mean_year(self.last_list), _mean_year(items)
            if before is None or now is None or (now >= before if exp["year_trend"] == "down" else now <= before):
                fail(f"mean year did not go {exp['year_trend']}: {before} -> {now}")
        for direction, names in (exp.get("genre_share") or {}).items():
            wanted = set(names)
            before_share, now_share = _share(self.last_list, wanted), _share(items, wanted)
            up = direction == "up"
            moved = (now_share > before_share if up else now_share < before_share) or \
                now_share == before_share == (1.0 if up else 0.0)
            if not items or not moved:
                fail(f"share of {sorted(wanted)} did not go {direction}: {before_share:.2f} -> {now_share:.2f}")
        wanted_people = set(exp.get("people_any", ()))
        if wanted_people and not any(wanted_people & set(item_people(it.creators, it.extra)) for it in items):
            fail(f"no shown item is by or with any of {exp['people_any']}")
        if "franchise_max" in exp:
            biggest = max(Counter(franchise_key(it) for it in items).values(), default=0)
            if biggest > exp["franchise_max"]:
                fail(f"{biggest} items of one franchise (at most {exp['franchise_max']} expected)")
        for text in exp.get("answer_contains", []):
            if text.lower() not in out.reply.lower():
                fail(f"reply lacks {text!r}")
        for text in exp.get("reply_excludes", []):
            if text.lower() in out.reply.lower():
                fail(f"reply contains {text!r}")
        if "answer_field" in exp:
            self._check_answer(exp["answer_field"], state, out, fail)
        self._check_attributes(exp, state, out, items, fail)
        if exp.get("says_unknown") and not any(m in out.reply for m in UNKNOWN_MARKS):
            fail("expected an 'I don't know' answer")
        self.shown_before |= set(shown_ids)
        if items:
            self.last_list = items

    def _check_titles(self, out: TurnResult, items: list[CatalogItem], state: DialogueState,
                      fail: Callable[[str], None]) -> None:
        """Every catalog title the reply names must be a shown item, an item the user named, or the focus."""
        allowed = {it.id for it in items} | set(state.mentioned) | ({state.focus} if state.focus else set())
        allowed |= {it.id for it in self.last_list} if out.action == "answer" else set()
        written = out.reply
        for it in items:  # a shown item's own catalog description may name other works: that is a fact
            if it.description:
                written = written.replace(it.description, " ").replace(first_sentence(it.description), " ")
        if out.action == "answer" and state.focus in self.engine.catalog.items:
            focus = self.engine.catalog.items[state.focus]
            written = written.replace(first_sentence(focus.description, 400), " ")
        written = without_people(written, {p for it in [*items, *self.last_list] for p in it.creators}
                                 | {p for it in self.last_list for p in it.extra.get("stars") or ()})
        titles = self.engine.catalog.titles
        # a work that a shown item's own record mentions ("a retelling of Frankenstein") is a catalog fact
        cited = titles.find_names(" ".join(facts_text(it) for it in [*items, *self.last_list]), strict_case=True)
        # line by line: a reason's end and the next item's number make no title ("Home Alone:" + "3." = "home alone 3")
        named = set().union(*(titles.find_names(line, strict_case=True) for line in written.splitlines()))
        foreign = [name for name in named - cited
                   if not {i.id for i in titles.items_named(name)} & allowed]
        if foreign:
            fail(f"reply names items it did not show: {sorted(foreign)}")

    def _check_attributes(self, exp: dict[str, Any], state: DialogueState, out: TurnResult, items: list[CatalogItem],
                          fail: Callable[[str], None]) -> None:
        """The catalog's declared attributes: always, every shown item satisfies every wish in force (unless the
        reply said nothing does, and offered the nearest) and every price or rating a reason gives is the record's
        or the user's own bound; per turn, the constraints the script states (`attributes`), the direction of a
        relative critique (`attribute_trend`) and the notice that nothing matched (`no_match`)."""
        specs = self.engine.catalog.attributes
        said_none = any(m in out.reply for m in NO_MATCH_MARKS)
        if exp.get("no_match") is not None and said_none != exp["no_match"]:
            fail(f"expected no_match={exp['no_match']}")
        constraints = [w.constraint(n) for n, w in state.attributes.items() if n in specs]
        for it in items if not said_none else ():
            broken = [c.name for c in constraints if not c.satisfied_by(it.attributes.get(c.name))]
            if broken:
                fail(f"{it.title} breaks the wishes on {broken}")
        for name, bounds in (exp.get("attributes") or {}).items():
            for it in items:
                if not _meets(it.attributes.get(name), bounds):
                    fail(f"{it.title} has {name}={it.attributes.get(name)!r}, outside {bounds}")
        for name, direction in (exp.get("attribute_trend") or {}).items():
            before, now = _mean(self.last_list, name), _mean(items, name)
            if before is None or now is None or (now >= before if direction == "down" else now <= before):
                fail(f"mean {name} did not go {direction}: {before} -> {now}")
        bounds = {f"{v:g}" for w in state.attributes.values() for v in (w.low, w.high) if v is not None}
        for rec, it in zip(out.recommendations, items, strict=True):
            for name, pattern in (("price", _PRICE), ("rating", _RATING)):
                record = it.attributes.get(name)
                for m in pattern.finditer(rec.reason):
                    stated = float(m.group(1).replace(",", ""))
                    if not (isinstance(record, int | float) and abs(stated - record) < 0.005) \
                            and f"{stated:g}" not in bounds:
                        fail(f"the reason for {it.title} gives {m.group(0)}, not the record's {name} ({record})")

    def _check_answer(self, spec: dict[str, Any], state: DialogueState, out: TurnResult,
                      fail: Callable[[str], None]) -> None:
        """The reply states the catalog's value of `field` for the item (an id, or a 1-based position in
        the last list shown)."""
        ref, name = spec.get("item"), spec.get("field")
        specs = self.engine.catalog.attributes
        if name not in _FIELDS and name not in specs:
            fail(f"answer_field.field must be one of {[*_FIELDS, *specs]}")
            return
        item = (self.last_list[ref - 1] if isinstance(ref, int) and 0 < ref <= len(self.last_list)
                else self.engine.catalog.items.get(str(ref)))
        if item is None:
            fail(f"answer_field.item {ref!r} is neither a shown position nor a catalog id")
            return
        values = ([specs[name].text(item.attributes[name], out.language)] if name in specs and name in item.attributes
                  else [] if name in specs else _field_values(item, name))
        if not values:
            if not any(m in out.reply for m in UNKNOWN_MARKS):
                fail(f"{item.title} has no {name}: expected 'I don't know'")
        elif not all(v.lower() in out.reply.lower() for v in values):
            fail(f"answer lacks the catalog's {name} of {item.title}: {values}")


def run_script(engine: Engine, script: dict[str, Any]) -> ScriptResult:
    """Play every turn in a fresh session and collect failed expectations."""
    return _Run(engine, script).play()


def run_folder(engine_for: Callable[[str], Engine], folder: Path) -> SuiteReport:
    """Run every *.yaml in `folder`; `engine_for(catalog)` gives the engine for a script's catalog."""
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise ConciergeError(f"No dialogue scripts (*.yaml) in {folder}; see docs/dialogue-scripts.md")
    scripts = [load_script(p) for p in paths]
    return SuiteReport([run_script(engine_for(str(s["catalog"])), s) for s in scripts])
