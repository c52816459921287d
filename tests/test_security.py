"""Nobody gets in where they don't belong: signed identity, one turn at a time, limits, one error shape.

Each test is an attack or a careless client; the fake models keep turns fast, the databases are real.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from chat.build import build_engine
from chat.engine import Engine
from chat.identity import VISITOR_COOKIE, sign_user_id
from chat.lm.base import ScriptedGenerator
from retrieval.embedders.hashing import HashingEmbedder
from storage.records import CatalogItem
from storage.schema import Conversation, Turn, UserProfile
from tests.browser import AppServer
from tests.conftest import fake_settings
from tests.postgres import Postgres
from ui.server import create_app

SECRET = "site-secret-for-tests-0123456789"


def make_engine(tmp: Path, **overrides: object) -> Engine:
    return build_engine(fake_settings(tmp, **overrides), embedder=HashingEmbedder(),
                                generator=ScriptedGenerator())


@pytest.fixture
def open_engine(tmp_path: Path) -> Engine:
    """No identity secret: the default."""
    return make_engine(tmp_path)


@pytest.fixture
def signed_engine(tmp_path: Path) -> Engine:
    return make_engine(tmp_path, identity_secret=SECRET)


def signed(user_id: str, secret: str = SECRET, ttl: int = 3600) -> dict[str, Any]:
    expires = int(time.time()) + ttl
    return {"user_id": user_id, "user_expires": expires, "user_signature": sign_user_id(secret, user_id, expires)}


def start(c: TestClient, body: dict[str, Any] | None = None,
          cookie: str | None = None) -> tuple[str, dict[str, str], dict[str, Any]]:
    c.cookies.clear()
    if cookie is not None:
        c.cookies.set(VISITOR_COOKIE, cookie)
    r = c.post("/api/v1/sessions", json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    return out["session_id"], {"Authorization": f"Bearer {out['token']}"}, out


def user_ids(engine: Engine) -> set[str | None]:
    with engine.conversations.sessions() as s:
        return set(s.scalars(select(Conversation.user_id)))


def test_a_user_id_without_a_signature_reaches_no_one_elses_profile(open_engine: Engine) -> None:
    victim = open_engine.open_session("customer-42")[0]
    liked = sorted(open_engine.catalog.items)[0]
    open_engine.feedback(victim, liked, "like")
    with TestClient(create_app(open_engine, with_gradio=False)) as c:
        for body, cookie in (({"user_id": "customer-42"}, None), (None, "customer-42"), (None, "<b>x</b>" * 625)):
            sid, auth, out = start(c, body, cookie)
            assert out["identity"] == "anonymous" and out["user_id"].startswith("anon-")
            assert c.get(f"/api/v1/sessions/{sid}/profile", headers=auth).json()["liked"] == []
            c.patch(f"/api/v1/sessions/{sid}/profile", json={"add": {"genres_avoided": ["horror"]}}, headers=auth)
            assert c.delete(f"/api/v1/sessions/{sid}/profile", headers=auth).json() == {"deleted_sessions": 1}
    assert open_engine.profiles.for_user("customer-42").liked == [liked]
    assert open_engine.profiles.for_user("customer-42").genres_avoided == []
    assert open_engine.conversations.exists(victim)
    assert not {u for u in user_ids(open_engine) if u and ("<" in u or len(u) > 200)}  # nothing made up was stored


def test_a_signed_user_id_is_taken_and_a_wrong_one_is_refused(signed_engine: Engine) -> None:
    with TestClient(create_app(signed_engine, with_gradio=False)) as c:
        _, _, out = start(c, signed("customer-42"))
        assert (out["user_id"], out["identity"]) == ("customer-42", "signed")
        before = user_ids(signed_engine)
        good = signed("customer-42")
        for body, says in (({"user_id": "customer-42"}, "only signed user ids"),
                           ({**good, "user_signature": "0" * 64}, "does not match"),
                           ({**good, "user_id": "customer-43"}, "does not match"),
                           (signed("customer-42", secret="another-site-secret-000"), "does not match"),
                           (signed("customer-42", ttl=-10), "expired")):
            r = c.post("/api/v1/sessions", json=body)
            assert r.status_code == 403 and r.json()["code"] == "bad_identity", body
            assert says in r.json()["message"]
        assert user_ids(signed_engine) == before  # a refused id opens nothing


def test_unsigned_ids_are_trusted_only_when_a_setting_says_so(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, trust_unsigned_user_ids=True)
    with TestClient(create_app(engine, with_gradio=False)) as c:
        _, _, out = start(c, {"user_id": "customer-42"})
    assert (out["user_id"], out["identity"]) == ("customer-42", "unsigned")


def test_the_visitor_cookie_is_issued_signed_and_only_that_one_is_recognised(open_engine: Engine) -> None:
    with TestClient(create_app(open_engine, with_gradio=False)) as c:
        page = c.get("/widget")
        cookie = page.headers["set-cookie"]
        assert cookie.startswith(f"{VISITOR_COOKIE}=anon-") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" not in cookie
        value = c.cookies[VISITOR_COOKIE]
        _, _, first = start(c, cookie=value)
        _, _, second = start(c, cookie=value)
        assert first["identity"] == second["identity"] == "visitor" and first["user_id"] == second["user_id"]
        assert value.startswith(first["user_id"] + ".")
        assert "set-cookie" not in c.get("/widget").headers  # it has one
        forged = "anon-AAAAAAAAAAAAAAAA." + value.rpartition(".")[2]  # another id under this mac
        _, _, third = start(c, cookie=forged)
        assert third["identity"] == "anonymous" and third["user_id"] != "anon-AAAAAAAAAAAAAAAA"
    with TestClient(create_app(open_engine, with_gradio=False), base_url="https://testserver") as tls:
        assert "; Secure" in tls.get("/widget").headers["set-cookie"]


def test_blank_messages_are_422_on_both_routes_and_control_characters_are_dropped(open_engine: Engine) -> None:
    with TestClient(create_app(open_engine, with_gradio=False)) as c:
        sid, auth, _ = start(c)
        for route in ("messages", "messages/stream"):
            for text in (" ", "\r", "\t\n ", "\x00", "\x00\x07 "):
                r = c.post(f"/api/v1/sessions/{sid}/{route}", json={"text": text}, headers=auth)
                assert r.status_code == 422, (route, repr(text), r.text)
                assert r.json()["code"] == "invalid_request" and r.json()["errors"][0]["field"] == "text"
        assert c.get(f"/api/v1/sessions/{sid}/turns", headers=auth).json()["turns"] == []
        r = c.post(f"/api/v1/sessions/{sid}/messages", json={"text": "a sci-fi\x00 movie\r\nplease"}, headers=auth)
        assert r.status_code == 200 and r.json()["recommendations"]
        assert open_engine.conversations.turns(sid)[0].user_text == "a sci-fi movie\nplease"


# Four messages that each like a named title, four card clicks liking other items: every acknowledged one
# must be in the final state, once.
TITLES = {"Inception": "movie:inception-2010", "Spirited Away": "movie:spirited-away-2001",
          "The Godfather": "movie:the-godfather-1972", "Parasite": "movie:parasite-2019"}
CLICKED = ["book:1q84-2009", "book:a-brief-history-of-time-1988", "book:a-christmas-carol-1843",
           "book:a-clockwork-orange-1962"]


def _http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _parallel_run(engine: Engine, base: str, run: int) -> None:
    status, out = _http("POST", base + "/api/v1/sessions", signed(f"racer-{run}"))
    assert status == 201
    sid, auth = out["session_id"], {"Authorization": f"Bearer {out['token']}"}
    barrier = threading.Barrier(8)
    seen: list[int] = []

    def job(i: int) -> None:
        barrier.wait()
        if i < 4:
            path, body = "messages", {"text": f"I loved {list(TITLES)[i]}"}
            headers = {**auth, "Idempotency-Key": f"run{run}-msg{i}"}
        else:
            path, body, headers = "feedback", {"item_id": CLICKED[i - 4], "kind": "like"}, auth
        for _ in range(10_000):  # a client that retries while the session is busy
            status, _ = _http("POST", f"{base}/api/v1/sessions/{sid}/{path}", body, headers)
            seen.append(status)
            if status != 409:
                break
        assert status == 200
        if path == "messages":  # the reply was lost: the client sends the same request again
            again, _ = _http("POST", f"{base}/api/v1/sessions/{sid}/{path}", body, headers)
            seen.append(again)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(job, range(8)))
    assert set(seen) <= {200, 409}, seen
    state = engine.conversations.load_state(sid)
    expected = set(TITLES.values()) | set(CLICKED)
    assert set(state["liked"]) == expected and len(state["liked"]) == 8
    turns = engine.conversations.turns(sid)
    assert [t.index for t in turns] == [0, 1, 2, 3] and state["turns"] == 4
    assert sorted(t.user_text for t in turns) == sorted(f"I loved {t}" for t in TITLES)
    assert set(engine.profiles.for_user(f"racer-{run}").liked) == expected


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'race.db'}"
        return
    with Postgres() as pg:
        yield pg.new_database("race")


def test_parallel_turns_and_clicks_on_one_session_lose_and_repeat_nothing(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(tmp_path, database_url=database_url, identity_secret=SECRET, rate_limit_per_minute=100000,
                         new_sessions_per_minute=1000)
    with AppServer(create_app(engine, with_gradio=False)) as base:
        for run in range(20):
            _parallel_run(engine, base, run)


def test_a_retried_turn_is_given_back_not_stored_again(open_engine: Engine) -> None:
    with TestClient(create_app(open_engine, with_gradio=False)) as c:
        sid, auth, _ = start(c)
        key = {**auth, "Idempotency-Key": "3f1c-retry"}
        first = c.post(f"/api/v1/sessions/{sid}/messages", json={"text": "a sci-fi movie"}, headers=key)
        again = c.post(f"/api/v1/sessions/{sid}/messages", json={"text": "a sci-fi movie"}, headers=key)
        assert first.status_code == again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in first.headers
        assert again.json()["reply"] == first.json()["reply"]
        assert again.json()["recommendations"] == first.json()["recommendations"]
        streamed = c.post(f"/api/v1/sessions/{sid}/messages/stream", json={"text": "a sci-fi movie"}, headers=key)
        done = streamed.text.split("event: done\ndata: ")[1]
        assert json.loads(done)["reply"] == first.json()["reply"]
        other = c.post(f"/api/v1/sessions/{sid}/messages", json={"text": "comedy instead"}, headers=key)
        assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
        bad = c.post(f"/api/v1/sessions/{sid}/messages", json={"text": "hi"},
                     headers={**auth, "Idempotency-Key": "<script>"})
        assert bad.status_code == 422
        assert len(c.get(f"/api/v1/sessions/{sid}/turns", headers=auth).json()["turns"]) == 1


def test_a_message_while_a_turn_runs_gets_409_on_every_route(open_engine: Engine) -> None:
    with TestClient(create_app(open_engine, with_gradio=False)) as c:
        sid, auth, _ = start(c)
        assert open_engine.conversations.begin_turn(sid, "another-process", time.time(), 30.0) is None
        for route in ("messages", "messages/stream"):
            r = c.post(f"/api/v1/sessions/{sid}/{route}", json={"text": "hi"}, headers=auth)
            assert r.status_code == 409 and r.json()["code"] == "turn_in_progress"
            assert 1 <= int(r.headers["retry-after"]) <= 30
        open_engine.conversations.end_turn(sid, "another-process")
        assert c.post(f"/api/v1/sessions/{sid}/messages", json={"text": "hi"}, headers=auth).status_code == 200
    # a stream dropped before its first event gives the session back
    events = open_engine.turn(sid, "a sci-fi movie")
    del events
    assert open_engine.conversations.begin_turn(sid, "next", time.time(), 30.0) is None


def test_new_sessions_are_limited_per_client_address(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, new_sessions_per_minute=3)
    with TestClient(create_app(engine, with_gradio=False)) as c:
        codes = [c.post("/api/v1/sessions").status_code for _ in range(4)]
        assert codes == [201, 201, 201, 429]
        r = c.post("/api/v1/sessions")
        assert r.json()["code"] == "rate_limited" and 1 <= int(r.headers["retry-after"]) <= 60
    engine.gate.admit("10.0.0.9")  # another address has its own count


def _age(engine: Engine, sid: str, hours: float) -> None:
    with engine.conversations.sessions.begin() as s:
        s.execute(update(Conversation).where(Conversation.id == sid)
                  .values(updated_at=datetime.now(UTC) - timedelta(hours=hours)))


def test_idle_sessions_expire_and_prune_deletes_them_with_their_turns(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, session_idle_hours=24)
    with TestClient(create_app(engine, with_gradio=False)) as c:
        old, old_auth, old_out = start(c)
        c.post(f"/api/v1/sessions/{old}/messages", json={"text": "a sci-fi movie"}, headers=old_auth)
        empty, _, _ = start(c)
        fresh, fresh_auth, _ = start(c)
        _age(engine, old, 25)
        _age(engine, empty, 2)
        r = c.get(f"/api/v1/sessions/{old}/turns", headers=old_auth)
        assert r.status_code == 410 and r.json()["code"] == "session_expired"
        engine.profiles.profiles.save(old_out["user_id"], {"liked": []})
        with engine.conversations.sessions.begin() as s:
            s.execute(update(UserProfile).values(updated_at=datetime.now(UTC) - timedelta(hours=25)))
        assert engine.prune() == {"sessions": 2, "anonymous_profiles": 1, "rate_windows": 0}
        assert not engine.conversations.exists(old) and not engine.conversations.exists(empty)
        with engine.conversations.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Turn)) == 0
        assert c.get(f"/api/v1/sessions/{fresh}/turns", headers=fresh_auth).status_code == 200


def test_every_error_has_one_shape(open_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with TestClient(create_app(open_engine, with_gradio=False), raise_server_exceptions=False) as c:
        sid, auth, _ = start(c)
        nested = b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        for body in (b'{"text": "\xff\xfe"}', b'{"text": "hi"', nested[:60_000]):
            r = c.post(f"/api/v1/sessions/{sid}/messages", content=body,
                       headers={**auth, "Content-Type": "application/json"})
            assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text[:200]
        r = c.get("/api/v1/no/such/path")
        assert r.status_code == 404 and r.json()["code"] == "not_found" and "/docs" in r.json()["message"]
        r = c.delete("/api/v1/sessions")
        assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
        assert r.headers["allow"] == "OPTIONS, POST"
        r = c.options(f"/api/v1/sessions/{sid}/profile")
        assert r.status_code == 204 and r.headers["allow"] == "DELETE, GET, OPTIONS, PATCH"

        def broken(*_: object, **__: object) -> None:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(open_engine, "ask", broken)
        r = c.post(f"/api/v1/sessions/{sid}/messages", json={"text": "hi"}, headers=auth)
        assert r.status_code == 500 and r.json()["code"] == "internal_error"
        assert "secret internals" not in r.text
    with TestClient(create_app(open_engine, with_gradio=False)) as c:
        spec = c.get("/openapi.json").json()
    shape = spec["components"]["schemas"]["ErrorOut"]
    assert set(shape["required"]) == {"code", "message"}
    turn = spec["paths"]["/api/v1/sessions/{session_id}/messages"]["post"]["responses"]
    assert {"401", "403", "404", "409", "410", "413", "422", "429", "500"} <= set(turn)


def test_a_newly_imported_item_is_served_at_once(open_engine: Engine) -> None:
    assert open_engine.catalog_repo is not None
    with TestClient(create_app(open_engine, with_gradio=False)) as c:
        open_engine.catalog_repo.upsert([CatalogItem("movie:new-one", "movie", "A New One", year=2026)])
        r = c.get("/api/v1/items/movie:new-one")
        assert r.status_code == 200 and r.json()["title"] == "A New One"
        assert c.get("/api/v1/items/movie:%00").json()["code"] == "unknown_item"


def test_uploads_are_refused_and_every_body_is_bounded(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, max_request_bytes=2048)
    with TestClient(create_app(engine)) as c:
        r = c.post("/chat/gradio_api/upload", files={"files": ("x.html", b"<script>alert(1)</script>", "text/html")})
        assert r.status_code == 403 and r.json()["code"] == "uploads_disabled"
        for method, path in (("POST", "/chat/gradio_api/queue/join"), ("PUT", "/api/v1/sessions"),
                             ("GET", "/api/v1/items/x"), ("DELETE", "/chat/")):
            r = c.request(method, path, content=b"x" * 5000)
            assert r.status_code == 413 and r.json()["code"] == "too_large", (method, path)


def test_pages_allow_scripts_images_and_fetches_from_this_server_only(open_engine: Engine) -> None:
    with TestClient(create_app(open_engine)) as c:
        for path in ("/chat/", "/widget", "/demo", "/docs", "/api/v1/items/x"):
            csp = c.get(path).headers["content-security-policy"]
            assert "img-src 'self' data: blob:;" in csp and "connect-src 'self';" in csp, path
            assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
            assert ("'unsafe-inline'" in csp.split("script-src")[1]) == path.startswith(("/chat", "/docs")), path
            assert ("'unsafe-eval'" in csp) == path.startswith("/chat"), path


class _Request:
    """What the chat page's handlers read from Gradio's request: the client address and the cookies."""

    def __init__(self, host: str, cookies: dict[str, str] | None = None) -> None:
        self.client = type("Client", (), {"host": host})()
        self.cookies = cookies or {}


def test_the_chat_page_counts_turns_and_new_sessions_like_the_api(tmp_path: Path) -> None:
    import gradio as gr

    from chat.sessions import SessionService
    from ui.web import apply_action, respond

    engine = make_engine(tmp_path, rate_limit_per_minute=3, new_sessions_per_minute=2)
    sessions = SessionService(engine)
    session = None
    for text in ("a sci-fi movie", "more"):
        *_, last = respond(sessions, text, [], session, _Request("10.0.0.1"))
        session = last[3]
    apply_action(sessions, "like:movie:inception-2010", session)  # the third request of the minute
    with pytest.raises(gr.Error, match="Too many requests"):
        list(respond(sessions, "and more", [], session, _Request("10.0.0.1")))
    with pytest.raises(gr.Error, match="Too many requests"):
        apply_action(sessions, "like:movie:alien-1979", session)
    assert len(engine.conversations.turns(session["session_id"])) == 2
    assert engine.conversations.load_state(session["session_id"])["liked"] == ["movie:inception-2010"]
    for _ in range(2):
        list(respond(sessions, "hi", [], None, _Request("10.0.0.2")))
    with pytest.raises(gr.Error, match="Too many requests"):
        list(respond(sessions, "hi", [], None, _Request("10.0.0.2")))  # a third new session from this address
    visitor = engine.identities.visitor_cookie("anon-AAAAAAAAAAAAAAAA")
    *_, last = respond(sessions, "hi", [], None, _Request("10.0.0.3", {VISITOR_COOKIE: visitor}))
    assert engine.conversations.info(last[3]["session_id"]).user_id == "anon-AAAAAAAAAAAAAAAA"
    *_, last = respond(sessions, "hi", [], None, _Request("10.0.0.3", {VISITOR_COOKIE: "customer-42"}))
    assert engine.conversations.info(last[3]["session_id"]).user_id.startswith("anon-")
    assert engine.conversations.info(last[3]["session_id"]).user_id != "customer-42"
