"""Stage 2a of a turn: fold what a message says (a `Reading`) into the dialogue state."""

from __future__ import annotations

from collections.abc import Mapping

from chat.lexicon import genre_parts
from chat.reading import ATTRIBUTES, Reading, era_bounds
from chat.state import AttributeWish, DialogueState
from chat.text import content_words
from storage.records import CatalogItem


def track(u: Reading, state: DialogueState, items: Mapping[str, CatalogItem] | None = None) -> None:
    """Fold one message's reading into the dialogue state (`items`: the catalog, for "older"/"newer")."""
    p, c = u.parse, u.critique
    state.for_children = state.for_children or p.for_children
    for m in p.mentions:
        if m.polarity == "dislike":
            state.dislike(m.item_id)
        elif m.polarity == "neutral":  # named without a word for or against it ("have you seen X?")
            state.no_opinion(m.item_id)
        else:
            state.like(m.item_id)
        if m.seen:
            state.mark_seen(m.item_id)
    for index, pol in p.ordinal_refs:
        if state.last_shown and -len(state.last_shown) <= index < len(state.last_shown):
            _react(state, state.last_shown[index], pol)
    if p.all_shown and not p.ordinal_refs:  # "I've seen all of those"
        for item_id in state.last_shown:
            _react(state, item_id, p.all_shown)
        state.focus = None
    elif p.passed and not p.ordinal_refs:  # "Not those.": no word against any of them, but no taste to follow
        state.passed += [i for i in state.last_shown if i not in state.passed and i not in state.liked]
    elif p.that_one and not p.ordinal_refs:
        target = state.focus or (state.last_shown[0] if len(state.last_shown) == 1 else None)
        if target:
            _react(state, target, p.that_one)
    _take_opinions(u, state)
    if p.genres_wanted and not set(p.genres_wanted) <= set(p.genres_lacked):
        # a newly asked-for genre replaces the earlier ones ("any good mystery books?" after sci-fi talk);
        # one the last list lacks is added to them ("those aren't really comedies" after "action movies")
        state.genres_wanted = []
    for g in p.genres_wanted:
        state.want_genre(g)
    # "romcoms are fine after all": wanting every part of a ruled-out compound takes it back
    state.genres_avoided = [k for k in state.genres_avoided if not set(genre_parts(k)) <= set(p.genres_wanted)]
    for g in p.genres_avoided:
        state.avoid_genre(g)
    if p.languages_wanted:  # like genres: "Korean ones then" after "French films" replaces French
        state.languages_wanted = []
    for code in p.languages_wanted:
        state.want_language(code)
    for code in p.languages_avoided:
        state.avoid_language(code)
    for person in p.people_wanted:
        state.want_person(person)
    for person in p.people_avoided:
        state.avoid_person(person)
    if p.domain:
        state.domain = p.domain
    elif state.domain is None and items:
        # the kind the user talks about: "I hated Titanic, something romantic" wants films, and "older ones?"
        # after a list of books wants older books, not whatever kind comes first
        named = [m.item_id for m in p.mentions] or (state.last_shown if _only_critique(u) else [])
        kinds = {it.domain for it in (items.get(i) for i in named) if it}
        if len(kinds) == 1:
            state.domain = kinds.pop()
    if p.year_min is not None and p.year_max is not None:  # "from the 90s"
        state.year_min, state.year_max, state.year_vague = p.year_min, p.year_max, False
    elif p.year_min is not None:  # "and nothing before 2000 either" keeps an earlier upper bound that still fits
        state.year_min, state.year_vague = p.year_min, False
        state.year_max = state.year_max if state.year_max is not None and state.year_max >= p.year_min else None
    elif p.year_max is not None:
        state.year_max, state.year_vague = p.year_max, False
        state.year_min = state.year_min if state.year_min is not None and state.year_min <= p.year_max else None
    elif c.era:
        state.year_vague = True
        found = (items.get(i) for i in state.last_shown) if items else ()
        shown = [it.year for it in found if it and it.year]
        liked = (items.get(m.item_id) for m in p.mentions if m.polarity != "dislike") if items else ()
        examples = [it.year for it in liked if it and it.year]  # "older ones like Die Hard"
        state.year_min, state.year_max = era_bounds(c.era, shown, examples)
    for name, sign in c.directions:
        state.steer(name, sign)
        if sign < 0 and len(ATTRIBUTES[name].genres) == 1:
            # "less scary" after "scary movies": horror stops being a requirement. An attribute of several genres
            # qualifies the one asked for: "too gory" after horror wants gentler horror, not family films
            state.genres_wanted = [g for g in state.genres_wanted if g not in ATTRIBUTES[name].genres]
    if c.max_minutes:
        state.max_minutes = c.max_minutes
    _take_attributes(u, state, items or {})
    text = p.positive_text.strip()
    if content_words(text) and not p.greeting_only and not _only_critique(u):  # "seen it" is no interest
        state.statements.append(text)
        del state.statements[:-6]
    state.language = u.language


