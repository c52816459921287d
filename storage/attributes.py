"""Typed attributes a catalog declares (price, rating, brand, colour, in stock): the schema file, the validation of
each row's values, and the constraints the dialogue puts on them.

A catalog file `products.jsonl` declares its attributes in `products.attributes.toml` (or `attributes.toml`) in the
same folder, one table per attribute:

    [price]
    type = "number"            # number | category | boolean | text
    unit = "USD"               # the stored unit; `units` maps what people write to it ("$" = 1, "元" = 0.14)
    format = "${value}"        # how a value is written in replies and on cards (or one per language)
    minimum = 0
    label = {en = "price", zh = "价格"}
    words = {en = ["price", "cost"], zh = ["价格", "价钱"]}       # how people name it
    less = {en = ["cheaper"], zh = ["便宜"]}                     # relative critiques ("cheaper": lower than shown)
    more = {en = ["more expensive"], zh = ["贵一点"]}
    questions = {en = ["how much"], zh = ["多少钱"]}             # "how much is the second one?"

A row carries its values in an `attributes` object ({"price": 79.0, "color": ["blue"]}); a CSV names them as
columns (`concierge ingest --map price=cost`). A value that is not of the declared type, or an attribute the schema
does not declare, stops the import with the file, line and field named.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import CatalogImportError

TYPES = ("number", "category", "boolean", "text")
_KEYS = {"type", "unit", "format", "decimals", "minimum", "maximum", "filterable", "show", "label", "words", "units",
         "values", "less", "more", "questions", "yes", "no"}
# "$1,299.50", "79", "4.5": one number, thousands grouped by three; "$1,2,3" and "free" are not prices
_NUMBER_TEXT = re.compile(r"^\s*[$€£¥]?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*$")


@dataclass(frozen=True)
class AttributeSpec:
    """One declared attribute: its type and bounds, and the words people use for it, per language."""

    name: str
    type: str
    unit: str = ""
    format: Mapping[str, str] = field(default_factory=lambda: {"en": "{value}"})  # per language; "en" the default
    decimals: int | None = None  # a number that is not whole is written with this many ("$42.50"); None: as needed
    minimum: float | None = None
    maximum: float | None = None
    filterable: bool = True
    show: bool = False  # shown on the cards and in the catalog's reasons
    label: Mapping[str, str] = field(default_factory=dict)
    words: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    units: Mapping[str, float] = field(default_factory=dict)  # a unit as people write it -> factor to `unit`
    values: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)  # category value -> words
    less: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    more: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    questions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    yes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # boolean: words for true ("in stock")
    no: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # and for false ("sold out")

    def label_in(self, language: str) -> str:
        return self.label.get(language) or self.label.get("en") or self.name.replace("_", " ")

    def text(self, value: Any, language: str = "en") -> str:
        """A stored value as replies and cards write it ("$79", "rated 4.4", "blue, black", "in stock")."""
        if self.type == "number":
            number = float(value)
            shown = (f"{number:,.0f}" if number.is_integer() else f"{number:,.{self.decimals}f}"
                     if self.decimals is not None else f"{number:,.2f}".rstrip("0").rstrip("."))
            return (self.format.get(language) or self.format.get("en") or "{value}").format(value=shown)
        if self.type == "boolean":
            forms = (self.yes if value else self.no).get(language) or (self.yes if value else self.no).get("en")
            return forms[0] if forms else f"{self.label_in(language)}: {'yes' if value else 'no'}"
        if isinstance(value, list | tuple):
            return ", ".join(self.value_label(v, language) for v in value)
        return self.value_label(str(value), language)

    def value_label(self, value: str, language: str) -> str:
        """A category value in `language` (its first word there), else as stored."""
        forms = self.values.get(value, {}).get(language)
        return forms[0] if forms else value

    def all_words(self, table: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
        return tuple(w for words in table.values() for w in words)

    def to_json(self) -> dict[str, Any]:
        """The declaration as stored with the catalog (the inverse of `from_table`)."""
        out: dict[str, Any] = {"type": self.type, "unit": self.unit, "decimals": self.decimals, "minimum": self.minimum,
                               "maximum": self.maximum, "filterable": self.filterable, "show": self.show}
        for key in ("format", "label", "words", "units", "values", "less", "more", "questions", "yes", "no"):
            value = getattr(self, key)
            out[key] = {k: (list(v) if isinstance(v, tuple) else
                            {lang: list(ws) for lang, ws in v.items()} if isinstance(v, Mapping) else v)
                        for k, v in value.items()}
        return out

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], where: str = "") -> AttributeSpec:
        """Validate one attribute's table of a schema file (`where` names the file in errors)."""
        def fail(problem: str) -> CatalogImportError:
            return CatalogImportError(where, None, f"attributes.{name}", problem)

        if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name):
            raise fail("an attribute name is lowercase letters, digits and _ (e.g. price, in_stock)")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise fail(f"unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_KEYS))}")
        kind = table.get("type")
        if kind not in TYPES:
            raise fail(f"type must be one of {', '.join(TYPES)}, not {kind!r}")

        def words(key: str) -> dict[str, tuple[str, ...]]:
            value = table.get(key, {})
            if not isinstance(value, Mapping) or not all(isinstance(ws, list) and all(
                    isinstance(w, str) and w.strip() for w in ws) for ws in value.values()):
                raise fail(f"{key} must map a language to a list of words, e.g. {key} = {{en = [\"...\"]}}")
            return {lang: tuple(w.strip().lower() for w in ws) for lang, ws in value.items()}

        values = table.get("values", {})
        if not isinstance(values, Mapping) or not all(isinstance(v, Mapping) for v in values.values()):
            raise fail("values must map each category value to its words per language, e.g. "
                       "values.blue = {en = [\"blue\"], zh = [\"蓝色\"]}")
        units = table.get("units", {})
        if not isinstance(units, Mapping) or not all(isinstance(f, int | float) and f > 0 for f in units.values()):
            raise fail("units must map a unit as people write it to a positive factor, e.g. units = {\"$\" = 1}")
        label = table.get("label", {})
        if not isinstance(label, Mapping) or not all(isinstance(v, str) for v in label.values()):
            raise fail("label must map a language to a name, e.g. label = {en = \"price\"}")
        bounds = {}
        for key in ("minimum", "maximum"):
            value = table.get(key)
            if value is not None and not isinstance(value, int | float):
                raise fail(f"{key} must be a number")
            bounds[key] = None if value is None else float(value)
        decimals = table.get("decimals")
        if decimals is not None and (not isinstance(decimals, int) or isinstance(decimals, bool)
                                     or not 0 <= decimals <= 6):
            raise fail("decimals must be a whole number from 0 to 6, e.g. decimals = 2 for prices")
        fmt = table.get("format", "{value}")
        fmt = {"en": fmt} if isinstance(fmt, str) else fmt
        if not isinstance(fmt, Mapping) or not fmt or not all(isinstance(f, str) and "{value}" in f
                                                              for f in fmt.values()):
            raise fail("format must be a string with {value} in it, e.g. format = \"${value}\", or one per "
                       "language: format = {en = \"rated {value}\", zh = \"评分 {value}\"}")
        return cls(
            name=name, type=kind, unit=str(table.get("unit", "")), format=dict(fmt), decimals=decimals,
            minimum=bounds["minimum"],
            maximum=bounds["maximum"], filterable=bool(table.get("filterable", kind != "text")),
            show=bool(table.get("show", False)), label=dict(label), words=words("words"),
            units={u.lower(): float(f) for u, f in units.items()},
            values={str(v): {lang: tuple(w.lower() for w in ws) for lang, ws in forms.items()}
                    for v, forms in values.items()},
            less=words("less"), more=words("more"), questions=words("questions"), yes=words("yes"), no=words("no"))

    def check(self, value: Any) -> Any:
        """The stored form of `value`, or ValueError saying what is wrong with it."""
        if self.type == "number":
            number = _number(value)
            if number is None:
                raise ValueError(f"{value!r} is not a number (write e.g. 79 or 79.99)")
            if self.minimum is not None and number < self.minimum:
                raise ValueError(f"{number:g} is below the minimum {self.minimum:g}")
            if self.maximum is not None and number > self.maximum:
                raise ValueError(f"{number:g} is above the maximum {self.maximum:g}")
            return number
        if self.type == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "yes", "1", "y"):
                return True
            if text in ("false", "no", "0", "n"):
                return False
            raise ValueError(f"{value!r} is not true or false")
        if self.type == "category":
            parts = value if isinstance(value, list) else re.split(r"[|;,]", value) if isinstance(value, str) else None
            if parts is None or not all(isinstance(v, str) for v in parts):
                raise ValueError("must be a string, a list of strings or a '|'-separated string")
            out = [v.strip().lower() if self.values else v.strip() for v in parts if v.strip()]
            if self.values:
                unknown = [v for v in out if v not in self.values]
                if unknown:
                    raise ValueError(f"{', '.join(unknown)} not among the declared values "
                                     f"({', '.join(sorted(self.values))})")
            return out
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return value.strip()


