"""Things named in a language: genres, original languages, year ranges, items (from chat/languages/*.toml)."""

from __future__ import annotations

from collections.abc import Mapping

from chat.languages import FIRST, per_language, phrase
from chat.lexicon import COMPOUND_LABELS, COMPOUND_SEP, genre_parts
from chat.state import AttributeWish, DialogueState
from storage.attributes import AttributeSpec
from storage.records import CatalogItem

# a genre and an original language by name in each language: the first word for it in that language's file
# ("韩国"); in English the genre's own name and the first way of asking for the language, capitalised ("Korean")
_GENRE_NAMES = {g: {lang: forms[0] for lang, forms in by.items() if forms} for g, by in per_language("genres").items()}
_LANGUAGE_NAMES = {code: {lang: forms[0] for lang, forms in by.items() if forms}
                   for code, by in per_language("languages").items()}


def genre_label(genre: str, language: str) -> str:
    if COMPOUND_SEP in genre:  # "comedy+romance": romcoms
        named = COMPOUND_LABELS.get(genre, {})
        if language in named or FIRST in named:
            return named.get(language) or named[FIRST]
        return phrase("templates", "compound_join", language).join(genre_label(g, language) for g in genre_parts(genre))
    return genre if language == FIRST else _GENRE_NAMES.get(genre, {}).get(language, genre)


def language_label(code: str, language: str) -> str:
    names = _LANGUAGE_NAMES.get(code, {})
    if language != FIRST and language in names:
        return names[language]
    return names[FIRST].capitalize() if FIRST in names else code


def year_range_label(year_min: int | None, year_max: int | None, language: str) -> str:
    """"1990-1999", "up to 2008", "from 2010" (an open range written "-2008" reads as a negative number)."""
    if year_min and year_max:
        return f"{year_min}-{year_max}"
    return phrase("templates", "years_up_to" if year_max else "years_from", language, year=year_max or year_min)


def title_for(item: CatalogItem, language: str) -> str:
    """The title a reply names an item by: the catalog's in English, the one for that language otherwise."""
    return item.title if language == FIRST else item.display_title(language)


def wish_labels(state: DialogueState, specs: Mapping[str, AttributeSpec], language: str) -> list[tuple[str, str]]:
    """(attribute, as said back) for each wish in force on an attribute the catalog declares."""
    return [(name, wish_label(specs[name], wish, language)) for name, wish in state.attributes.items()
            if name in specs]


def wish_label(spec: AttributeSpec, wish: AttributeWish, language: str) -> str:
    """What the user asked of one attribute, as replies say it back: "under $100", "blue or black", "no leather",
    "in stock", 「100美元以内」."""
    def say(key: str, **values: object) -> str:
        return phrase("templates", key, language, **values)

    bits = []
    if wish.low is not None and wish.high is not None:
        bits.append(say("wish_between", low=spec.text(wish.low), high=spec.text(wish.high)))
    elif wish.high is not None:
        bits.append(say("wish_under" if wish.high_strict else "wish_at_most", value=spec.text(wish.high)))
    elif wish.low is not None:
        bits.append(say("wish_over" if wish.low_strict else "wish_at_least", value=spec.text(wish.low)))
    if wish.any_of:
        bits.append(say("wish_or").join(spec.value_label(v, language) for v in wish.any_of))
    if wish.none_of:
        bits.append(say("wish_none", values=say("wish_or").join(spec.value_label(v, language)
                                                                 for v in wish.none_of)))
    if wish.value is not None:
        bits.append(spec.text(wish.value, language))
    return say("summary_join").join(bits)
