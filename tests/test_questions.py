"""Item questions answered from the catalog, never invented."""

from __future__ import annotations

from chat.engine import Engine
from chat.questions import detect_question
from storage.records import CatalogItem


def test_detects_question_kinds_in_both_languages() -> None:
    assert detect_question("who directed it?").kind == "creator"  # type: ignore[union-attr]
    assert detect_question("What year did the second one come out?").kind == "year"  # type: ignore[union-attr]
    assert detect_question("what is Inception about?").kind == "about"  # type: ignore[union-attr]
    q = detect_question("is it a comedy?")
    assert q is not None and q.kind == "genre" and q.genre == "comedy"
    assert detect_question("第二部是谁导演的？").kind == "creator"  # type: ignore[union-attr]
    assert detect_question("这本书讲的是什么").kind == "about"  # type: ignore[union-attr]
    assert detect_question("I want something about space") is None
    for text in ("who is in the first one?", "who's in Inception", "who was in the second movie?"):
        assert detect_question(text).kind == "cast", text  # type: ignore[union-attr]
    assert detect_question("who is into horror here") is None
    q = detect_question("the third one looks good, is it scary?")
    assert q is not None and (q.kind, q.genre) == ("genre", "horror")
    assert detect_question("I like horror, are there comedies too?") is None  # asks for films, not about one
    assert detect_question("I love comedies") is None


def test_answers_come_from_the_catalog_record(engine: Engine) -> None:
    sid = engine.new_session()
    shown = engine.ask(sid, "recommend some crime movies").recommendations
    second = engine.catalog.items[shown[1].item_id]
    out = engine.ask(sid, "who directed the second one?")
    assert out.action == "answer" and not out.recommendations
    assert all(name in out.reply for name in second.creators)
    year = engine.ask(sid, "what year did it come out?")
    assert str(second.year) in year.reply
    genre = engine.ask(sid, "is it a crime film?")
    assert genre.reply.startswith("Yes" if "crime" in second.genres else "No")


def test_a_question_does_not_change_preferences(engine: Engine) -> None:
    sid = engine.new_session()
    engine.ask(sid, "who directed Spirited Away?")
    engine.ask(sid, "is it a comedy?")
    state = engine.conversations.load_state(sid)
    assert state["liked"] == [] and state["genres_wanted"] == []
    assert state["focus"] == "movie:spirited-away-2001"


def test_unknown_facts_get_i_dont_know(engine: Engine) -> None:
    sid = engine.new_session()
    assert "I don't know" in engine.ask(sid, "how long is Spirited Away?").reply
    assert "I don't know" in engine.ask(sid, "who stars in it?").reply  # the embedded catalog lists no cast


def test_it_with_several_items_shown_asks_which_one(engine: Engine) -> None:
    sid = engine.new_session()
    shown = engine.ask(sid, "a fantasy movie please").recommendations
    out = engine.ask(sid, "who directed it?")
    assert out.reply.startswith("Which one do you mean?") and all(r.title in out.reply for r in shown)


def test_generated_descriptions_are_marked(engine: Engine) -> None:
    from chat.questions import ItemQuestion, answer

    item = CatalogItem(id="movie:x", domain="movie", title="X", description="A test film.",
                       extra={"description_source": "generated"})
    assert "generated" in answer(ItemQuestion("about"), item, "en")


def test_a_question_about_a_title_the_catalog_lacks_says_so(engine: Engine) -> None:
    sid = engine.new_session()
    engine.ask(sid, "who directed Spirited Away?")  # a focus that must not answer for the missing title
    out = engine.ask(sid, 'who directed "Paddington 3"?')
    assert out.action == "answer" and out.reply.startswith('I could not find "Paddington 3" in this catalog')
    assert "Miyazaki" not in out.reply
    zh = engine.ask(sid, "《流浪地球3》是谁导演的？")
    assert zh.reply.startswith("目录里没有找到《流浪地球3》")
    assert "Miyazaki" in engine.ask(sid, 'who directed "Spirited Away"?').reply  # a quoted title it has
