"""The web product in a real browser (Debian chromium), served by `concierge serve` with the fake models.

Every test records the requests the pages make; none may leave loopback.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from chat.catalog import import_default_catalog, sync_embeddings
from chat.engine import Engine
from chat.identity import sign_user_id
from retrieval.embedders.hashing import HashingEmbedder
from storage.engine import make_engine, migrate, session_factory
from storage.records import CatalogItem
from storage.repository import CatalogRepository
from tests.browser import Browser, Server, StaticSite, free_port

pytestmark = pytest.mark.browser

SECRET = "web-test-site-secret-0123456789"
FAKES = {"embedder": "hashing", "lm": "scripted", "lm_extraction": "never", "identity_secret": SECRET}
# markdown that would link out and fetch an image from another site if it were rendered
PHISH = "[x](https://evil.example/phish) ![](https://evil.example/pixel.png) $$x^2$$"
EVIL_TITLE = "<img src=x onerror=\"window.__xss='title'\">Zyxwvut <script>window.__xss='script'</script>"
EVIL = CatalogItem("movie:evil", "movie", EVIL_TITLE, year=2001, genres=("sci-fi",), language="en",
                   description=f"{PHISH} zyxwvut quantum llama <a href=\"javascript:window.__xss='link'\">click</a>")
EVIL_MESSAGE = f"<img src=x onerror=\"window.__xss='msg'\"> zyxwvut quantum llama <b>bold</b> {PHISH}"


def _seed_catalog(data_dir: Path) -> None:
    """The default catalog plus one item whose title and description carry markup."""
    engine = make_engine(f"sqlite:///{data_dir / 'concierge.db'}")
    migrate(engine)
    repo = CatalogRepository(session_factory(engine))
    import_default_catalog(repo)
    repo.upsert([EVIL])
    sync_embeddings(repo, HashingEmbedder(), show_progress=False)
    engine.dispose()


@pytest.fixture(scope="module")
def site_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, site_port: int) -> Iterator[Server]:
    if not shutil.which("chromium"):
        pytest.fail("Debian chromium is missing: `apt-get install chromium` (.ci/run does this)")
    data = tmp_path_factory.mktemp("web")
    _seed_catalog(data)
    srv = Server(data, free_port(), tmp_path_factory.mktemp("log") / "serve.log",
                 embed_origins=f"http://127.0.0.1:{site_port}", **FAKES).start()
    yield srv
    srv.stop()


def api(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def signed(user_id: str) -> dict[str, Any]:
    expires = int(time.time()) + 3600
    return {"user_id": user_id, "user_expires": expires, "user_signature": sign_user_id(SECRET, user_id, expires)}


def open_chat(browser: Browser, url: str) -> Any:
    page = browser.page()
    page.goto(url + "/chat/", wait_until="load")
    page.locator("#msg textarea").wait_for(timeout=60_000)
    return page


def send(page: Any, text: str, cards_before: list[str] | None = None) -> list[str]:
    """Send a message on the Gradio page and wait for the new cards; returns their item ids."""
    page.locator("#msg textarea").fill(text)
    page.locator("#msg textarea").press("Enter")
    # the ids are read where the wait ends: under load the cards may be drawn again right after
    handle = page.wait_for_function(
        "old => { const ids = [...document.querySelectorAll('#cards .rec-card')].map(e => e.dataset.itemId);"
        " return ids.length === 3 && ids.join() !== old ? ids : null; }", arg=",".join(cards_before or []),
        timeout=60_000)
    return list(handle.json_value())


def card_ids(page: Any) -> list[str]:
    return [c.get_attribute("data-item-id") for c in page.locator("#cards .rec-card").all()]


def test_like_one_card_dislike_another_and_the_next_turn_reflects_both(server: Server) -> None:
    with Browser() as browser:
        page = open_chat(browser, server.url)
        first = send(page, "something thrilling")
        liked, disliked = first[2], first[1]
        # each reason is said once, in the reply; the cards carry the item and its buttons, in words (no emoji font)
        reply = page.locator("#chatbot").inner_text()
        cards = page.locator("#cards").inner_text()
        reasons = [line.split(" — ", 1)[1] for line in reply.splitlines() if " — " in line]
        assert len(reasons) == 3 and not [r for r in reasons if r[:40] in cards], (reasons, cards)
        labels = page.locator(f".rec-card[data-item-id='{liked}'] button").all_inner_texts()
        assert labels == ["Like", "Not for me", "Seen it"]
        page.locator(f".rec-card[data-item-id='{liked}'] button.rec-like").click()
        page.locator("#taste .taste-chip[data-field=liked]").wait_for(timeout=30_000)
        page.locator(f".rec-card[data-item-id='{disliked}'] button.rec-dislike").click()
        page.locator("#taste .taste-chip[data-field=disliked]").wait_for(timeout=30_000)
        assert page.locator(f".rec-card[data-item-id='{liked}'] button.rec-like").get_attribute(
            "aria-pressed") == "true"
        second = send(page, "more like that", first)
        taste = page.locator("#taste").inner_text()
        # a new conversation of the same (cookie) user starts empty but keeps the profile
        page.locator("#new-chat").click()
        page.wait_for_function("() => !document.querySelector('#cards .rec-card') && "
                               "!document.querySelector('#chatbot [data-testid=user]')", timeout=30_000)
        assert page.locator("#taste .taste-chip[data-field=liked]").count() == 1
        third = send(page, "hello again")
        assert liked not in third and disliked not in third  # the profile came along
    # the same conversation through the API, with and without the two clicks
    with_fb = api(server.url, "POST", "/api/v1/sessions")
    without = api(server.url, "POST", "/api/v1/sessions")
    for s in (with_fb, without):
        api(server.url, "POST", f"/api/v1/sessions/{s['session_id']}/messages", {"text": "something thrilling"},
            s["token"])
    for item, kind in ((liked, "like"), (disliked, "dislike")):
        api(server.url, "POST", f"/api/v1/sessions/{with_fb['session_id']}/feedback", {"item_id": item, "kind": kind},
            with_fb["token"])
    expect = api(server.url, "POST", f"/api/v1/sessions/{with_fb['session_id']}/messages",
                 {"text": "more like that"}, with_fb["token"])
    control = api(server.url, "POST", f"/api/v1/sessions/{without['session_id']}/messages",
                  {"text": "more like that"}, without["token"])
    assert second == [r["item_id"] for r in expect["recommendations"]]
    assert second != [r["item_id"] for r in control["recommendations"]]  # both clicks changed the turn
    assert liked in expect["state"]["liked"] and disliked in expect["state"]["disliked"]
    assert "Liked" in taste and "Not for me" in taste
    assert browser.external == []


def test_widget_on_another_origin_keeps_the_conversation_across_reloads(server: Server, site_port: int) -> None:
    user = signed("shopper-1")  # what the shop's backend puts into its page
    host = f"""<!doctype html><html><body><h1>Partner shop</h1>
