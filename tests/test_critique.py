"""Critiques: parsing, the state they leave, and the direction they move the list in."""

from __future__ import annotations

import numpy as np

from chat.engine import Engine
from chat.reading.critique import (
    ATTRIBUTES,
    CLASSIC_BEFORE,
    OLDER_BEFORE,
    RECENT_FROM,
    SHORT_MINUTES,
    era_bounds,
    parse_critique,
)
from chat.reading.parse import parse
from chat.reading.rules import read_rules
from chat.state import DialogueState
from chat.titles import TitleIndex


def test_parse_reads_attribute_era_and_length_critiques() -> None:
    c = parse_critique("like Inception but lighter and less violent")
    assert sorted(c.directions) == [("light", 1), ("violent", -1)]
    assert parse_critique("funnier please").directions == [("funny", 1)]
    assert parse_critique("more serious").directions == [("funny", -1)]
    assert parse_critique("轻松一点的").directions == [("light", 1)]
    assert parse_critique("something older").era == "older"
    assert parse_critique("新一点的").era == "newer"
    assert parse_critique("shorter than two hours").max_minutes == 120
    assert parse_critique("under 90 minutes").max_minutes == 90
    assert parse_critique("两小时以内").max_minutes == 120
    # "too long" about a film asks for shorter ones; about anything else it asks for nothing
    assert parse_critique("Titanic was too long").max_minutes == parse_critique("nothing too long").max_minutes \
        == parse_critique("泰坦尼克号太长了").max_minutes == SHORT_MINUTES
    assert parse_critique("it has been too long since my last movie").max_minutes is None
    assert parse_critique("nothing too violent").directions == parse_critique("something without violence"
                                                                              ).directions == [("violent", -1)]
    assert parse_critique("mind-bending movies").directions == [("complex", 1)]
    assert parse_critique("less mind-bending than Inception").directions == [("complex", -1)]
    assert not parse_critique("I loved Inception").any


def test_era_words_about_something_else_ask_for_no_era() -> None:
    # ReDial seekers: "earlier" about the day, "older" about people, "classic" praising one film
    for text in ("she watched @107658 earlier this morning, and loved @156808", "my older sister loved it",
                 "I like Clint Eastwood and a lot of the older actors", "Yes its a classic and one of his best",
                 "of course Alien is a classic", "Classic! I also really enjoyed Heat", "Oh yes classic"):
        assert parse_critique(text).era is None, text
    # asked for: an era word that describes what to watch
    assert parse_critique("some classics please").era == "classic"
    assert parse_critique("classics").era == "classic"  # the answer to "an older classic or something recent?"
    assert parse_critique("I'm staying in and watching some older movies").era == "older"


def test_too_old_asks_for_newer_ones_and_too_new_for_older_ones() -> None:
    cases = {"those are too old": "newer", "not too old please": "newer", "这些太老了": "newer", "不要太老的": "newer",
             "too recent for me": "older", "I'm too old for cartoons": None}
    for text, era in cases.items():
        assert parse_critique(text).era == era, text


def test_a_negated_era_asks_for_the_other_end() -> None:
    assert parse_critique("I don't tend to watch newer movies").era == "older"
    assert parse_critique("nothing too recent").era == "older"
    assert parse_critique("不要老电影").era == "recent"
    titles = TitleIndex([])
    negated = parse("maybe not any films from the 80's though I did like those films!", titles)
    assert (negated.year_min, negated.year_max) == (None, None)
    wanted = parse("no 80s stuff please, 90s is fine", titles)
    assert (wanted.year_min, wanted.year_max) == (1990, 1999)



def test_year_bounds_negated_or_open_ended_are_read_as_meant() -> None:
    titles = TitleIndex([])
    cases = {"A rom-com but nothing older than 2000": (2000, None), "nothing before 2000": (2000, None),
             "I never watch anything after 2010": (None, 2010), "nothing newer than 2010": (None, 2010),
             "nothing since 2010": (None, 2009), "不要2000年以前的": (2000, None),
             "from 2005 onwards please": (2005, None), "from 2000 on": (2000, None), "2000 or later": (2000, None),
             "something 1995 or earlier": (None, 1995), "older than 2000": (None, 1999),
             "after 2000": (2001, None), "since 2015": (2015, None), "2000年以后的科幻": (2000, None),
             "movies from 2000 on Netflix": (None, None)}
    for text, bounds in cases.items():
        p = parse(text, titles)
        assert (p.year_min, p.year_max) == bounds, text


