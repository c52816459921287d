"""The dialogue policy: when to ask, what to ask, and when to stop asking."""

from __future__ import annotations

from chat import policy
from chat.engine import Engine
from chat.reading.parse import Parse
from chat.state import DialogueState
from storage.records import CatalogItem

SPREAD = ("comedy", "drama", "horror", "comedy", "drama", "sci-fi")


def _items(*genres: str) -> list[CatalogItem]:
    return [CatalogItem(id=f"movie:{i}", domain="movie", title=f"T{i}", year=1950 + i, genres=(g,))
            for i, g in enumerate(genres)]


def test_a_spread_pool_gets_the_genre_question_that_splits_it() -> None:
    state = DialogueState(statements=["recommend a good movie"], domain="movie")
    q = policy.clarify(state, Parse(domain="movie"), _items(*SPREAD))
    assert q is not None and q.kind == "genre" and set(q.options) == {"comedy", "drama", "horror"}
    assert policy.question_text(q, state, "en").startswith("What kind of movie")


def test_a_pool_dominated_by_one_genre_asks_about_era_or_nothing() -> None:
    state = DialogueState(statements=["something good"])
    decades = [CatalogItem(id=f"m{i}", domain="movie", title="t", year=1950 + 10 * i, genres=("drama",))
               for i in range(6)]
    q = policy.clarify(state, Parse(), decades)
    assert q is not None and q.kind == "era"
    narrow = [CatalogItem(id=f"m{i}", domain="movie", title="t", year=2000, genres=("drama",)) for i in range(5)]
    assert policy.clarify(DialogueState(statements=["something good"]), Parse(), narrow) is None


def test_specific_requests_and_the_question_budget_skip_questions() -> None:
    spread = _items(*SPREAD)
    assert policy.clarify(DialogueState(genres_wanted=["comedy"]), Parse(), spread) is None
    assert policy.clarify(DialogueState(statements=["movies with time travel"]), Parse(), spread) is None
    spent = DialogueState(statements=["something"], questions_asked=policy.MAX_QUESTIONS)
    assert policy.clarify(spent, Parse(), spread) is None
    after_one = DialogueState(statements=["something"], questions_asked=1, asked=["open"])
    assert policy.clarify(after_one, Parse(), spread) is None  # "I don't know" after a question: recommend


def test_vague_opening_asks_then_the_answer_is_used(engine: Engine) -> None:
    sid = engine.new_session()
    asked = engine.ask(sid, "recommend me a good movie")
    assert asked.action == "ask" and not asked.recommendations
    out = engine.ask(sid, "comedy")
    assert out.action == "recommend" and all("comedy" in r.genres for r in out.recommendations)


def test_never_more_than_two_questions(engine: Engine) -> None:
    sid = engine.new_session()
    actions = [engine.ask(sid, text).action for text in ("hi", "a movie", "a good one", "anything")]
    assert actions.count("ask") <= policy.MAX_QUESTIONS and actions[-1] == "recommend"


def test_a_list_that_had_to_drop_the_genres_or_the_years_says_so(engine: Engine) -> None:
    shown = _items("comedy", "drama")  # years 1950 and 1951
    assert policy.loosened(DialogueState(genres_wanted=["horror"]), shown, soft_genres=False) == [policy.LOOSER_GENRES]
    assert policy.loosened(DialogueState(genres_wanted=["horror"]), shown, soft_genres=True) == []
    assert policy.loosened(DialogueState(genres_wanted=["drama"], year_min=1990), shown, False) == [
        policy.LOOSER_YEARS]
    assert policy.loosened(DialogueState(genres_wanted=["drama"], year_max=1950), shown, False) == []
    # the embedded catalog has Spanish films but no Spanish horror film
    out = engine.ask(engine.new_session(), "Spanish horror please")
    assert out.recommendations and "from other genres" in out.reply
    assert "from other genres" not in engine.ask(engine.new_session(), "Korean thrillers please").reply


def test_titles_and_people_the_catalog_lacks_are_said_not_silently_dropped(engine: Engine) -> None:
    assert policy.not_found(Parse(unresolved=["Paddington 3", "fun"], unknown_people=["Tom Hanks"]), "en") == [
        '(I could not find "Paddington 3" in this catalog, so I left it out.)',
        "(I could not find Tom Hanks among this catalog's directors, authors and stars, so I could not pick by "
        "that name.)"]
    assert policy.not_found(Parse(unresolved=["流浪地球3", "A", "B"]), "zh") == [
        "（目录里没有找到《流浪地球3》、《A》、《B》，所以没有算进去。）"]
    assert policy.not_found(Parse(unresolved=["fun"], mentions=[]), "en") == []  # quoted words are no title
    assert policy.not_found(Parse(unknown_studios=["Blumhouse Productions"]), "en") == [
        "(This catalog does not record studios or publishers, so I could not pick by Blumhouse Productions.)"]
    out = engine.ask(engine.new_session(), "Any horror from Blumhouse Productions? Or Studio Ghibli films")
    assert out.reply.startswith("(This catalog does not record studios") and "Blumhouse" not in out.reply[90:]
    assert {"horror", "animation"} & {g for r in out.recommendations for g in r.genres}
    # through the engine: said first, whether the bot then asks (nothing else to go by) or recommends
    out = engine.ask(engine.new_session(), "Anything with Tom Hanks?")
    assert out.reply.startswith("(I could not find Tom Hanks") and out.action == "ask" and not out.recommendations
    out = engine.ask(engine.new_session(), 'I loved "Paddington 3", any good comedies?')
    assert out.reply.startswith('(I could not find "Paddington 3"') and out.recommendations
    out = engine.ask(engine.new_session(), "我喜欢《流浪地球3》，推荐科幻片")
    assert out.reply.startswith("（目录里没有找到《流浪地球3》") and out.recommendations
