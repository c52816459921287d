"""Migration 0002, the user-data repositories and the profile rules, on real SQLite files."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from chat.engine import Engine
from chat.profiles import Profile, _apply_changes, changes
from chat.state import DialogueState
from storage.engine import make_engine, migrate, session_factory
from storage.repository import ConversationRepository
from storage.schema import Base


def test_upgrading_a_0001_database_keeps_its_conversations(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO conversations (id, user_id, state, created_at, updated_at) "
                          "VALUES ('old', 'u1', '{\"liked\": [\"m:1\"]}', '2026-01-01', '2026-01-01')"))
    migrate(engine)
    repo = ConversationRepository(session_factory(engine))
    info = repo.info("old")
    assert (info.user_id, info.token_hash) == ("u1", None) and repo.load_state("old") == {"liked": ["m:1"]}
    assert repo.update_state("old", lambda st: {**st, "turns": 1}) == {"liked": ["m:1"], "turns": 1}
    assert repo.begin_turn("old", "me", 100.0, 60.0) is None and repo.begin_turn("old", "you", 101.0, 60.0) == 59.0


def test_the_migrated_schema_has_every_column_of_the_models(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    migrate(engine)
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}, table.name


def test_rate_windows_count_within_a_minute_and_restart_after_it(engine: Engine) -> None:
    windows = engine.gate.windows
    counts = [windows.hit("session:x", t, 60.0)[0] for t in (0.0, 10.0, 59.0, 60.0, 61.0)]
    assert counts == [1, 2, 3, 1, 2] and windows.hit("session:y", 61.0, 60.0) == (1, 61.0)
    assert windows.forget_before(61.0) == 1  # x's window (from 60.0) ended; y's goes on
    assert windows.hit("session:x", 62.0, 60.0) == (1, 62.0) and windows.hit("session:y", 62.0, 60.0) == (2, 61.0)


def test_the_latest_word_wins_across_conversations() -> None:
    before = DialogueState()
    liked = DialogueState(liked=["m:1"], genres_wanted=["comedy"])
    profile = _apply_changes(Profile(), changes(before, liked))
    assert profile.liked == ["m:1"] and profile.genres_wanted == ["comedy"]
    # another conversation of the same user rejects the item and comedy: the profile moves both
    other = DialogueState(disliked=["m:1"], genres_avoided=["comedy"])
    profile = _apply_changes(profile, changes(DialogueState(), other))
    assert profile.liked == [] and profile.disliked == ["m:1"]
    assert profile.genres_wanted == [] and profile.genres_avoided == ["comedy"]


def test_chat_turns_record_feedback_and_accepted_recommendations(engine: Engine) -> None:
    sid, _ = engine.open_session("ivy")
    first = engine.ask(sid, "a sci-fi movie")
    engine.ask(sid, "I loved the first one")
    rows = engine.profiles.feedback_repo.for_session(sid)
    assert [(r.item_id, r.kind, r.source, r.was_shown) for r in rows] == [
        (first.recommendations[0].item_id, "like", "chat", True)]
    assert engine.profiles.feedback_repo.counts()[(first.recommendations[0].item_id, "accept")] == 1
    assert engine.profiles.for_user("ivy").liked == [first.recommendations[0].item_id]


def test_a_card_clicked_while_the_reply_streams_is_kept(engine: Engine) -> None:
    sid, _ = engine.open_session("jo")
    shown = engine.ask(sid, "a sci-fi movie").recommendations
    events = engine.turn(sid, "more please")
    next(events)  # the reply has started
    engine.feedback(sid, shown[0].item_id, "like")
    engine.feedback(sid, shown[1].item_id, "dislike")
    list(events)  # the turn stores its state
    state = DialogueState.from_json(engine.conversations.load_state(sid))
    assert shown[0].item_id in state.liked and shown[1].item_id in state.disliked and state.turns == 2
