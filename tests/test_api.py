"""The HTTP API end to end with the fake engine: every endpoint, its error cases and the stored rows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from chat.access import hash_token
from chat.build import build_engine
from chat.engine import Engine
from chat.identity import sign_user_id
from chat.lm.base import ScriptedGenerator
from retrieval.embedders.hashing import HashingEmbedder
from storage.schema import Conversation, Feedback, ShownRecommendation, Turn, UserProfile
from storage.users import FeedbackRepository
from tests.conftest import fake_settings
from ui.server import create_app

SECRET = "test-site-secret-0123456789"


def make_engine(tmp: Path, **overrides: object) -> Engine:
    return build_engine(fake_settings(tmp, **{"identity_secret": SECRET, **overrides}),
                                embedder=HashingEmbedder(), generator=ScriptedGenerator())


@pytest.fixture(scope="module")
def api_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    return make_engine(tmp_path_factory.mktemp("api"), embed_origins="http://127.0.0.1:9999",
                       max_request_bytes=4096, max_message_chars=100, rate_limit_per_minute=1000,
                       new_sessions_per_minute=1000)


@pytest.fixture(scope="module")
def client(api_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(api_engine, with_gradio=False)) as c:
        yield c


def signed(user_id: str, secret: str = SECRET, ttl: int = 3600) -> dict[str, object]:
    """The body a host site's backend sends for one of its users."""
    expires = int(time.time()) + ttl
    return {"user_id": user_id, "user_expires": expires, "user_signature": sign_user_id(secret, user_id, expires)}


def start(client: TestClient, user_id: str | None = None) -> tuple[str, dict[str, str]]:
    r = client.post("/api/v1/sessions", json=signed(user_id) if user_id else None)
    assert r.status_code == 201, r.text
    body = r.json()
    return body["session_id"], {"Authorization": f"Bearer {body['token']}"}


