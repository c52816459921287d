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

from chat.lexicon import CLAUSE_BREAKS, GENRES, NEGATION_BEFORE
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


ATTRIBUTES: dict[str, Attribute] = {
    "light": Attribute(
        "light-hearted, cheerful, uplifting, warm feel-good comedy", "dark, grim, bleak, disturbing tragedy",
        ("comedy", "family", "animation", "romance"), ("horror", "thriller", "crime", "war"),
        {"en": ("lighter", "darker"), "zh": ("轻松一点", "更深沉一点")},
        ("lighter", "light-hearted", "lighthearted", "less dark", "less depressing", "less heavy", "less bleak",
         "more uplifting", "more cheerful", "happier", "feel-good", "feel good", "more upbeat", "less sad",
         "too dark", "too sad", "too depressing", "too heavy", "too bleak", "too grim",
         "轻松", "不那么沉重", "欢乐一点", "开心一点", "治愈", "太沉重", "太压抑", "太悲伤", "太黑暗"),
        ("darker", "grittier", "heavier", "bleaker", "more depressing", "less cheerful", "sadder", "too cheerful",
         "更黑暗", "沉重一点", "更沉重"),
    ),
    "violent": Attribute(
        "violent, brutal, bloody, gory fights and killing", "gentle, peaceful, tender, non-violent",
        ("action", "war", "crime", "horror"), ("family", "romance", "animation", "comedy"),
        {"en": ("more violent", "less violent"), "zh": ("更暴力", "不那么暴力")},
        ("more violent", "bloodier", "gorier", "more brutal", "more gore", "更暴力", "更血腥"),
        ("less violent", "less violence", "less gory", "less gore", "less bloody", "less brutal", "not so violent",
         "not too violent", "gentler", "non-violent", "nonviolent", "nothing violent", "nothing too violent",
         "no violence", "without violence", "not violent", "too violent", "too gory", "too bloody", "too brutal",
         "不那么暴力", "少点暴力", "别太暴力", "太暴力", "太血腥",
         "没那么血腥", "不要太血腥", "温和"),
    ),
    "funny": Attribute(
        "funny, hilarious comedy full of jokes and humor", "serious, solemn, earnest drama",
        ("comedy",), ("drama",),
        {"en": ("funnier", "more serious"), "zh": ("更搞笑", "更严肃")},
        ("funnier", "more fun", "more humor", "more humour", "more comedic", "sillier", "more jokes", "too serious",
         "太严肃", "更搞笑", "搞笑一点", "好笑一点", "更好笑", "有趣一点"),
        ("more serious", "less silly", "less goofy", "less funny", "too silly", "too goofy", "严肃一点", "更严肃",
         "正经一点"),
    ),
    "complex": Attribute(
        "complex, cerebral, mind-bending, intricate puzzle plot", "simple, straightforward, easy-to-follow story",
        (), (),
        {"en": ("more complex", "simpler"), "zh": ("更烧脑", "简单一点")},
        ("more complex", "more challenging", "smarter", "more cerebral", "more mind-bending", "more twists",
         "mind-bending", "mind bending", "mindbending", "mind-blowing", "twist ending", "plot twist", "plot twists",
         "too predictable", "too simple", "更烧脑", "烧脑一点", "烧脑", "太简单"),
        ("less confusing", "simpler", "easier to follow", "more straightforward", "less complicated",
         "less complex", "not so confusing", "not too confusing", "less mind-bending", "not too mind-bending",
         "too confusing", "too complicated", "too complex", "简单点", "太复杂", "太烧脑", "简单一点", "不那么烧脑",
         "别太烧脑", "不要太复杂"),
    ),
    "scary": Attribute(
        "scary, terrifying, frightening horror", "cozy, reassuring, safe, not frightening at all",
        ("horror",), ("family", "comedy"),
        {"en": ("scarier", "less scary"), "zh": ("更吓人", "不那么吓人")},
        ("scarier", "more frightening", "creepier", "more terrifying", "更吓人", "更恐怖"),
        ("less scary", "not too scary", "less frightening", "less creepy", "not so scary", "too scary", "too creepy",
         "too frightening", "不那么吓人", "别太吓人", "不要太恐怖", "太吓人", "太恐怖"),
    ),
    "exciting": Attribute(
        "exciting, fast-paced, thrilling action and suspense", "calm, slow, quiet, contemplative",
        ("action", "thriller", "adventure"), ("drama",),
        {"en": ("more exciting", "calmer"), "zh": ("更刺激", "更平静")},
        ("more exciting", "more action", "faster-paced", "faster paced", "more thrilling", "more intense",
         "too slow", "too boring", "look boring", "looks boring", "sound boring", "sounds boring", "seem boring",
         "更刺激", "节奏快一点", "紧张一点", "太慢", "太无聊"),
        ("calmer", "slower", "more relaxing", "quieter", "less intense", "more relaxed", "too intense", "too loud",
         "慢一点", "安静一点", "平静一点", "太吵"),
    ),
    "romantic": Attribute(
        "romantic love story", "no romance, friendship and adventure instead of a love story",
        ("romance",), (),
        {"en": ("more romantic", "less romantic"), "zh": ("更浪漫", "少点爱情")},
        ("more romantic", "more romance", "更浪漫", "浪漫一点"),
        ("less romantic", "less romance", "less mushy", "too romantic", "too mushy", "too sappy", "少点爱情",
         "不要爱情"),
    ),
}

_OLDER = ("older", "earlier", "more classic", "less recent", "too new", "too recent", "too modern", "老一点", "更老",
          "早一点", "年代久一点", "老片", "太新")
_NEWER = ("newer", "more recent", "more modern", "less old", "too old", "too dated", "新一点", "更新", "近一点",
          "最近的", "近几年", "太老", "太旧")
_CLASSIC = ("classic", "classics", "old-school", "old school", "经典", "老电影")
_RECENT = ("recent", "modern", "new release", "new releases", "brand new", "最新", "新片", "新电影")
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "an": 1, "a": 1, "一": 1, "两": 2, "二": 2, "三": 3,
                 "half": 0.5}
_DURATION = re.compile(r"(?:shorter than|under|less than|at most|no longer than|within|max(?:imum)?)\s+"
                       r"(an?|one|two|three|half|\d+(?:\.\d+)?)\s*(?:and a half\s+)?(hours?|hrs?|h|minutes?|mins?)\b"
                       r"|([一两二三]|\d+)\s*(?:个)?(小时|分钟)(?:以内|之内|以下)")
_SHORT = re.compile(r"\bshort(?:er)?\b(?! stor)|\b(?:was|were|is|are|felt|way|a bit|a little) too long\b"
                    r"|\bnot (?:too|so|that|very) long\b|\bnothing (?:too )?long\b|短一点|短的|太长")
CLASSIC_BEFORE = 1990  # "classics" means before this year
OLDER_BEFORE = 2000  # "older ones" with nothing shown to compare with means before this year
_ERAS = (("older", _OLDER), ("newer", _NEWER), ("classic", _CLASSIC), ("recent", _RECENT))  # first found wins
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
    labels = ATTRIBUTES[name].labels["zh" if language == "zh" else "en"]
    return labels[0] if sign > 0 else labels[1]
