"""Critiques: "lighter", "less violent", "funnier", "older", "newer", "shorter than two hours".

An attribute critique becomes a direction in embedding space (the difference between the
embeddings of its two poles) that shifts the interest vector, plus a small boost for the
catalog genres that go with it. Era and length critiques become hard filters on catalog fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from chat.languages import FIRST, per_language
from chat.lexicon import CLAUSE_BREAKS, ERA_CUES, GENRES, NEGATION_BEFORE
from chat.text import cue_pattern, cue_positions


@dataclass(frozen=True)
class Attribute:
    """One critique axis: its two poles as text (embedded), the genres of the positive pole, the cues."""

    positive: str
    negative: str
    genres: tuple[str, ...]  # catalog genres boosted by the positive pole, lowered by the negative
    counter_genres: tuple[str, ...]  # boosted by the negative pole
    labels: dict[str, tuple[str, str]]  # language -> (positive label, negative label)
    more: tuple[str, ...]  # cues for the positive pole
    less: tuple[str, ...]  # cues for the negative pole


_CRITIQUE = per_language("critique")  # attribute -> {language: labels, more, less} (chat/languages/)


def _attribute(name: str, positive: str, negative: str, genres: tuple[str, ...],
               counter_genres: tuple[str, ...]) -> Attribute:
    """An axis: its poles and genres here, its labels and cues from every language's file."""
    said = _CRITIQUE[name]
    return Attribute(positive, negative, genres, counter_genres,
                     {language: (d["labels"][0], d["labels"][1]) for language, d in said.items()},
                     tuple(w for d in said.values() for w in d["more"]),
                     tuple(w for d in said.values() for w in d["less"]))


ATTRIBUTES: dict[str, Attribute] = {
    "light": _attribute(
        "light", "light-hearted, cheerful, uplifting, warm feel-good comedy",
        "dark, grim, bleak, disturbing tragedy",
        ("comedy", "family", "animation", "romance"), ("horror", "thriller", "crime", "war")),
    "violent": _attribute(
        "violent", "violent, brutal, bloody, gory fights and killing",
        "gentle, peaceful, tender, non-violent",
        ("action", "war", "crime", "horror"), ("family", "romance", "animation", "comedy")),
    "funny": _attribute(
        "funny", "funny, hilarious comedy full of jokes and humor",
        "serious, solemn, earnest drama",
        ("comedy",), ("drama",)),
    "complex": _attribute(
        "complex", "complex, cerebral, mind-bending, intricate puzzle plot",
        "simple, straightforward, easy-to-follow story",
        (), ()),
    "scary": _attribute(
        "scary", "scary, terrifying, frightening horror",
        "cozy, reassuring, safe, not frightening at all",
        ("horror",), ("family", "comedy")),
    "exciting": _attribute(
        "exciting", "exciting, fast-paced, thrilling action and suspense",
        "calm, slow, quiet, contemplative",
        ("action", "thriller", "adventure"), ("drama",)),
    "romantic": _attribute(
        "romantic", "romantic love story",
        "no romance, friendship and adventure instead of a love story",
        ("romance",), ()),
}

_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "an": 1, "a": 1, "一": 1, "两": 2, "二": 2, "三": 3,
                 "half": 0.5}
_DURATION = re.compile(r"(?:shorter than|under|less than|at most|no longer than|within|max(?:imum)?)\s+"
                       r"(an?|one|two|three|half|\d+(?:\.\d+)?)\s*(?:and a half\s+)?(hours?|hrs?|h|minutes?|mins?)\b"
                       r"|([一两二三]|\d+)\s*(?:个)?(小时|分钟)(?:以内|之内|以下)")
_SHORT = re.compile(r"\bshort(?:er)?\b(?! stor)|\b(?:was|were|is|are|felt|way|a bit|a little) too long\b"
                    r"|\bnot (?:too|so|that|very) long\b|\bnothing (?:too )?long\b|短一点|短的|太长")
CLASSIC_BEFORE = 1990  # "classics" means before this year
OLDER_BEFORE = 2000  # "older ones" with nothing shown to compare with means before this year
_ERAS = tuple(ERA_CUES.items())  # older, newer, classic, recent: the first found wins
_OPPOSITE_ERA = {"older": "newer", "newer": "older", "classic": "recent", "recent": "older"}
# what an era word is about when it is not an era: "watched it earlier today", "my older sister",
# "Alien is a classic" (praise for one film)
_NOT_ERA_AFTER = {
    "earlier": re.compile(r"\s*(?:today|tonight|this|that|in|on|at|i|we|you|he|she|they)\b"),
    "too old": re.compile(r"\s*(?:for|to)\b"),  # "I'm too old for cartoons" asks for no era
    "older": re.compile(r"\s*(?:brothers?|sisters?|siblings?|sons?|daughters?|kids?|child|children|people|folks|"
                        r"audiences?|viewers?|crowd|generation|actors?|actress(?:es)?|stars?|cast|men|women)\b"),
}
# "Classic!", "oh yes classic": only interjections before it, and an exclamation mark or an interjection
_ONLY_INTERJECTIONS = re.compile(r"^\s*(?:(?:oh|yes|yeah|yep|wow|so|such|what|a|an|total|true|truly|real|absolute|"
                                 r"definitely)\s+)*$")
_INTERJECTION = re.compile(r"\b(?:oh|yes|yeah|yep|wow|such|what|total|true|truly|real|absolute|definitely)\b")
_PRAISE_BEFORE = re.compile(r"(?:\b(?:is|was|are|were|its|it's|that's|thats)|'s)\s+(?:(?:a|an|such|true|real|total|"
                            r"absolute|all[- ]time|definitely|really|big|huge)\s+)*$")