<script src="{server.url}/widget.js" data-title="Shop helper" data-color="#0f766e" data-lang="en"
        data-user-id="shopper-1" data-user-expires="{user['user_expires']}"
        data-user-signature="{user['user_signature']}"></script></body></html>"""
    site = StaticSite({"shop.html": host}, port=site_port)  # the origin the server's settings allow
    try:
        with Browser() as browser:
            page = browser.page()
            page.goto(f"http://127.0.0.1:{site_port}/shop.html", wait_until="load")
            assert page.locator("#concierge-bubble svg").count() == 1  # drawn, not an emoji
            page.locator("#concierge-bubble").click()
            frame = page.frame_locator("#concierge-frame")
            # the widget script sets the title after the frame loads: wait for it, then read it
            expect(frame.locator("#w-title")).to_have_text("Shop helper", timeout=30_000)
            assert frame.locator("#w-title").inner_text() == "Shop helper"
            src = page.locator("#concierge-frame").get_attribute("src")
            assert "shopper" not in src and "signature" not in src  # the user id never travels in a URL
            frame.locator("#w-msg").fill("a cozy mystery book")
            frame.locator("#w-send").click()
            frame.locator(".rec-card").nth(2).wait_for(timeout=60_000)
            titles = frame.locator(".rec-card .rec-title").all_inner_texts()
            reply = frame.locator(".w-bot").last.inner_text()
            assert frame.locator(".rec-card").first.locator("button").all_inner_texts() == ["Like", "Not for me",
                                                                                             "Seen it"]
            frame.locator(".rec-card").first.locator("button.rec-like").click()
            frame.locator(".rec-card button.rec-like[aria-pressed=true]").wait_for(timeout=30_000)
            page.reload(wait_until="load")
            frame = page.frame_locator("#concierge-frame")  # reopened: it was open before the reload
            frame.locator(".rec-card").nth(2).wait_for(timeout=60_000)
            assert frame.locator(".w-user").all_inner_texts() == ["a cozy mystery book"]
            assert frame.locator(".w-bot").last.inner_text() == reply
            assert frame.locator(".rec-card .rec-title").all_inner_texts() == titles
            frame.locator("#w-msg").fill("another one")
            frame.locator("#w-send").click()
            frame.locator(".w-bot").nth(1).wait_for(timeout=60_000)
        assert browser.external == []
        profile = api(server.url, "POST", "/api/v1/sessions", signed("shopper-1"))
        assert profile["identity"] == "signed"
        liked = api(server.url, "GET", f"/api/v1/sessions/{profile['session_id']}/profile", token=profile["token"])
        assert [x["title"] for x in liked["liked"]] == [titles[0].rsplit(" (", 1)[0]]
        # the same page from an origin that is not in CONCIERGE_EMBED_ORIGINS: the browser refuses the frame
        with Browser() as other:
            page = other.page()
            page.goto(f"http://localhost:{site_port}/shop.html", wait_until="load")
            page.locator("#concierge-bubble").click()
            frame = page.locator("#concierge-frame").element_handle(timeout=30_000).content_frame()
            frame.wait_for_load_state("load", timeout=30_000)
            assert frame.locator("#w-msg").count() == 0
        assert other.external == []
    finally:
        site.close()


def test_markup_in_messages_and_catalog_is_shown_as_text(server: Server, site_port: int) -> None:
    with Browser() as browser:
        page = open_chat(browser, server.url)
        ids = send(page, EVIL_MESSAGE)
        assert "movie:evil" in ids
        card = page.locator(".rec-card[data-item-id='movie:evil']")
        assert card.locator(".rec-title").inner_text().startswith(EVIL_TITLE)
        chat = page.locator("#chatbot").inner_text()
        assert "<img src=x onerror=" in chat and "<b>bold</b>" in chat and "<script>" in chat
        card.locator("button.rec-like").click()
        page.locator("#taste .taste-chip[data-field=liked]").wait_for(timeout=30_000)
        assert EVIL_TITLE in page.locator("#taste").inner_text()
        assert page.evaluate("window.__xss") is None
        assert page.locator("img[src=x], #chatbot b, #cards script, #taste script").count() == 0
        assert "[x](https://evil.example/phish)" in chat and "$$x^2$$" in chat  # markdown stays text
        assert page.locator("a[href*='evil.example'], img[src*='evil.example'], .katex").count() == 0

        browser.ctx.clear_cookies()  # another visitor: this one's profile already holds the item
        page.goto(server.url + "/demo", wait_until="load")  # the widget, on the server's own demo page
        page.locator("#concierge-bubble").click()
        frame = page.frame_locator("#concierge-frame")
        frame.locator("#w-msg").fill(EVIL_MESSAGE)
        frame.locator("#w-send").click()
        frame.locator(".rec-card").nth(2).wait_for(timeout=60_000)
        assert frame.locator(".w-user").first.inner_text() == EVIL_MESSAGE
        titles = frame.locator(".rec-card .rec-title").all_inner_texts()
        assert any(t.startswith(EVIL_TITLE) for t in titles)
        assert frame.locator("img, b, a, .rec-card script").count() == 0
        assert page.frames[-1].evaluate("window.__xss") is None and page.evaluate("window.__xss") is None
    assert browser.external == []


def test_the_session_continues_after_a_server_restart(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data", free_port(), tmp_path / "serve.log", **FAKES).start()
    try:
        with Browser() as browser:
            page = open_chat(browser, srv.url)
            first = send(page, "I want a sci-fi movie")
            api_session = api(srv.url, "POST", "/api/v1/sessions", signed("restart-user"))
            api(srv.url, "POST", f"/api/v1/sessions/{api_session['session_id']}/messages", {"text": "comedy please"},
                api_session["token"])
            srv.stop()
            srv.start()
            page.reload(wait_until="load")
            page.wait_for_function("() => document.querySelectorAll('#cards .rec-card').length === 3",
                                   timeout=60_000)
            assert card_ids(page) == first
            assert "I want a sci-fi movie" in page.locator("#chatbot").inner_text()
            second = send(page, "more please", first)
            assert not set(second) & set(first)  # the restored state still knows what was shown
            assert page.locator("#chatbot [data-testid=user]").count() == 2
        assert browser.external == []
        turns = api(srv.url, "GET", f"/api/v1/sessions/{api_session['session_id']}/turns", token=api_session["token"])
        assert [t["user"] for t in turns["turns"]] == ["comedy please"]
        more = api(srv.url, "POST", f"/api/v1/sessions/{api_session['session_id']}/messages", {"text": "more"},
                   api_session["token"])
        assert more["state"]["turns"] == 2 and more["state"]["genres_wanted"] == ["comedy"]
    finally:
        srv.stop()


def test_the_taste_panel_lists_people_and_languages_ruled_out(engine: Engine) -> None:
    from chat.profiles import Profile
    from chat.sessions import SessionService
    from ui.web import taste_html

    sessions = SessionService(engine)
    html_out = taste_html(sessions, Profile(people_avoided=["Christopher Nolan"], languages_avoided=["zh"]))
    assert "People you avoid" in html_out and "Christopher Nolan" in html_out
    assert "Languages you avoid" in html_out and ">Chinese<" in html_out
    assert "remove:languages_avoided:zh" in html_out and "remove:people_avoided:Christopher Nolan" in html_out
    assert ">romcoms<" in taste_html(sessions, Profile(genres_avoided=["comedy+romance"]))


def test_the_shop_page_shows_each_cards_price_from_the_record(tmp_path: Path) -> None:
    srv = Server(tmp_path / "shop", free_port(), tmp_path / "shop.log", catalog="shop", **FAKES).start()
    try:
        with Browser() as browser:
            page = open_chat(browser, srv.url)
            ids = send(page, "a waterproof jacket under $100")
            metas = [page.locator(f"#cards .rec-card[data-item-id='{i}'] .rec-meta").inner_text() for i in ids]
            for item_id, meta in zip(ids, metas, strict=True):
                assert item_id.startswith("product:") and "$" in meta
                price = float(meta.split("$", 1)[1].split()[0].rstrip(",").replace(",", ""))
                assert price < 100, meta
            # what was asked is listed in the panel, and its × forgets it
            chip = page.locator("#taste .taste-chip[data-field=wish]", has_text="under $100")
            chip.wait_for(timeout=30_000)
            assert page.locator("#taste .taste-chip[data-field=wish]", has_text="waterproof").count() == 1
            chip.locator("button").click()
            page.wait_for_function("() => ![...document.querySelectorAll('#taste .taste-chip')]"
                                   ".some(c => c.textContent.includes('under $100'))", timeout=30_000)
            assert page.locator("#taste .taste-chip[data-field=wish]", has_text="waterproof").count() == 1
    finally:
        srv.stop()
