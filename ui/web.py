"""The Gradio chat page: streamed replies, cards with like / dislike / seen, a "your taste" panel.

The page keeps its session id and token in the browser (gr.BrowserState, i.e. localStorage), so a
reload or a server restart continues the same conversation from the database.
"""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Iterator
from typing import Any

from chat.engine import Delta, Recommendation, TurnResult
from chat.identity import VISITOR_COOKIE
from chat.languages.names import genre_label, language_label
from chat.profiles import FIELDS, Profile
from chat.sessions import SessionService
from chat.state import DialogueState
from common.errors import ConciergeError

log = logging.getLogger(__name__)

# Gradio and huggingface_hub phone home unless told not to; set before gradio is imported.
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "GRADIO_SSR_MODE": "False", "DO_NOT_TRACK": "1"}
for _key, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_key, _value)

# imported at module level (this module is loaded only to serve the page) so that Gradio can resolve
# the `gr.Request` annotations below and pass the request in
import gradio as gr  # noqa: E402

# BrowserState encrypts what it keeps in localStorage with this key. The key must survive a server
# restart (a random one would lose every conversation); the real protection is the session token.
BROWSER_KEY = "concierge-browser-state-v1"

CSS = """
.rec-cards { display: flex; flex-wrap: wrap; gap: 10px; }
.rec-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
            width: 260px; background: var(--background-fill-secondary); }
.rec-card .rec-title { font-weight: 700; font-size: 1.05em; }
.rec-card .rec-meta { color: var(--body-text-color-subdued); font-size: 0.9em; margin: 2px 0 6px; }
.rec-actions { display: flex; gap: 6px; margin-top: 8px; }
.rec-actions button, .taste-chip button { border: 1px solid var(--border-color-primary); border-radius: 6px;
            padding: 2px 8px; background: var(--background-fill-primary); cursor: pointer; }
.rec-actions button[aria-pressed="true"] { background: var(--color-accent-soft); font-weight: 700; }
#taste h4 { margin: 8px 0 4px; }
.taste-chip { display: inline-flex; align-items: center; gap: 4px; margin: 2px 4px 2px 0; padding: 2px 8px;
              border-radius: 12px; background: var(--background-fill-secondary); }
.taste-chip button { padding: 0 6px; }
.cc-hidden { display: none !important; }
"""

# Card and taste buttons carry data-cc-action; a click stores it and presses the hidden apply button,
# whose js hook hands the action to Python (no inline handlers in the generated HTML).
HEAD = """
<script>
document.addEventListener("click", function (ev) {
  var el = ev.target && ev.target.closest ? ev.target.closest("[data-cc-action]") : null;
  if (!el) return;
  ev.preventDefault();
  window.__ccAction = el.getAttribute("data-cc-action");
  var go = document.getElementById("cc-apply");
  if (go) go.click();
});
</script>
"""
_APPLY_JS = "(action, ...rest) => [window.__ccAction || '', ...rest]"

# words, not emoji: on a machine without an emoji font those render as empty boxes
_LABELS = {"like": "Like", "dislike": "Not for me", "seen": "Seen it"}
_TASTE = {"liked": "Liked", "disliked": "Not for me", "seen": "Already seen", "genres_wanted": "Genres you want",
          "genres_avoided": "Genres you avoid", "people_avoided": "People you avoid",
          "languages_avoided": "Languages you avoid"}


def card_html(rec: Recommendation, marks: dict[str, str] | None = None) -> str:
    """One card: the item and its buttons (its reason is in the reply above it, said once); every catalog string is
    escaped, so titles or descriptions with markup show as text."""
    title = html.escape(rec.title)
    original = (f" <span class='rec-original'>{html.escape(rec.original_title)}</span>"
                if rec.original_title and rec.original_title != rec.title else "")
    year = f" ({rec.year})" if rec.year else ""
    meta = " · ".join(x for x in (html.escape(", ".join(rec.creators[:2])), html.escape(", ".join(rec.genres)),
                                  *(html.escape(f) for f in rec.facts)) if x)
    item = html.escape(rec.item_id, quote=True)
    mark = (marks or {}).get(rec.item_id)
    buttons = "".join(
        f"<button type='button' class='rec-{kind}' data-cc-action='{kind}:{item}' "
        f"aria-pressed='{'true' if mark == kind else 'false'}'>{label}</button>" for kind, label in _LABELS.items())
    return (f"<div class='rec-card' data-item-id='{item}'>"
            f"<div class='rec-title'>{title}{year}{original}</div><div class='rec-meta'>{meta}</div>"
            f"<div class='rec-actions'>{buttons}</div></div>")


def cards_html(recs: list[Recommendation], marks: dict[str, str] | None = None) -> str:
    return "<div class='rec-cards'>" + "".join(card_html(r, marks) for r in recs) + "</div>"