RECENT_FROM = 2010  # "recent" means from this year
SHORT_MINUTES = 100  # "something short" without a number


@dataclass
class Critique:
    """What one message asks to change, beyond genres and titles (the linker does those)."""

    directions: list[tuple[str, int]] = field(default_factory=list)  # (attribute name, +1 | -1)
    era: str | None = None  # "older" | "newer" (relative to what was shown) | "classic" | "recent"
    max_minutes: int | None = None

    @property
    def any(self) -> bool:
        return bool(self.directions or self.era or self.max_minutes)

    def genres_to_drop(self, text: str) -> set[str]:
        """Genres the linker may have read as wanted in `text` that a negative critique means the opposite of
        ("less romantic" is not a request for romance). A genre named outside the critique's own words stays
        asked for: "a scary movie but not too gory" wants gentler horror, not family films."""
        lowered = text.lower()
        drop = set()
        for name, sign in self.directions:
            if sign > 0:
                continue
            cues = _spans(lowered, ATTRIBUTES[name].less)
            drop |= {g for g in ATTRIBUTES[name].genres if not _found(lowered, GENRES[g], cues)}
        return drop


def _pattern(cue: str) -> str:
    return cue_pattern(cue, "a-z-")  # a hyphenated word is another word: "post-modern" asks for no era


def _spans(lowered: str, cues: tuple[str, ...]) -> list[tuple[int, int]]:
    return [m.span() for cue in cues for m in re.finditer(_pattern(cue), lowered)]


def _found(lowered: str, cues: tuple[str, ...], inside: list[tuple[int, int]] | None = None) -> bool:
    """Whether a cue occurs, not counting one within a span of `inside` ("mind-bending" in "less mind-bending")."""
    return any(not any(a <= start and end <= b for a, b in inside or ()) for start, end in _spans(lowered, cues))


# "those aren't funny enough", "not scary enough": more of the attribute ("dark" is the far end of "light")
_ENOUGH_OF = {**{name: (name, 1) for name in ATTRIBUTES}, "dark": ("light", -1)}
_NOT_ENOUGH = re.compile(r"(?:\bnot|n['’]t)\s+(?:really\s+|quite\s+|nearly\s+)?"
                         rf"({'|'.join(_ENOUGH_OF)})\s+enough\b")


def parse_critique(text: str) -> Critique:
    """Read attribute, era and length critiques from one message."""
    lowered = text.lower()
    out = Critique()
    enough = dict(_ENOUGH_OF[m.group(1)] for m in _NOT_ENOUGH.finditer(lowered))
    for name, attr in ATTRIBUTES.items():
        less_spans = _spans(lowered, attr.less)
        less, more = bool(less_spans), _found(lowered, attr.more, inside=less_spans)
        if name in enough:
            less, more = enough[name] < 0, enough[name] > 0
        if less != more:  # both or neither: nothing clear to act on
            out.directions.append((name, 1 if more else -1))
    out.era = _era(lowered)
    out.max_minutes = _minutes(lowered)
    return out


def _era(lowered: str) -> str | None:
    """The era a message asks for. A negated cue asks for the other end ("I don't watch newer movies" is
    "older"); an era word about something else ("earlier today", "it's a classic", "Classic!") asks for nothing."""
    for era, cues in _ERAS:
        for cue in cues:
            for m in re.finditer(_pattern(cue), lowered):
                before = re.split(CLAUSE_BREAKS, lowered[:m.start()], flags=re.IGNORECASE)[-1]  # within the clause
                after = lowered[m.end():]
                not_era = _NOT_ERA_AFTER.get(cue)
                if (not_era and not_era.match(after)) or (era == "classic" and _praise(before, after)):
                    continue
                excess = cue.startswith(("too ", "太"))  # "not too old" and "too old" both want newer ones
                return _OPPOSITE_ERA[era] if cue_positions(before, NEGATION_BEFORE) and not excess else era
    return None


def _praise(before: str, after: str) -> bool:
    """Whether "classic" here praises a film rather than asking for old ones."""
    if _PRAISE_BEFORE.search(before):
        return True
    return bool(_ONLY_INTERJECTIONS.match(before)) and (after.lstrip().startswith("!")
                                                         or bool(_INTERJECTION.search(before)))


def _minutes(lowered: str) -> int | None:
    m = _DURATION.search(lowered)
    if m:
        amount, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = float(_NUMBER_WORDS.get(amount, 0) or amount)
        if "and a half" in m.group(0):
            value += 0.5
        return int(value * 60) if unit.startswith(("h", "小")) else int(value)
    if _SHORT.search(lowered):
        return SHORT_MINUTES
    return None


def era_bounds(era: str, shown_years: list[int],
               example_years: Sequence[int] = ()) -> tuple[int | None, int | None]:
    """(year_min, year_max) for an era critique; "older"/"newer" are relative to the mean year shown.

    `example_years`: years of the films the same message gives as examples ("older ones like Die Hard");
    the range widens to keep them in, since they show what the user means by the era.
    """
    if era in ("older", "newer") and shown_years:
        mean = sum(shown_years) / len(shown_years)
        low, high = (None, math.floor(mean) - 1) if era == "older" else (math.ceil(mean) + 1, None)
    elif era == "older":
        low, high = None, OLDER_BEFORE - 1
    elif era == "classic":
        low, high = None, CLASSIC_BEFORE - 1
    else:
        low, high = RECENT_FROM, None
    if example_years:
        low = min(low, *example_years) if low is not None else None
        high = max(high, *example_years) if high is not None else None
    return low, high


def direction_label(name: str, sign: int, language: str) -> str:
    labels = ATTRIBUTES[name].labels.get(language) or ATTRIBUTES[name].labels[FIRST]
    return labels[0] if sign > 0 else labels[1]