def say(client: TestClient, sid: str, auth: dict[str, str], text: str) -> dict:  # type: ignore[type-arg]
    r = client.post(f"/api/v1/sessions/{sid}/messages", json={"text": text}, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def count(engine: Engine, table: type) -> int:
    with engine.conversations._sessions() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_session_ids_are_unguessable_and_only_the_token_hash_is_stored(client: TestClient,
                                                                        api_engine: Engine) -> None:
    r1, r2 = client.post("/api/v1/sessions"), client.post("/api/v1/sessions", json=signed("alice"))
    a, b = r1.json(), r2.json()
    assert r1.status_code == r2.status_code == 201
    assert a["session_id"] != b["session_id"] and len(a["session_id"]) >= 22 and len(a["token"]) >= 40
    assert (b["user_id"], b["identity"]) == ("alice", "signed")
    assert a["user_id"].startswith("anon-") and a["identity"] == "anonymous"
    with api_engine.conversations._sessions() as s:
        row = s.get(Conversation, a["session_id"])
        assert row is not None and row.token_hash == hash_token(a["token"])
        assert a["token"] not in json.dumps([row.state, row.user_id, row.token_hash])


def test_a_message_returns_reply_grounded_recommendations_and_state(client: TestClient, api_engine: Engine) -> None:
    sid, auth = start(client)
    out = say(client, sid, auth, "I want a sci-fi movie")
    assert len(out["recommendations"]) == 3 and out["truncated"] is False
    for rec in out["recommendations"]:
        item = api_engine.catalog.items[rec["item_id"]]
        assert (rec["title"], rec["year"]) == (item.title, item.year) and rec["reason"]
        assert f"{item.title} ({item.year})" in out["reply"]
    assert out["state"]["genres_wanted"] == ["sci-fi"] and out["action"] == "recommend"
    assert out["state"]["last_shown"] == [r["item_id"] for r in out["recommendations"]]
    turns = client.get(f"/api/v1/sessions/{sid}/turns", headers=auth).json()["turns"]
    assert [t["user"] for t in turns] == ["I want a sci-fi movie"] and turns[0]["reply"] == out["reply"]
    assert [r["item_id"] for r in turns[0]["recommendations"]] == [r["item_id"] for r in out["recommendations"]]


def test_the_turn_says_what_it_did(client: TestClient) -> None:
    """A client tells a clarifying question or a goodbye from a list without reading the reply."""
    sid, auth = start(client)
    assert say(client, sid, auth, "hi")["action"] == "ask"
    out = say(client, sid, auth, "a funny movie please")
    assert out["action"] == "recommend" and out["recommendations"]
    out = say(client, sid, auth, "who directed the first one?")
    assert out["action"] == "answer" and not out["recommendations"]
    out = say(client, sid, auth, "thanks!")
    assert out["action"] == "close" and not out["recommendations"]


def parse_sse(text: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_the_stream_sends_tokens_then_recommendations_then_done(client: TestClient) -> None:
    sid, auth = start(client)
    with client.stream("POST", f"/api/v1/sessions/{sid}/messages/stream", json={"text": "a mystery book"},
                       headers=auth) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(r.read().decode())
    kinds = [k for k, _ in events]
    assert kinds[-2:] == ["recommendations", "done"] and set(kinds[:-2]) == {"token"} and len(kinds) > 3
    text = "".join(d["text"] for k, d in events if k == "token")
    recs = events[-2][1]["recommendations"]
    assert text.strip() == events[-1][1]["reply"] and len(recs) == 3
    assert all(r["domain"] == "book" for r in recs) and events[-2][1]["state"]["domain"] == "book"
    assert events[-2][1]["action"] == "recommend"
    stored = client.get(f"/api/v1/sessions/{sid}/turns", headers=auth).json()["turns"]
    assert stored[-1]["reply"] == events[-1][1]["reply"]  # committed before the stream ended


def _mean_similarity(engine: Engine, item_ids: list[str], anchor: str) -> float:
    index = engine.catalog.index
    a = index.vector(anchor)
    assert a is not None
    return float(np.mean([float(index.vector(i) @ a) for i in item_ids]))  # type: ignore[operator]


def test_like_and_dislike_change_the_very_next_turn(client: TestClient, api_engine: Engine) -> None:
    first = "something thrilling"
    control_sid, control_auth = start(client)
    liked_sid, liked_auth = start(client)
    shown = say(client, control_sid, control_auth, first)["recommendations"]
    assert [r["item_id"] for r in say(client, liked_sid, liked_auth, first)["recommendations"]] == \
        [r["item_id"] for r in shown]
    # like the least similar card and dislike another one: both must show in the next turn
    liked, disliked = shown[2]["item_id"], shown[1]["item_id"]
    r = client.post(f"/api/v1/sessions/{liked_sid}/feedback", json={"item_id": liked, "kind": "like"},
                    headers=liked_auth)
    assert r.status_code == 200 and liked in r.json()["state"]["liked"]
    r = client.post(f"/api/v1/sessions/{liked_sid}/feedback", json={"item_id": disliked, "kind": "dislike"},
                    headers=liked_auth)
    assert disliked in r.json()["state"]["disliked"]
    nxt = [x["item_id"] for x in say(client, liked_sid, liked_auth, "more like that")["recommendations"]]
    base = [x["item_id"] for x in say(client, control_sid, control_auth, "more like that")["recommendations"]]
    assert nxt != base
    assert _mean_similarity(api_engine, nxt, liked) > _mean_similarity(api_engine, base, liked)
    assert _mean_similarity(api_engine, nxt, disliked) < _mean_similarity(api_engine, base, disliked)
    rows = FeedbackRepository(api_engine.conversations._sessions).for_session(liked_sid)
    assert [(f.item_id, f.kind, f.source, f.was_shown) for f in rows] == [
        (liked, "like", "button", True), (disliked, "dislike", "button", True)]


def test_seen_keeps_an_item_out_and_feedback_feeds_the_collaborative_counts(client: TestClient,
                                                                          api_engine: Engine) -> None:
    repo = FeedbackRepository(api_engine.conversations._sessions)
    before = repo.co_liked_pairs()
    items = sorted(api_engine.catalog.items)[:3]
    for user in ("carol", "dave"):
        sid, auth = start(client, user)
        for item in items[:2]:
            assert client.post(f"/api/v1/sessions/{sid}/feedback", json={"item_id": item, "kind": "like"},
                               headers=auth).status_code == 200
        r = client.post(f"/api/v1/sessions/{sid}/feedback", json={"item_id": items[2], "kind": "seen"}, headers=auth)
        assert items[2] in r.json()["state"]["seen"]
    pairs = repo.co_liked_pairs()
    assert pairs[(items[0], items[1])] - before[(items[0], items[1])] == 2
    assert repo.counts()[(items[2], "seen")] >= 2


def test_profile_follows_the_user_into_a_new_session_and_can_be_edited(client: TestClient) -> None:
    sid, auth = start(client, "erin")
    out = say(client, sid, auth, "I love comedy but no horror please")
    first = out["recommendations"][0]["item_id"]
    client.post(f"/api/v1/sessions/{sid}/feedback", json={"item_id": first, "kind": "like"}, headers=auth)
    profile = client.get(f"/api/v1/sessions/{sid}/profile", headers=auth).json()
    assert profile["user_id"] == "erin" and [x["item_id"] for x in profile["liked"]] == [first]
    assert profile["genres_wanted"] == ["comedy"] and profile["genres_avoided"] == ["horror"]
    sid2, auth2 = start(client, "erin")  # a later visit
    again = client.get(f"/api/v1/sessions/{sid2}/profile", headers=auth2).json()
    assert again["genres_avoided"] == ["horror"] and [x["item_id"] for x in again["liked"]] == [first]
    out2 = say(client, sid2, auth2, "hi")
    assert out2["recommendations"] and first not in [r["item_id"] for r in out2["recommendations"]]
    assert out2["state"]["genres_avoided"] == ["horror"]
    r = client.patch(f"/api/v1/sessions/{sid2}/profile", json={"remove": {"genres_avoided": ["horror"]},
                                                               "add": {"genres_wanted": ["animation"]}}, headers=auth2)
    assert r.status_code == 200 and r.json()["genres_avoided"] == []
    assert "animation" in r.json()["genres_wanted"]
    out3 = say(client, sid, auth, "what else?")  # the older session follows the edit too
    assert out3["state"]["genres_avoided"] == [] and "animation" in out3["state"]["genres_wanted"]
    bad = client.patch(f"/api/v1/sessions/{sid}/profile", json={"add": {"genres_wanted": ["<b>x</b>"]}},
                       headers=auth)
    assert bad.status_code == 422 and "Unknown genre" in bad.json()["message"]
    bad = client.patch(f"/api/v1/sessions/{sid}/profile", json={"remove": {"colours": ["red"]}}, headers=auth)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("remove")


def test_people_and_languages_ruled_out_last_across_sessions(client: TestClient) -> None:
    sid, auth = start(client, "hal")
    out = say(client, sid, auth, "A sci-fi movie, nothing by Christopher Nolan and nothing Chinese")
    assert out["state"]["people_avoided"] == ["Christopher Nolan"] and out["state"]["languages_avoided"] == ["zh"]
    profile = client.get(f"/api/v1/sessions/{sid}/profile", headers=auth).json()
    assert profile["people_avoided"] == ["Christopher Nolan"] and profile["languages_avoided"] == ["zh"]
    sid2, auth2 = start(client, "hal")  # a later visit starts from them; what was asked for does not carry over
    out2 = say(client, sid2, auth2, "something like Inception")
    assert out2["state"]["people_avoided"] == ["Christopher Nolan"] and out2["state"]["languages_avoided"] == ["zh"]
    nolan = {r["item_id"] for r in out2["recommendations"]} & {
        "movie:interstellar-2014", "movie:the-dark-knight-2008", "movie:dunkirk-2017", "movie:oppenheimer-2023"}
    assert out2["recommendations"] and not nolan
    r = client.patch(f"/api/v1/sessions/{sid2}/profile", json={"remove": {"people_avoided": ["Christopher Nolan"]},
                                                               "add": {"languages_avoided": ["ko"]}}, headers=auth2)
    assert r.status_code == 200 and r.json()["people_avoided"] == [] and r.json()["languages_avoided"] == ["zh", "ko"]
    for field, value, message in (("people_avoided", "Nobody Atall", "none of the catalog's directors"),
                                  ("languages_avoided", "klingon", "ISO 639-1")):
        bad = client.patch(f"/api/v1/sessions/{sid2}/profile", json={"add": {field: [value]}}, headers=auth2)
        assert bad.status_code == 422 and message in bad.json()["message"]
    kept = client.get(f"/api/v1/sessions/{sid2}/profile", headers=auth2).json()
    assert kept["languages_avoided"] == ["zh", "ko"]  # a rejected edit loses nothing


def test_a_ruled_out_romcom_is_kept_as_one_kind_and_edited_as_one(client: TestClient) -> None:
    sid, auth = start(client, "ivy")
    out = say(client, sid, auth, "Something funny, no romcoms")
    assert out["state"]["genres_avoided"] == ["comedy+romance"]
    profile = client.get(f"/api/v1/sessions/{sid}/profile", headers=auth).json()
    assert profile["genres_avoided"] == ["comedy+romance"]
    r = client.patch(f"/api/v1/sessions/{sid}/profile", json={"add": {"genres_avoided": ["horror+sci-fi"]}},
                     headers=auth)
    assert r.status_code == 200 and r.json()["genres_avoided"] == ["comedy+romance", "horror+sci-fi"]
    for field, value, message in (("genres_avoided", "romance+comedy", "as 'comedy+romance'"),
                                  ("genres_avoided", "comedy+cooking", "join genres with '+'"),
                                  ("genres_wanted", "comedy+romance", "Unknown genre")):
        bad = client.patch(f"/api/v1/sessions/{sid}/profile", json={"add": {field: [value]}}, headers=auth)
        assert bad.status_code == 422 and message in bad.json()["message"], value
    kept = client.get(f"/api/v1/sessions/{sid}/profile", headers=auth).json()
    assert kept["genres_avoided"] == ["comedy+romance", "horror+sci-fi"]  # a rejected edit loses nothing


def test_forget_me_deletes_profile_sessions_turns_and_feedback_of_that_user_only(client: TestClient,
                                                                                 api_engine: Engine) -> None:
    keep_sid, keep_auth = start(client, "frank")
    say(client, keep_sid, keep_auth, "sci-fi please")
    sids = []
    for _ in range(2):
        sid, auth = start(client, "gina")
        out = say(client, sid, auth, "a funny movie")
        client.post(f"/api/v1/sessions/{sid}/feedback",
                    json={"item_id": out["recommendations"][0]["item_id"], "kind": "like"}, headers=auth)
        sids.append((sid, auth))

    def rows_of(user: str) -> dict[str, int]:
        with api_engine.conversations._sessions() as s:
            convs = list(s.scalars(select(Conversation.id).where(Conversation.user_id == user)))
            turns = list(s.scalars(select(Turn.id).where(Turn.conversation_id.in_(convs))))
            return {"conversations": len(convs), "turns": len(turns),
                    "shown": int(s.scalar(select(func.count()).select_from(ShownRecommendation)
                                          .where(ShownRecommendation.turn_id.in_(turns))) or 0),
                    "feedback": int(s.scalar(select(func.count()).select_from(Feedback)
                                             .where(Feedback.user_id == user)) or 0),
                    "profile": int(s.get(UserProfile, user) is not None)}

    assert rows_of("gina") == {"conversations": 2, "turns": 2, "shown": 6, "feedback": 2, "profile": 1}
    kept = rows_of("frank")
    r = client.delete(f"/api/v1/sessions/{sids[0][0]}/profile", headers=sids[0][1])
    assert r.status_code == 200 and r.json() == {"deleted_sessions": 2}
    assert rows_of("gina") == {"conversations": 0, "turns": 0, "shown": 0, "feedback": 0, "profile": 0}
    assert rows_of("frank") == kept
    assert client.get(f"/api/v1/sessions/{sids[1][0]}/turns", headers=sids[1][1]).status_code == 404


def test_items_by_id(client: TestClient, api_engine: Engine) -> None:
    item_id = sorted(api_engine.catalog.items)[0]
    r = client.get(f"/api/v1/items/{item_id}")
    assert r.status_code == 200 and r.json()["title"] == api_engine.catalog.items[item_id].title
    r = client.get("/api/v1/items/movie:no-such-thing")
    assert r.status_code == 404 and "Unknown item" in r.json()["message"]


def test_malformed_json_and_wrong_types_are_422_naming_the_field(client: TestClient) -> None:
    sid, auth = start(client)
    cases = [
        (b'{"text": "hi"', "body"),
        (json.dumps({"text": 5}).encode(), "text"),
        (json.dumps({}).encode(), "text"),
        (json.dumps({"text": "hi", "extra": 1}).encode(), "extra"),
    ]
    for payload, field in cases:
        r = client.post(f"/api/v1/sessions/{sid}/messages", content=payload,
                        headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (payload, r.text)
        assert field in r.json()["message"]
    r = client.post(f"/api/v1/sessions/{sid}/feedback", json={"item_id": "x", "kind": "love"}, headers=auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    r = client.post("/api/v1/sessions", json={"user_id": 7})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "user_id"
    r = client.post(f"/api/v1/sessions/{sid}/feedback", json={"item_id": "movie:nope", "kind": "like"}, headers=auth)
    assert r.status_code == 404 and "Unknown item" in r.json()["message"]
    assert client.get(f"/api/v1/sessions/{sid}/turns", headers=auth).json()["turns"] == []  # nothing stored


def test_unknown_and_foreign_sessions_are_refused_and_nothing_is_created(client: TestClient,
                                                                         api_engine: Engine) -> None:
    sid, auth = start(client)
    other, other_auth = start(client)
    convs, turns = count(api_engine, Conversation), count(api_engine, Turn)
    r = client.post("/api/v1/sessions/not-a-session/messages", json={"text": "hi"}, headers=auth)
    assert r.status_code == 404 and "POST /api/v1/sessions" in r.json()["message"]
    r = client.post(f"/api/v1/sessions/{sid}/messages", json={"text": "hi"}, headers=other_auth)
    assert r.status_code == 403 and r.json()["code"] == "wrong_token"
    r = client.post(f"/api/v1/sessions/{sid}/messages", json={"text": "hi"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    for method, path in (("GET", "turns"), ("GET", "profile"), ("DELETE", "profile"),
                         ("POST", "messages/stream"), ("POST", "feedback")):
        r = client.request(method, f"/api/v1/sessions/{sid}/{path}", headers=other_auth,
                           json={"text": "hi"} if path.startswith("messages") else
                           {"item_id": "x", "kind": "like"} if path == "feedback" else None)
        assert r.status_code == 403, (method, path, r.text)
    assert (count(api_engine, Conversation), count(api_engine, Turn)) == (convs, turns)


def test_payload_over_the_limit_is_413_and_long_messages_are_cut_and_said_so(client: TestClient) -> None:
    sid, auth = start(client)
    r = client.post(f"/api/v1/sessions/{sid}/messages", json={"text": "x" * 5000}, headers=auth)
    assert r.status_code == 413 and "4096" in r.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives
        yield b'{"text": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    r = client.post(f"/api/v1/sessions/{sid}/messages", content=chunks(),
                    headers={**auth, "Content-Type": "application/json"})
    assert r.status_code == 413
    out = say(client, sid, auth, "I like sci-fi movies " + "and more " * 40)
    assert out["truncated"] is True and "first 100 characters" in out["reply"]
    assert len(client.get(f"/api/v1/sessions/{sid}/turns", headers=auth).json()["turns"][0]["user"]) == 100


def test_too_many_requests_on_one_session_get_429_with_retry_after(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, rate_limit_per_minute=3)
    with TestClient(create_app(engine, with_gradio=False)) as c:
        sid, auth = start(c)
        other, other_auth = start(c)
        codes = [c.get(f"/api/v1/sessions/{sid}/turns", headers=auth).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.post(f"/api/v1/sessions/{sid}/messages", json={"text": "hi"}, headers=auth)
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
        assert "Wait" in r.json()["message"]
        assert c.get(f"/api/v1/sessions/{other}/turns", headers=other_auth).status_code == 200  # per session


def test_two_server_processes_share_sessions_through_the_database(tmp_path: Path) -> None:
    a, b = make_engine(tmp_path), make_engine(tmp_path)
    assert a is not b and a.conversations is not b.conversations
    with TestClient(create_app(a, with_gradio=False)) as ca, TestClient(create_app(b, with_gradio=False)) as cb:
        sid, auth = start(ca, "hana")
        first = say(ca, sid, auth, "sci-fi movies please")
        second = say(cb, sid, auth, "more")
        assert second["state"]["turns"] == 2 and second["state"]["genres_wanted"] == ["sci-fi"]
        assert not set(r["item_id"] for r in first["recommendations"]) & {r["item_id"] for r in
                                                                          second["recommendations"]}
        assert len(cb.get(f"/api/v1/sessions/{sid}/turns", headers=auth).json()["turns"]) == 2


def test_embedding_origins_come_from_settings(client: TestClient) -> None:
    r = client.get("/widget")
    assert r.headers["content-security-policy"].endswith("; frame-ancestors 'self' http://127.0.0.1:9999")
    ok = client.options("/api/v1/sessions", headers={"Origin": "http://127.0.0.1:9999",
                                                      "Access-Control-Request-Method": "POST"})
    assert ok.headers.get("access-control-allow-origin") == "http://127.0.0.1:9999"
    bad = client.options("/api/v1/sessions", headers={"Origin": "http://evil.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in bad.headers


def test_docs_and_openapi_are_served_without_any_outside_url(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/static/docs/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert client.get("/static/docs/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/sessions", "/api/v1/sessions/{session_id}/messages",
                 "/api/v1/sessions/{session_id}/messages/stream", "/api/v1/sessions/{session_id}/feedback",
                 "/api/v1/sessions/{session_id}/turns", "/api/v1/sessions/{session_id}/profile",
                 "/api/v1/items/{item_id}"):
        assert path in spec["paths"], path


@pytest.mark.real_models
def test_a_turn_with_the_real_models_over_the_api(real_engine: Engine) -> None:
    with TestClient(create_app(real_engine, with_gradio=False)) as c:
        sid, auth = start(c)
        with c.stream("POST", f"/api/v1/sessions/{sid}/messages/stream",
                      json={"text": "I loved Inception, something sci-fi please"}, headers=auth) as r:
            events = parse_sse(r.read().decode())
    assert [k for k, _ in events][-2:] == ["recommendations", "done"]
    recs = events[-2][1]["recommendations"]
    assert len(recs) == 3 and "movie:inception-2010" not in [x["item_id"] for x in recs]
    for rec in recs:
        item = real_engine.catalog.items[rec["item_id"]]
        assert rec["title"] == item.title and item.title in events[-1][1]["reply"]