def marks_of(state: DialogueState) -> dict[str, str]:
    """Which button of each card is pressed, from the session's state."""
    marks = {i: "seen" for i in state.seen}
    marks.update({i: "dislike" for i in state.disliked})
    marks.update({i: "like" for i in state.liked})
    return marks


def taste_html(sessions: SessionService, profile: Profile, wishes: list[tuple[str, str]] | None = None) -> str:
    """The "your taste" panel: each extracted preference with a button that removes it, and what this conversation
    asks of the catalog's attributes (`wishes`: "under $100", "blue or navy")."""
    parts = ["<div class='taste'>"]
    empty = not wishes
    if wishes:
        chips = [f"<span class='taste-chip' data-field='wish'>{html.escape(label)}<button type='button' "
                 f"data-cc-action='{html.escape(f'drop:{name}', quote=True)}' aria-label='remove'>×</button></span>"
                 for name, label in wishes]
        parts.append("<h4>You asked for</h4>" + "".join(chips))
    for field in FIELDS:
        values = getattr(profile, field)
        if not values:
            continue
        empty = False
        chips = []
        for value in values:
            found = sessions.items([value]) if field in ("liked", "disliked", "seen") else []
            item = found[0] if found else None
            label = (f"{item.title} ({item.year})" if item and item.year else item.title if item else
                     language_label(value, "en") if field == "languages_avoided" else
                     genre_label(value, "en") if field.startswith("genres_") else value)
            action = html.escape(f"remove:{field}:{value}", quote=True)
            chips.append(f"<span class='taste-chip' data-field='{field}'>{html.escape(label)}"
                         f"<button type='button' data-cc-action='{action}' aria-label='remove'>×</button></span>")
        parts.append(f"<h4>{_TASTE[field]}</h4>" + "".join(chips))
    if empty:
        parts.append("<p>Nothing yet: tell me what you like, or use the buttons on a card.</p>")
    return "".join(parts) + "</div>"


def open_session(sessions: SessionService, request: Any) -> dict[str, str]:
    """A new session for this browser: counted against its address's limit, owned by the visitor the signed
    cookie names (a fresh anonymous visitor without one)."""
    opened = sessions.open(request.client.host if request is not None and request.client else None,
                           cookie=request.cookies.get(VISITOR_COOKIE) if request is not None else None)
    return {"session_id": opened.session_id, "token": opened.token}


def as_text(text: str) -> str:
    """Chat text as the Chatbot shows it: markup escaped, line breaks kept (markdown is off, so a link or an
    image written in a message or a catalog record stays text)."""
    return html.escape(text).replace("\n", "<br>")


def _valid(sessions: SessionService, saved: dict[str, Any] | None) -> dict[str, str] | None:
    """The saved {session_id, token} if it still opens its session (deleted, expired or tampered: None)."""
    if not saved or not saved.get("session_id") or not saved.get("token"):
        return None
    if not sessions.is_open(str(saved["session_id"]), str(saved["token"])):
        return None
    return {"session_id": str(saved["session_id"]), "token": str(saved["token"])}


def history_of(sessions: SessionService, session_id: str) -> tuple[list[dict[str, str]], list[Recommendation]]:
    """The stored conversation as chat messages, plus the cards of its latest recommending turn."""
    history: list[dict[str, str]] = []
    last: list[Recommendation] = []
    for t, shown in sessions.turns(session_id):
        history += [{"role": "user", "content": as_text(t.user_text)},
                    {"role": "assistant", "content": as_text(t.reply_text)}]
        last = shown or last
    return history, last


def _views(sessions: SessionService, session_id: str, recs: list[Recommendation]) -> tuple[str, str]:
    _, profile = sessions.profile(session_id)
    return ((cards_html(recs, marks_of(sessions.state(session_id))) if recs else ""),
            taste_html(sessions, profile, sessions.wishes(session_id)))


def respond(sessions: SessionService, message: str, history: list[dict[str, Any]], session: dict[str, str] | None,
            request: Any = None) -> Iterator[tuple[Any, ...]]:
    """Stream one turn: (history, cards, taste, session, saved session, textbox value)."""
    history = list(history or [])
    try:
        session = _valid(sessions, session) or open_session(sessions, request)
        sid = session["session_id"]
        sessions.check(sid, session["token"])  # the same per-session limit as the API's
        events = sessions.turn(sid, message)
        history.append({"role": "user", "content": as_text(message)})
        history.append({"role": "assistant", "content": ""})
        text = ""
        for event in events:
            if isinstance(event, Delta):
                text += event.text
                history[-1] = {"role": "assistant", "content": as_text(text)}
                yield history, gr.skip(), gr.skip(), session, session, ""
            elif isinstance(event, TurnResult):
                if not event.stored:
                    history = history[:-2] + [{"role": "assistant", "content": as_text(event.reply)}]
                cards, taste = _views(sessions, sid, event.recommendations)
                yield history, cards if event.recommendations else gr.skip(), taste, session, session, ""
    except ConciergeError as exc:
        raise gr.Error(str(exc)) from None