def test_a_negated_genre_with_a_year_bound_rules_out_the_era_not_the_genre() -> None:
    """"I like horror, but no horror before 2000" wants horror from 2000; it used to rule out all horror."""
    titles = TitleIndex([])
    cases = {"I like horror, but no horror before 2000": (["horror"], [], 2000, None),
             "no horror movies older than 1990": (["horror"], [], 1990, None),
             "no horror films made after 2010": (["horror"], [], None, 2010),
             "no pre-2000 horror": (["horror"], [], 2000, None),
             "不要2000年以前的恐怖片": (["horror"], [], 2000, None),
             "no horror, nothing before 2000": ([], ["horror"], 2000, None),  # two clauses: two wishes
             "no horror please, and nothing before 2000": ([], ["horror"], 2000, None)}
    for text, (wanted, avoided, low, high) in cases.items():
        p = parse(text, titles)
        assert (p.genres_wanted, p.genres_avoided, p.year_min, p.year_max) == (wanted, avoided, low, high), text

def test_negative_critique_does_not_ask_for_the_genre_it_names() -> None:
    for text in ("less romantic", "something less violent", "不要太血腥"):
        critique = parse_critique(text)
        assert critique.genres_to_drop(text) == set(ATTRIBUTES[critique.directions[0][0]].genres), text
    assert parse_critique("more romantic").genres_to_drop("more romantic") == set()


def test_a_genre_asked_for_beside_a_negative_critique_stays_asked_for() -> None:
    """"a scary movie but not too gory" had read as a wish for nothing but less violence, and the engine
    answered it with Shrek and Inside Out."""
    titles = TitleIndex([])
    cases = {"I want a scary movie but not too gory": ["horror"],
             "a war film, nothing too violent": ["war"],
             "something romantic but not too mushy": ["romance"],
             "the same but less romantic": [],  # the romance word is the critique's own
             "恐怖片，但不要太血腥": ["horror"]}
    for text, wanted in cases.items():
        u = read_rules(text, titles, None, "never")
        assert u.critique.directions and u.critique.directions[0][1] == -1, text
        assert u.parse.genres_wanted == wanted, text


def test_era_bounds_are_relative_to_what_was_shown() -> None:
    assert era_bounds("older", [1990, 2000, 2010]) == (None, 1999)
    assert era_bounds("newer", [1990, 2000, 2010]) == (2001, None)
    assert era_bounds("older", []) == (None, OLDER_BEFORE - 1)
    assert era_bounds("classic", []) == (None, CLASSIC_BEFORE - 1)
    assert era_bounds("recent", []) == (RECENT_FROM, None)


def test_films_given_as_examples_of_an_era_stay_inside_it() -> None:
    assert era_bounds("older", [], [2008]) == (None, 2008)
    assert era_bounds("older", [], [1975]) == (None, OLDER_BEFORE - 1)
    assert era_bounds("classic", [], [1994]) == (None, 1994)
    assert era_bounds("newer", [2010, 2012], [2005]) == (2005, None)
    assert era_bounds("recent", [], [2015]) == (RECENT_FROM, None)


def test_older_ones_like_a_recent_film_keep_that_film_in_range(engine: Engine) -> None:
    sid = engine.new_session()
    engine.ask(sid, "older ones like The Dark Knight")
    state = DialogueState.from_json(engine.conversations.load_state(sid))
    assert state.year_max is not None and state.year_max >= 2008
    other = engine.new_session()
    engine.ask(other, "older ones like The Dark Knight, not Inception")
    state = DialogueState.from_json(engine.conversations.load_state(other))
    assert state.year_max == 2008  # the disliked film (2010) is no example of what they want


def test_older_lowers_the_mean_year_and_keeps_the_genre(engine: Engine) -> None:
    sid = engine.new_session()
    first = engine.ask(sid, "I love sci-fi movies")
    second = engine.ask(sid, "something older")
    years = [r.year for r in first.recommendations if r.year]
    assert max(r.year or 0 for r in second.recommendations) < sum(years) / len(years)
    assert all("sci-fi" in r.genres for r in second.recommendations)


def test_a_direction_moves_the_interest_vector_towards_its_pole(engine: Engine) -> None:
    rec = engine.recommender
    base = DialogueState(statements=["a film about a family"])
    lighter = base.model_copy(deep=True)
    lighter.steer("light", 1)
    v0, v1 = rec.interest(base), rec.interest(lighter)
    assert v0 is not None and v1 is not None
    d = rec.direction("light")
    assert float(v1 @ d) > float(v0 @ d)
    assert abs(float(np.linalg.norm(v1)) - 1.0) < 1e-5


def test_steering_keeps_one_direction_per_attribute() -> None:
    state = DialogueState()
    state.steer("light", 1)
    state.steer("funny", 1)
    state.steer("light", -1)
    assert [(d.name, d.sign) for d in state.directions] == [("funny", 1), ("light", -1)]