def _take_attributes(u: Reading, state: DialogueState, items: Mapping[str, CatalogItem]) -> None:
    """Fold what the message asks of the declared attributes into the wishes in force. A new bound replaces that
    side of the range; values named for an attribute replace the ones wanted before ("in red then" after "in blue"),
    values ruled out add up; "cheaper" is below the mean of the list just shown (and no floor), as "older" is for
    years."""
    read = u.attributes
    for name, new in read.wishes.items():
        wish = state.attributes.setdefault(name, AttributeWish())
        if new.low is not None:
            wish.low, wish.low_strict = new.low, new.low_strict
            if new.high is None and wish.high is not None and wish.high < new.low:
                wish.high = None
        if new.high is not None:
            wish.high, wish.high_strict = new.high, new.high_strict
            if new.low is None and wish.low is not None and wish.low > new.high:
                wish.low = None
        if new.any_of:
            wish.any_of = list(new.any_of)
            wish.none_of = [v for v in wish.none_of if v not in new.any_of]
        for value in new.none_of:
            if value not in wish.none_of:
                wish.none_of.append(value)
            if value in wish.any_of:
                wish.any_of.remove(value)
        if new.value is not None:
            wish.value = new.value
    for name, sign in read.relative:
        values = [v for v in (items[i].attributes.get(name) for i in state.last_shown if i in items)
                  if isinstance(v, int | float) and not isinstance(v, bool)]
        if not values:
            continue
        reference = round(sum(values) / len(values), 2)
        wish = state.attributes.setdefault(name, AttributeWish())
        if sign < 0:  # like "older" for years, the new bound replaces the range: "cheaper" has no floor
            wish.low, wish.high, wish.high_strict = None, reference, True
        else:
            wish.low, wish.low_strict, wish.high = reference, True, None


def _take_opinions(u: Reading, state: DialogueState) -> None:
    """The taught reader's judgements, in the fields it reads better than the rules (`Reading.model_fields`)."""
    for j in u.opinions:
        if ("opinion_named" if j.kind == "named" else "opinion_reply") in u.model_fields:
            if j.opinion == "liked":
                state.like(j.item_id)
            elif j.opinion == "disliked":
                state.dislike(j.item_id)
            elif j.kind == "named":
                state.no_opinion(j.item_id)
        if "seen" in u.model_fields and j.seen > 0.5:
            state.mark_seen(j.item_id)


def _react(state: DialogueState, item_id: str, reaction: str) -> None:
    if reaction == "dislike":
        state.dislike(item_id)
    elif reaction == "seen":
        state.mark_seen(item_id)
    else:
        state.like(item_id)
    state.focus = item_id


def _only_critique(u: Reading) -> bool:
    """ "something lighter" or "older ones" says how to move, not what to embed as a new interest."""
    p = u.parse
    return u.critique.any and not (p.mentions or p.genres_wanted) and len(p.positive_text.split()) <= 4