def apply_action(sessions: SessionService, action: str, session: dict[str, str] | None) -> tuple[str, str]:
    """A card or taste-panel button: 'like:<item>', 'dislike:<item>', 'seen:<item>', 'remove:<field>:<value>',
    'drop:<attribute>' (a wish on the catalog's attributes)."""
    session = _valid(sessions, session)
    if session is None or ":" not in action:
        return gr.skip(), gr.skip()
    sid = session["session_id"]
    kind, _, rest = action.partition(":")
    try:
        sessions.check(sid, session["token"])
        if kind in ("like", "dislike", "seen"):
            sessions.feedback(sid, rest, kind)  # type: ignore[arg-type]
        elif kind == "remove":
            field, _, value = rest.partition(":")
            if field in FIELDS:
                sessions.edit_profile(sid, {field: [value]}, {})  # type: ignore[dict-item]
        elif kind == "drop":
            sessions.drop_wish(sid, rest)
    except ConciergeError as exc:
        raise gr.Error(str(exc)) from None
    _, recs = history_of(sessions, sid)
    return _views(sessions, sid, recs)


def build(sessions: SessionService, concurrency: int) -> Any:
    """The Blocks app (shared by every browser session); `concurrency`: turns served at once."""
    with gr.Blocks(title="Concierge", analytics_enabled=False) as demo:
        gr.Markdown("## Concierge\nTell me a movie or book you loved, a genre, or a mood. "
                    "告诉我你喜欢的电影、书或类型。")
        saved = gr.BrowserState(None, storage_key="concierge-session", secret=BROWSER_KEY)
        session = gr.State(None)
        with gr.Row():
            with gr.Column(scale=3):
                # no markdown, no LaTeX: messages and catalog text are shown as text (see as_text)
                chatbot = gr.Chatbot(elem_id="chatbot", label="Concierge", height=420, render_markdown=False,
                                     latex_delimiters=[])
                cards = gr.HTML(elem_id="cards")
                with gr.Row():
                    box = gr.Textbox(elem_id="msg", placeholder="e.g. something like Inception but lighter",
                                     show_label=False, scale=8, autofocus=True)
                    send = gr.Button("Send", elem_id="send", variant="primary", scale=1)
            with gr.Column(scale=1):
                gr.Markdown("### Your taste")
                taste = gr.HTML(taste_html(sessions, Profile()), elem_id="taste")
                new = gr.Button("New conversation", elem_id="new-chat")
        action = gr.Textbox(elem_id="cc-action", elem_classes=["cc-hidden"], show_label=False, container=False)
        apply = gr.Button("apply", elem_id="cc-apply", elem_classes=["cc-hidden"])

        def on_message(message: str, history: list[dict[str, Any]], state: dict[str, str] | None,
                       request: gr.Request) -> Iterator[Any]:
            yield from respond(sessions, message, history, state, request)

        def on_load(stored: dict[str, Any] | None) -> tuple[Any, ...]:
            state = _valid(sessions, stored)
            if state is None:
                return None, [], "", taste_html(sessions, Profile())
            history, recs = history_of(sessions, state["session_id"])
            cards_view, taste_view = _views(sessions, state["session_id"], recs)
            return state, history, cards_view, taste_view

        def on_new(request: gr.Request) -> tuple[Any, ...]:
            try:
                state = open_session(sessions, request)
            except ConciergeError as exc:
                raise gr.Error(str(exc)) from None
            _, profile = sessions.profile(state["session_id"])
            return state, state, [], "", taste_html(sessions, profile)

        outputs = [chatbot, cards, taste, session, saved, box]
        limit = concurrency
        box.submit(on_message, [box, chatbot, session], outputs, concurrency_limit=limit)
        send.click(on_message, [box, chatbot, session], outputs, concurrency_limit=limit)
        apply.click(lambda a, s: apply_action(sessions, a, s), [action, session], [cards, taste], js=_APPLY_JS)
        new.click(on_new, None, [session, saved, chatbot, cards, taste])
        demo.load(on_load, [saved], [session, chatbot, cards, taste])
    return demo


def theme() -> Any:
    # The bundled SemiBold face is a 5 KB subset; the full Bold face keeps headings in one font, offline.
    return gr.themes.Default(font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)),
                                   "ui-sans-serif", "system-ui", "sans-serif"])
