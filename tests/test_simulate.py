"""The simulated seeker: never names its target, reproducible, and finds it when the engine can."""

from __future__ import annotations

import random
from pathlib import Path

from chat.build import build_engine
from chat.engine import Engine
from chat.lm.base import Message, ScriptedGenerator
from chat.titles import TitleIndex
from evaluation.dialogues import MentionResolver
from evaluation.simulate import (
    Episode,
    LMSeeker,
    RuleSeeker,
    episodes,
    found,
    keeps_the_facts,
    same_reading,
    simulate,
)
from retrieval.embedders.hashing import HashingEmbedder
from storage.records import CatalogItem
from tests.conftest import fake_settings
from tests.test_evaluation import MOVIES, conversation, load_line


def engine_on_tiny_catalog(tmp_path: Path, **settings_overrides: object) -> Engine:
    from chat.catalog import sync_embeddings
    from storage.engine import make_engine, migrate, session_factory
    from storage.repository import CatalogRepository

    url = f"sqlite:///{tmp_path / 'sim.db'}"
    engine = make_engine(url)
    migrate(engine)
    repo = CatalogRepository(session_factory(engine))
    repo.upsert([CatalogItem(f"redial:{mid}", "movie", t, year=y, genres=tuple(g), description=p,
                             creators=("Director " + t,), extra={"redial_id": mid})
                 for mid, (t, y, g, p) in MOVIES.items()])
    sync_embeddings(repo, HashingEmbedder(), show_progress=False)
    settings = fake_settings(tmp_path, database_url=url, lm_replies=False, **settings_overrides)
    return build_engine(settings, embedder=HashingEmbedder(), load_lm=False)


def test_episodes_take_the_first_new_suggestion_and_are_seeded(tmp_path: Path) -> None:
    engine = engine_on_tiny_catalog(tmp_path)
    resolver = MentionResolver(engine.catalog.items)
    ds = [load_line(conversation(str(i), [("s", "I liked @1"), ("r", "Have you seen @1? Try @2")]))
          for i in range(10)]
    eps = episodes(ds, resolver, 4, seed=3)
    assert len(eps) == 4 and all(e.target == "redial:2" and e.liked == ("redial:1",) for e in eps)
    assert eps == episodes(ds, resolver, 4, seed=3)



def test_seeker_never_names_the_target_and_gives_reasons() -> None:
    target = CatalogItem("m:heat", "movie", "Heat", year=1995, genres=("crime", "thriller"),
                         description="A detective chases a crew of thieves through Los Angeles.",
                         creators=("Michael Mann",))
    other = CatalogItem("m:x", "movie", "Other", year=2010, genres=("comedy",))
    seeker = RuleSeeker(target, [], random.Random(0))
    lines = [seeker.opening(), seeker.answer()] + [seeker.reject([other]) for _ in range(4)]
    assert all("heat" not in line.lower() for line in lines)
    assert "crime" in lines[0] and "1990s" in lines[1]
    assert "crime" in lines[2] and "1990s" in lines[3] and "Michael Mann" in lines[4]
    assert "detective" in lines[5].lower()


def test_simulation_finds_a_reachable_target_reproducibly(tmp_path: Path) -> None:
    engine = engine_on_tiny_catalog(tmp_path)
    eps = [Episode("1", "redial:6", ("redial:4",)), Episode("2", "redial:3", ())]
    first = simulate(engine, eps, seed=1, show_progress=False)
    again = simulate(engine, eps, seed=1, show_progress=False)
    assert first.episodes == 2 and first.turns_to_success == again.turns_to_success
    assert first.success_at(5) > 0
    data = first.to_json()
    assert set(data) >= {"success@3", "success@5", "mean_turns_to_success"}
    for t in first.transcripts:
        title = engine.catalog.items[str(t["target"])].title
        assert not any(title in line for line in t["turns"] if line.startswith("seeker"))  # type: ignore[union-attr]


def test_another_record_of_the_target_counts_as_found() -> None:
    # a list shows one record of a work (ReDial's "The Man in the Iron Mask" is a 1985 and a 1998 record)
    twins = {"r:1985": ("r:1998",), "r:1998": ("r:1985",)}
    assert found("r:1985", ["r:7", "r:1998"], twins) and found("r:1985", ["r:1985"], {})
    assert not found("r:1985", ["r:7", "r:8"], twins) and not found("r:1985", ["r:1998"], {})