def shown_values(specs: Mapping[str, AttributeSpec], values: Mapping[str, Any], language: str
                 ) -> list[tuple[str, str]]:
    """(attribute, value as written) of an item's values that the catalog shows (`show`), in declaration order: what
    the cards and the catalog's own reasons give ("$79", "rated 4.4", "in stock")."""
    return [(name, spec.text(values[name], language)) for name, spec in specs.items()
            if spec.show and name in values]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        m = _NUMBER_TEXT.match(value)
        if not m:
            return None
        number = float(m.group(1).replace(",", "") + (m.group(2) or ""))
    else:
        return None
    return number if math.isfinite(number) else None


def schema_path(catalog_file: Path) -> Path | None:
    """The schema file beside a catalog file: `<stem>.attributes.toml`, else `attributes.toml`, else None."""
    for candidate in (catalog_file.with_name(f"{catalog_file.stem}.attributes.toml"),
                      catalog_file.with_name("attributes.toml")):
        if candidate.is_file():
            return candidate
    return None


def load_schema(path: Path) -> dict[str, AttributeSpec]:
    """The attributes a schema file declares, validated."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogImportError(str(path), None, None, f"cannot read the attribute schema ({exc})") from None
    return {name: AttributeSpec.from_table(name, table, str(path)) for name, table in data.items()
            if isinstance(table, Mapping)}


def specs_from_json(rows: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, AttributeSpec]:
    """Declarations as stored in the database (`AttributeSpec.to_json`)."""
    return {name: AttributeSpec.from_table(name, data) for name, data in rows}


@dataclass(frozen=True)
class Constraint:
    """What the user asked of one attribute: a range (number), values wanted or ruled out (category), or a value
    (boolean). An item without a value for a constrained attribute does not satisfy it: the catalog cannot tell."""

    name: str
    low: float | None = None
    high: float | None = None
    low_strict: bool = False  # "over $50" excludes 50; "at least 4 stars" keeps 4
    high_strict: bool = False
    any_of: frozenset[str] = frozenset()
    none_of: frozenset[str] = frozenset()
    value: bool | None = None

    def satisfied_by(self, value: Any) -> bool:
        if self.low is not None or self.high is not None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                return False
            if self.low is not None and (value < self.low or (self.low_strict and value == self.low)):
                return False
            if self.high is not None and (value > self.high or (self.high_strict and value == self.high)):
                return False
        if self.any_of or self.none_of:
            have = set(value) if isinstance(value, list | tuple) else {value} if isinstance(value, str) else set()
            if self.any_of and not have & self.any_of:
                return False
            if self.none_of and have & self.none_of:
                return False
        return self.value is None or value is self.value

    def miss(self, value: Any) -> float:
        """How far `value` is from satisfying this, 0 when it does: the distance to the bound as a share of it for a
        range, 1 for a wrong category or boolean and for an unknown value (the nearest items when nothing
        satisfies it)."""
        if self.satisfied_by(value):
            return 0.0
        if isinstance(value, int | float) and not isinstance(value, bool) and (
                self.low is not None or self.high is not None):
            bound = self.high if self.high is not None and value >= self.high else self.low
            if bound is not None:
                return abs(value - bound) / max(abs(bound), 1.0) + 1e-6
        return 1.0
