"""Item questions answered from the catalog, never invented."""

from __future__ import annotations

from chat.engine import Engine
from chat.reading.questions import detect_question
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
    from chat.answers import answer
    from chat.reading.questions import ItemQuestion

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


def test_why_is_a_question_not_a_request() -> None:
    for text in ("why that one?", "Why did you pick the second one?", "hmm, why Dunkirk?", "为什么推荐第二部？"):
        assert detect_question(text).kind == "why", text  # type: ignore[union-attr]
    for text in ("why not something older?", "why don't you show me comedies", "为什么不推荐喜剧",
                 "I wonder why people like horror"):
        q = detect_question(text)
        assert q is None or q.kind != "why", text


def test_why_answers_with_what_the_user_asked_for_and_the_record_has(engine: Engine) -> None:
    sid = engine.new_session()
    shown = engine.ask(sid, "I loved Spirited Away, a fantasy movie please, no horror").recommendations
    assert engine.ask(sid, "why those?").reply.startswith("Which one do you mean?")
    out = engine.ask(sid, "why the second one?")
    second = engine.catalog.items[shown[1].item_id]
    assert out.action == "answer" and not out.recommendations
    assert out.reply.startswith(f"Why {second.title}: ")
    assert ("fantasy" in second.genres) == ("as you asked" in out.reply)
    assert "not horror, which you ruled out" in out.reply and "horror" not in second.genres
    assert engine.ask(sid, "why those?").reply.startswith("Which one do you mean?")  # the list, not the focus
    # about an item never suggested, it says so
    assert engine.ask(sid, "why Spirited Away?").reply.startswith("I have not suggested Spirited Away")
    state = engine.conversations.load_state(sid)
    assert state["genres_wanted"] == ["fantasy"] and state["shown"] == [r.item_id for r in shown]


def test_why_names_a_person_shared_with_a_liked_item(engine: Engine) -> None:
    from chat.answers import why
    from chat.state import DialogueState

    liked = CatalogItem(id="movie:a", domain="movie", title="Interstellar", year=2014, genres=["sci-fi"],
                        creators=["Christopher Nolan"])
    item = CatalogItem(id="movie:b", domain="movie", title="Dunkirk", year=2017, genres=["war"],
                       creators=["Christopher Nolan"])
    state = DialogueState(liked=["movie:a"], shown=["movie:b"], year_min=2010)
    out = why(item, state, {"movie:a": liked, "movie:b": item}, "en")
    assert out == ("Why Dunkirk: Christopher Nolan directed it and Interstellar, which you liked; "
                   "it is from 2017, within the years you asked for (from 2010).")
    zh = why(item, state, {"movie:a": liked, "movie:b": item}, "zh")
    assert zh.startswith("为什么是《Dunkirk》：它和你喜欢的《Interstellar》都有Christopher Nolan")
    star = CatalogItem(id="movie:c", domain="movie", title="Memento", year=2000, creators=["Someone Else"],
                       extra={"stars": ["Christopher Nolan"]})
    assert "Christopher Nolan is in it and directed Interstellar" in why(
        star, DialogueState(liked=["movie:a"], shown=["movie:c"]), {"movie:a": liked, "movie:c": star}, "en")
    assert why(item, DialogueState(), {"movie:b": item}, "en").startswith("I have not suggested Dunkirk")


def test_which_one_is_answered_by_a_number_an_ordinal_or_a_title(engine: Engine) -> None:
    items = engine.catalog.items
    for pick, index in (("2", 1), ("the third", 2), ("", 0), ("第二部", 1)):
        sid = engine.new_session()  # the answer sets the focus, which "it" then means
        shown = engine.ask(sid, "recommend some crime movies").recommendations
        assert engine.ask(sid, "who directed it?").reply.startswith("Which one do you mean?")
        out = engine.ask(sid, pick or shown[0].title)
        assert out.action == "answer", pick
        assert all(name in out.reply for name in items[shown[index].item_id].creators), pick
    assert engine.ask(sid, "what about the first one?").reply.startswith(f"{shown[0].title}: ")
    # a new request after the question is a request again: nothing waits any longer
    engine.ask(sid, "why?")
    assert engine.ask(sid, "a comedy please").action in ("recommend", "ask")
    assert engine.ask(sid, "2").action != "answer"
    state = engine.conversations.load_state(sid)
    assert state["pending_question"] is None and state["liked"] == []