def test_stored_likes_steer_the_ranker_only_when_learning_from_likes(tmp_path: Path) -> None:
    # One user liked Toy Story and The Shining: with likes learnt, they lift each other; a simulation
    # turns that off, so earlier runs' seekers cannot steer a seeded run.
    learning = engine_on_tiny_catalog(tmp_path)
    session = learning.new_session("u1")
    for item in ("redial:4", "redial:3"):
        learning.feedback(session, item, "like")
    learning.refresh_catalog()
    assert learning.catalog.ranker is not None and learning.catalog.ranker.collaborative(["redial:4"]).sum() > 0
    fixed = build_engine(learning.settings.model_copy(update={"learn_from_likes": False}),
                                 embedder=HashingEmbedder(), load_lm=False)
    fixed.feedback(fixed.new_session("u2"), "redial:1", "like")
    fixed.refresh_catalog()
    assert fixed.catalog.ranker is None  # no fitted model and no likes used: content-only ranking


def test_a_rewording_is_sent_only_when_the_rules_read_it_as_the_original() -> None:
    heat = CatalogItem("m:heat", "movie", "Heat", year=1995, genres=("crime", "thriller"),
                       description="A detective chases a crew of thieves.", creators=("Michael Mann",))
    alien = CatalogItem("m:alien", "movie", "Alien", year=1979, genres=("sci-fi", "horror"))
    titles = TitleIndex([heat, alien])
    assert same_reading("I really liked Alien. Can you recommend a crime movie?",
                        "loved Alien! got any good crime films?", titles)
    assert not same_reading("Can you recommend a crime movie?", "got any good films?", titles)  # genre lost
    assert not same_reading("Something from the 1990s would be better.", "something newer maybe", titles)
    assert not same_reading("Can you recommend a crime movie?", "any crime movie like Alien?", titles)  # added
    assert not same_reading("I really liked Alien.", "I really hated Alien.", titles)  # meaning turned
    assert not same_reading("Can you recommend a crime movie?", "any Korean crime movie?", titles)  # language

    replies = iter(["loved Alien! got any good crime films?",  # kept
                    "Something like Heat, a crime thriller?",  # names the target: not sent
                    "x" * 400])  # a ramble: not sent
    generator = ScriptedGenerator(respond=lambda _messages: next(replies))
    seeker = LMSeeker(heat, [alien], random.Random(0), generator, titles)
    assert seeker.opening() == "loved Alien! got any good crime films?"
    assert seeker.answer() == "I'd like a crime thriller movie from the 1990s."
    assert seeker.reject([alien]).startswith("Not those. ")
    assert (seeker.reworded, seeker.kept) == (3, 1)
    prompt: list[Message] = generator.calls[0]
    assert prompt[0]["role"] == "system" and prompt[-1] == {
        "role": "user", "content": "Hi! I really liked Alien. Can you recommend a crime movie?"}
    assert not any("Heat" in m["content"] for m in prompt)  # the model sees the rule message, never the target


def test_a_rewording_keeps_the_story_words_and_the_no() -> None:
    titles = TitleIndex([CatalogItem("m:alien", "movie", "Alien", year=1979)])
    original = "Not those. I want a story with detective thieves heist."
    assert keeps_the_facts(original, "no, not those. after a story with a detective, thieves and a heist", titles)
    assert not keeps_the_facts(original, "I'm sorry, but I can't assist with that.", titles)  # story lost
    assert not keeps_the_facts(original, "a story with a detective, thieves and a heist please", titles)  # no "no"
    assert keeps_the_facts("I like films by Michael Mann.", "Michael Mann films are my thing", titles)


def test_simulation_with_the_model_counts_rewordings_and_still_hides_the_target(tmp_path: Path) -> None:
    engine = engine_on_tiny_catalog(tmp_path)

    def reword(messages: list[Message]) -> str:  # a model that rewords loosely, and sometimes says too much
        text = messages[-1]["content"]
        return text.replace("Can you recommend", "Any") if "liked" in text else "Finding Nemo maybe?"

    eps = [Episode("1", "redial:6", ("redial:4",)), Episode("2", "redial:3", ())]
    report = simulate(engine, eps, seed=1, show_progress=False, generator=ScriptedGenerator(respond=reword))
    data = report.to_json()
    assert data["lm_rewordings"] >= 2 and 1 <= data["lm_rewordings_kept"] < data["lm_rewordings"]  # type: ignore
    for t in report.transcripts:
        seeker_lines = [line for line in t["turns"] if line.startswith("seeker")]  # type: ignore[union-attr]
        assert not any("Finding Nemo" in line for line in seeker_lines)
    assert any(" Any " in line for t in report.transcripts for line in t["turns"])  # type: ignore[union-attr]
    assert "lm_rewordings" not in simulate(engine, eps, seed=1, show_progress=False).to_json()