def test_less_scary_after_scary_drops_the_horror_requirement(engine: Engine) -> None:
    sid = engine.new_session()
    engine.ask(sid, "scary horror movies please")
    engine.ask(sid, "less scary")
    state = DialogueState.from_json(engine.conversations.load_state(sid))
    assert "horror" not in state.genres_wanted and state.directions[-1].name == "scary"


def test_length_critique_without_runtimes_says_so(engine: Engine) -> None:
    sid = engine.new_session()
    engine.ask(sid, "a thriller movie")
    out = engine.ask(sid, "shorter than two hours")
    assert "running times" in out.reply and out.recommendations


def test_a_critique_after_a_list_of_one_kind_keeps_that_kind(engine: Engine) -> None:
    """"有没有老一点的" after sci-fi books asks for older books, not for the oldest sci-fi of any kind."""
    items = engine.catalog.items
    books = sorted((it for it in items.values() if it.domain == "book" and "sci-fi" in it.genres and it.year),
                   key=lambda it: -(it.year or 0))[:3]
    film = next(it for it in items.values() if it.domain == "movie" and "sci-fi" in it.genres)
    assert len(books) == 3
    for shown, kept in (([b.id for b in books], "book"), ([books[0].id, film.id], None)):
        sid = engine.new_session()
        state = DialogueState(genres_wanted=["sci-fi"], statements=["我喜欢科幻"], last_shown=shown, shown=shown,
                              language="zh")
        engine.conversations.save_state(sid, state.to_json())
        reply = engine.ask(sid, "有没有老一点的")
        after = DialogueState.from_json(engine.conversations.load_state(sid))
        assert after.domain == kept and after.year_max is not None
        if kept:
            assert reply.recommendations and all(items[r.item_id].domain == kept for r in reply.recommendations)


def test_the_kind_of_the_items_the_user_names_is_the_kind_recommended(engine: Engine) -> None:
    """"I hated Titanic. I want something romantic" recommended romance novels: the user talks about films."""
    sid = engine.new_session()
    reply = engine.ask(sid, "I hated Titanic. I want something romantic but not cheesy.")
    assert reply.recommendations and all(r.domain == "movie" for r in reply.recommendations)
    assert DialogueState.from_json(engine.conversations.load_state(sid)).domain == "movie"
    other = engine.new_session()
    engine.ask(other, "I loved Norwegian Wood and Titanic")  # a book and a film: no kind to keep
    assert DialogueState.from_json(engine.conversations.load_state(other)).domain is None


def test_too_much_of_something_asks_for_less_of_it() -> None:
    cases = {"too gory": ("violent", -1), "those are way too violent": ("violent", -1), "too silly": ("funny", -1),
             "too slow": ("exciting", 1), "too dark for me": ("light", 1), "a bit too sad": ("light", 1),
             "too confusing": ("complex", -1), "too scary": ("scary", -1), "太吓人了": ("scary", -1),
             "too mushy": ("romantic", -1), "too serious": ("funny", 1), "those aren't funny enough": ("funny", 1),
             "not scary enough": ("scary", 1), "it's not dark enough": ("light", -1),
             "hmm, those look boring": ("exciting", 1)}
    for text, direction in cases.items():
        assert parse_critique(text).directions == [direction], text


def test_a_critique_of_several_genres_qualifies_the_genre_asked_for(engine: Engine) -> None:
    """"too gory" after horror used to drop horror and lift family films: it wants gentler horror."""
    sid = engine.new_session()
    engine.ask(sid, "a horror movie please")
    engine.ask(sid, "not really my thing, too gory")
    state = DialogueState.from_json(engine.conversations.load_state(sid))
    assert state.genres_wanted == ["horror"] and [(d.name, d.sign) for d in state.directions] == [("violent", -1)]
    index = engine.catalog.index
    prior = engine.recommender.critique_prior(state, 1.0)
    assert prior is not None
    horror = np.array(["horror" in it.genres for it in index.items])
    assert prior[~horror].max() <= 0 < prior[horror].max()  # only horror films gain: horror comedies, say
    free = engine.recommender.critique_prior(state.model_copy(update={"genres_wanted": []}), 1.0)
    assert free is not None and free[~horror].max() > 0  # without a genre asked for, family films would gain


def test_what_a_list_lacks_adds_no_interest_words(engine: Engine) -> None:
    """"they're not scary enough" used to add "they're" as a statement to embed."""
    sid = engine.new_session()
    engine.ask(sid, "a horror movie")
    engine.ask(sid, "they're not scary enough")
    state = DialogueState.from_json(engine.conversations.load_state(sid))
    assert state.statements == ["a horror movie"] and state.genres_wanted == ["horror"]
    assert [(d.name, d.sign) for d in state.directions] == [("scary", 1)]
