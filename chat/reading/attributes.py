"""The rules' reading of what a message asks of the catalog's declared attributes (storage/attributes.py):
ranges with units and currencies ("under $100", "between 20 and 50 euros", "100元以内", "at least 4 stars"),
category values ("in blue", "Northpeak or Kestrel", "no leather"), booleans ("in stock"), relative critiques
("cheaper", "便宜一点") and questions about one item ("how much is the second one?").

Nothing here knows a catalog: the words, units and values come from the catalog's declarations, in any language
they are given in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from chat.reading.negation import polarity
from chat.state import AttributeWish as Wish  # what one message asks of one attribute: its unset parts change nothing
from storage.attributes import AttributeSpec

_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
# comparators before an amount, and after it; True: the bound itself is excluded ("under $100")
_HIGH_BEFORE = {"under": True, "below": True, "less than": True, "cheaper than": True, "lower than": True,
                "no more than": False, "not more than": False, "at most": False, "up to": False, "max": False,
                "maximum": False, "within": False, "<=": False, "<": True, "not over": False, "no higher than": False,
                "不超过": False, "不到": True, "低于": True, "少于": True, "最多": False, "小于": True, "不高于": False}
_HIGH_AFTER = {"or less": False, "or under": False, "or cheaper": False, "or lower": False, "max": False,
               "以内": False, "以下": False, "之内": False, "内": False}
_LOW_BEFORE = {"over": True, "above": True, "more than": True, "higher than": True, "at least": False,
               "no less than": False, "not less than": False, "minimum": False, "min": False, ">=": False, ">": True,
               "starting at": False, "至少": False, "高于": True, "超过": True, "不低于": False, "大于": True,
               "最少": False}
_LOW_AFTER = {"or more": False, "or higher": False, "or above": False, "or better": False, "and up": False,
              "and above": False, "plus": False, "+": False, "以上": False, "起": False}
_RANGE = re.compile(r"(?:between|from)?\s*(?P<a>AMOUNT)\s*(?:and|to|-|–|~|到|至)\s*(?P<b>AMOUNT)")
_CJK = re.compile(r"[\u3400-\u9fff]")
_BARE_END = re.compile(r"\s*(?:$|[,.;!?，。；！？)]|(?:and|or|for|please|pls|if|but|with|in|that)\b)")


@dataclass
class AttributeReading:
    """The attributes part of a reading: wishes per attribute and relative critiques."""

    wishes: dict[str, Wish] = field(default_factory=dict)
    relative: list[tuple[str, int]] = field(default_factory=list)  # ("price", -1): "cheaper"

    @property
    def any(self) -> bool:
        return bool(self.wishes or self.relative)


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _word(w: str) -> str:
    """A pattern for `w` as a whole word (Latin) or as a substring (Chinese), plural -s/-es allowed."""
    if _CJK.search(w) or not re.search(r"\w", w):
        return re.escape(w)
    return rf"(?<![\w-]){re.escape(w)}(?:e?s)?(?![\w-])"


def _found(lowered: str, words: tuple[str, ...]) -> list[tuple[int, int]]:
    spans = [m.span() for w in words for m in re.finditer(_word(w), lowered)]
    # "out of stock" holds "stock": keep the longest of overlapping spans
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    out: list[tuple[int, int]] = []
    for s in spans:
        if not out or s[0] >= out[-1][1]:
            out.append(s)
    return out


class AttributeReader:
    """Reads one catalog's declared attributes out of messages (built once per catalog)."""

    def __init__(self, specs: Mapping[str, AttributeSpec], observed: Mapping[str, set[str]] | None = None) -> None:
        """`observed`: per category attribute, the values the catalog's items have; an attribute that declares no
        values (a brand) is read by those, as written."""
        self.specs = {n: s for n, s in specs.items() if s.filterable}
        self._value_words: dict[str, list[tuple[str, str]]] = {}
        for spec in self.specs.values():
            if spec.type == "category":
                declared = [(w, v) for v, forms in spec.values.items() for ws in forms.values() for w in ws]
                self._value_words[spec.name] = declared or [(v.lower(), v) for v in (observed or {}).get(spec.name, ())
                                                             if len(v) > 1]
        self.numeric = [s for s in self.specs.values() if s.type == "number"]
        units = [u for s in self.numeric for u in s.units]
        unit = f"(?:{_alternation(units)})" if units else "(?!)"
        amount = (rf"(?P<pre>{unit})?\s*(?P<num>{_NUMBER})\s*(?P<k>k\b)?\s*"
                  rf"(?P<post>{unit}(?![a-z]))?")
        self._amount = re.compile(amount)
        self._range = re.compile(_RANGE.pattern.replace("(?P<a>AMOUNT)", f"(?P<a>{_unnamed(amount)})")
                                 .replace("(?P<b>AMOUNT)", f"(?P<b>{_unnamed(amount)})"))
        self._high = re.compile(rf"(?<![a-z])(?:{_alternation(list(_HIGH_BEFORE))})\s*$")
        self._low = re.compile(rf"(?<![a-z])(?:{_alternation(list(_LOW_BEFORE))})\s*$")
        self._high_after = re.compile(rf"^\s*(?:{_alternation(list(_HIGH_AFTER))})")
        self._low_after = re.compile(rf"^\s*(?:{_alternation(list(_LOW_AFTER))})")

    def read(self, text: str) -> AttributeReading:
        """What `text` asks of the attributes (titles the user named already blanked out of it)."""
        out = AttributeReading()
        if not self.specs:
            return out
        lowered = text.lower()
        self._ranges(lowered, out)
        for spec in self.specs.values():
            if spec.type == "category":
                self._categories(lowered, spec, out)
            elif spec.type == "boolean":
                self._boolean(lowered, spec, out)
            elif spec.type == "number" and spec.name not in out.wishes:
                for words, sign in ((spec.less, -1), (spec.more, 1)):
                    spans = _found(lowered, spec.all_words(words))
                    if any(polarity(lowered, a, b) == "like" for a, b in spans):
                        out.relative.append((spec.name, sign))
                        break
        return out

    def question(self, text: str) -> str | None:
        """The attribute a question asks about ("how much is it?" -> price), else None."""
        lowered = text.lower()
        for spec in self.specs.values():
            if any(_word(w) and re.search(_word(w), lowered) for w in spec.all_words(spec.questions)):
                return spec.name
        return None

    def _ranges(self, lowered: str, out: AttributeReading) -> None:
        taken: list[tuple[int, int]] = []
        for m in self._range.finditer(lowered):
            a, b = (self._amount.fullmatch(m.group(g).strip()) for g in ("a", "b"))
            if not a or not b or not (a["pre"] or a["post"] or b["pre"] or b["post"]):
                continue  # "2 to 3" alone is no price: a range names its unit
            spec = self._spec_of(a, lowered, m.start()) or self._spec_of(b, lowered, m.start())
            if spec is None:
                continue
            unit = a["pre"] or a["post"] or b["pre"] or b["post"]
            lo, hi = sorted((_value(a, spec, unit), _value(b, spec, unit)))
            wish = out.wishes.setdefault(spec.name, Wish())
            wish.low, wish.high, wish.low_strict, wish.high_strict = lo, hi, False, False
            taken.append(m.span())
        for m in self._amount.finditer(lowered):
            if any(a <= m.start() < b for a, b in taken) or not m["num"]:
                continue
            before, after = lowered[:m.start()], lowered[m.end():]
            high, low = self._high.search(before), self._low.search(before)
            high_after, low_after = self._high_after.match(after), self._low_after.match(after)
            if not (high or low or high_after or low_after):
                continue
            spec = self._spec_of(m, lowered, m.start(), bare=bool(_BARE_END.match(after)))
            if spec is None:
                continue
            value = _value(m, spec, m["pre"] or m["post"])
            wish = out.wishes.setdefault(spec.name, Wish())
            if high or high_after:
                strict = (_HIGH_BEFORE[high.group().strip()] if high else
                          _HIGH_AFTER[high_after.group().strip()] if high_after else False)
                wish.high, wish.high_strict = value, strict
            else:
                strict = _LOW_BEFORE[low.group().strip()] if low else False
                wish.low, wish.low_strict = value, strict

    def _spec_of(self, m: re.Match[str], lowered: str, start: int, bare: bool = True) -> AttributeSpec | None:
        """The numeric attribute an amount is about: its unit's, else the one the clause names ("rating above 4"),
        else (a bare number ending a phrase: "under 100") the first declared."""
        unit = m["pre"] or m["post"]
        if unit:
            return next((s for s in self.numeric if unit in s.units), None)
        clause = re.split(r"[,.;!?，。；！？]", lowered[:start])[-1] + " " + lowered[m.end():m.end() + 20]
        named = [s for s in self.numeric if _found(clause, s.all_words(s.words))]
        if named:
            return named[0]
        return self.numeric[0] if bare and self.numeric else None

    def _categories(self, lowered: str, spec: AttributeSpec, out: AttributeReading) -> None:
        words = self._value_words.get(spec.name, ())
        spans = sorted(((m.start(), m.end(), value) for w, value in words for m in re.finditer(_word(w), lowered)),
                       key=lambda s: (s[0], -(s[1] - s[0])))
        end = -1
        for a, b, value in spans:  # "sleeping bag" is no bag: the longest of overlapping words wins
            if a < end:
                continue
            end = b
            wish = out.wishes.setdefault(spec.name, Wish())
            target = wish.none_of if polarity(lowered, a, b) == "dislike" else wish.any_of
            if value not in target:
                target.append(value)

    def _boolean(self, lowered: str, spec: AttributeSpec, out: AttributeReading) -> None:
        no = _found(lowered, spec.all_words(spec.no))
        yes = [s for s in _found(lowered, spec.all_words(spec.yes)) if not any(a <= s[0] < b for a, b in no)]
        if no:
            out.wishes.setdefault(spec.name, Wish()).value = False
        elif yes:
            out.wishes.setdefault(spec.name, Wish()).value = polarity(lowered, *yes[0]) != "dislike"


def _unnamed(pattern: str) -> str:
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


def _value(m: re.Match[str], spec: AttributeSpec, unit: str | None) -> float:
    """The amount in the attribute's stored unit ("100元" in a shop priced in dollars: 100 x the declared rate)."""
    number = float(m["num"].replace(",", "")) * (1000 if m["k"] else 1)
    factor = spec.units.get(unit or "", 1.0)
    return round(number * factor, 2)
