"""Answers to questions about an item, from catalog fields only. A fact the catalog lacks gets "I don't know",
never a guess."""

from __future__ import annotations

from collections.abc import Mapping

from chat.checker import first_sentence
from chat.languages import phrase
from chat.languages.names import genre_label, title_for, wish_label, year_range_label
from chat.reading import ItemQuestion
from chat.reply import short_statement
from chat.state import DialogueState
from retrieval.ranking import item_people, series_key
from storage.attributes import AttributeSpec
from storage.records import CatalogItem


def _say(key: str, language: str, /, **values: object) -> str:
    return phrase("answers", key, language, **values)


def _name(item: CatalogItem, language: str) -> str:
    """How an answer names an item ("Heat", "《盗火线》")."""
    return _say("item_name", language, title=title_for(item, language))


def answer(q: ItemQuestion, item: CatalogItem, language: str,
           specs: Mapping[str, AttributeSpec] | None = None) -> str:
    """The catalog's answer, in the user's language (`specs`: the catalog's declared attributes)."""
    name = _name(item, language)
    kind = "film" if item.domain == "movie" else "book"
    unknown = _say("unknown", language, name=name)
    if q.kind == "attribute":
        spec = (specs or {}).get(q.attribute or "")
        if spec is None or item.attributes.get(spec.name) is None:
            return unknown
        value = spec.text(item.attributes[spec.name], language)
        if spec.type == "boolean":
            return _say("attribute_flag", language, name=name, value=value)
        return _say("attribute", language, name=name, label=spec.label_in(language), value=value)
    if q.kind == "creator":
        if not item.creators:
            return unknown
        return _say(f"creator_{kind}", language, name=name, people=_say("and_join", language).join(item.creators))
    if q.kind == "cast":
        stars = [s for s in item.extra.get("stars") or () if isinstance(s, str)]
        if not stars:
            return unknown
        return _say("cast", language, name=name, stars=_say("list_join", language).join(stars[:4]))
    if q.kind == "year":
        if not item.year:
            return unknown
        return _say(f"year_{kind}", language, name=name, year=item.year)
    if q.kind == "runtime":
        minutes = item.extra.get("runtime")
        if not isinstance(minutes, int):
            return unknown
        return _say("runtime", language, name=name, minutes=minutes)
    if q.kind == "about":
        if not item.description:
            return unknown
        note = _say("about_generated", language) if item.extra.get("description_source") == "generated" else ""
        return _say("about", language, name=name, text=first_sentence(item.description, 400), note=note)
    # genre: yes or no from the catalog's genre list
    if not item.genres or q.genre is None:
        return unknown
    listed = _say("list_join", language).join(genre_label(g, language) for g in item.genres)
    asked = genre_label(q.genre, language)
    return _say("is_genre" if q.genre in item.genres else "not_genre", language, name=name, listed=listed,
                asked=asked)


def why(item: CatalogItem, state: DialogueState, items: dict[str, CatalogItem], language: str,
        specs: Mapping[str, AttributeSpec] | None = None) -> str:
    """Why `item` was suggested: what the conversation asked for that its catalog record has.

    Each clause is a fact checked here against the record and the dialogue state, never the model's words.
    """
    name = _name(item, language)
    if item.id not in state.shown:
        return _say("not_shown", language, name=name)
    met = [(specs[n], w) for n, w in state.attributes.items() if specs and n in specs and n in item.attributes
           and w.constraint(n).satisfied_by(item.attributes[n])]
    wishes = [_say("why_flag", language, value=spec.text(item.attributes[spec.name], language))
              if spec.type == "boolean" else
              _say("why_wish", language, label=spec.label_in(language),
                   value=spec.text(item.attributes[spec.name], language), wish=wish_label(spec, wish, language))
              for spec, wish in met]
    liked = [items[i] for i in reversed(state.liked) if i in items and i != item.id]
    facts: list[str] = wishes
    key = series_key(item.title)
    same = next((x for x in liked if key and series_key(x.title) == key), None)
    if same is not None:
        facts.append(_say("why_series", language, title=title_for(same, language)))
    people = set(item_people(item.creators, item.extra))
    for other in liked if same is None else ():  # a series says more than a shared person
        shared = [x for x in item_people(other.creators, other.extra) if x in people]
        if shared:
            who = shared[0]
            # English grammar for {both}: "directed it and wrote X", "is in it and in X"
            here, there = (("directed" if it.domain == "movie" else "wrote") if who in it.creators else "is in"
                           for it in (item, other))
            if here != there:
                both = f"{here} it and {there} {other.title}"
            else:
                both = f"is in it and in {other.title}" if here == "is in" else f"{here} it and {other.title}"
            facts.append(_say("why_person", language, who=who, both=both, title=title_for(other, language)))
            break
    asked = [x for x in state.people_wanted if x in people]
    if asked:
        facts.append(_say("why_people", language, people=_say("and_join", language).join(asked)))
    wanted = [g for g in item.genres if g in state.genres_wanted]
    if wanted:
        kinds = _say("kinds_join", language).join(genre_label(g, language) for g in wanted)
        facts.append(_say("why_genres", language, kinds=kinds))
    elif liked and not facts:
        common = [g for g in item.genres if g in liked[0].genres]
        if common:
            kinds = _say("kinds_join", language).join(genre_label(g, language) for g in common[:2])
            facts.append(_say("why_like", language, title=title_for(liked[0], language), kinds=kinds))
    if item.year and (state.year_min is not None or state.year_max is not None):
        span = year_range_label(state.year_min, state.year_max, language)
        facts.append(_say("why_years", language, year=item.year, span=span))
    ruled_out = [g for g in state.genres_avoided if g not in item.genres]
    if ruled_out and facts:
        kinds = _say("or_join", language).join(genre_label(g, language) for g in ruled_out[:3])
        facts.append(_say("why_not", language, kinds=kinds))
    if not facts:
        said = state.statements[-1] if state.statements else ""
        facts.append(_say("why_said", language, said=short_statement(said)) if said else _say("why_first", language))
    return _say("why", language, name=name, facts=_say("facts_join", language).join(facts))


def which_one(candidates: list[CatalogItem], language: str) -> str:
    """Ask which item "it" means."""
    names = _say("list_join", language).join(_say("choice", language, n=i + 1, title=title_for(it, language))
                                              for i, it in enumerate(candidates))
    return _say("which_one", language, names=names)


def nothing_to_ask_about(language: str) -> str:
    return _say("which_title", language)
