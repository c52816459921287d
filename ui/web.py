"""The Gradio chat page: streamed replies plus recommendation cards, one session per browser tab."""

from __future__ import annotations

import html
import logging
import os
from collections.abc import Iterator
from typing import Any

from chat.engine import Delta, Engine, Recommendation, TurnResult, shared_engine
from chat.settings import Settings
from storage.errors import ConciergeError

log = logging.getLogger(__name__)

# Gradio and huggingface_hub phone home unless told not to; set before gradio is imported.
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "GRADIO_SSR_MODE": "False", "DO_NOT_TRACK": "1"}

CSS = """
.rec-cards { display: flex; flex-wrap: wrap; gap: 10px; }
.rec-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 12px;
            width: 260px; background: var(--background-fill-secondary); }
.rec-card .rec-title { font-weight: 700; font-size: 1.05em; }
.rec-card .rec-meta { color: var(--body-text-color-subdued); font-size: 0.9em; margin: 2px 0 6px; }
.rec-card .rec-reason { font-style: italic; font-size: 0.92em; }
"""


def card_html(rec: Recommendation) -> str:
    """One card; every catalog string is escaped, so titles or descriptions with markup show as text."""
    title = html.escape(rec.title)
    original = (f" <span class='rec-original'>{html.escape(rec.original_title)}</span>"
                if rec.original_title and rec.original_title != rec.title else "")
    year = f" ({rec.year})" if rec.year else ""
    meta = " · ".join(x for x in (html.escape(", ".join(rec.creators[:2])), html.escape(", ".join(rec.genres)))
                      if x)
    return (f"<div class='rec-card' data-item-id='{html.escape(rec.item_id, quote=True)}'>"
            f"<div class='rec-title'>{title}{year}{original}</div><div class='rec-meta'>{meta}</div>"
            f"<div class='rec-reason'>{html.escape(rec.reason)}</div></div>")


def cards_html(recs: list[Recommendation]) -> str:
    return "<div class='rec-cards'>" + "".join(card_html(r) for r in recs) + "</div>"


def respond(engine: Engine, message: str, history: list[dict[str, Any]], session_id: str | None
            ) -> Iterator[tuple[list[dict[str, Any]], str, str | None, str]]:
    """Stream one turn into the chat: (history, cards html, session id, textbox value)."""
    import gradio as gr

    history = list(history or [])
    try:
        if not session_id:
            session_id = engine.new_session()
        history.append({"role": "user", "content": message})
        history.append({"role": "assistant", "content": ""})
        text, cards = "", ""
        for event in engine.turn(session_id, message):
            if isinstance(event, Delta):
                text += event.text
                history[-1] = {"role": "assistant", "content": text}
                yield history, gr.skip(), session_id, ""
            elif isinstance(event, TurnResult):
                if not event.stored:
                    history = history[:-2] + [{"role": "assistant", "content": event.reply}]
                cards = cards_html(event.recommendations)
                yield history, cards if event.recommendations else gr.skip(), session_id, ""
    except ConciergeError as exc:
        raise gr.Error(str(exc)) from None


def build(engine: Engine) -> Any:
    """The Blocks app for an engine (shared by every browser session)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    import gradio as gr

    with gr.Blocks(title="Concierge", analytics_enabled=False) as demo:
        gr.Markdown("## Concierge\nTell me a movie or book you loved, a genre, or a mood. "
                    "告诉我你喜欢的电影、书或类型。")
        session = gr.State(None)
        chatbot = gr.Chatbot(elem_id="chatbot", label="Concierge", height=420)
        cards = gr.HTML(elem_id="cards")
        with gr.Row():
            box = gr.Textbox(elem_id="msg", placeholder="e.g. something like Inception but lighter",
                             show_label=False, scale=8, autofocus=True)
            send = gr.Button("Send", elem_id="send", variant="primary", scale=1)

        def on_message(message: str, history: list[dict[str, Any]], session_id: str | None) -> Iterator[Any]:
            yield from respond(engine, message, history, session_id)

        outputs = [chatbot, cards, session, box]
        box.submit(on_message, [box, chatbot, session], outputs, concurrency_limit=engine.settings.concurrency)
        send.click(on_message, [box, chatbot, session], outputs, concurrency_limit=engine.settings.concurrency)
    return demo


def theme() -> Any:
    import gradio as gr

    # The bundled SemiBold face is a 5 KB subset; the full Bold face keeps headings in one font, offline.
    return gr.themes.Default(font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 700)),
                                   "ui-sans-serif", "system-ui", "sans-serif"])


def run(settings: Settings, host: str, port: int) -> None:
    """Load the engine (preparing models on first run), then serve until interrupted."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    logging.getLogger("chat").setLevel(logging.INFO)
    print("Preparing models and catalog (the first run builds the cache, about a minute)...", flush=True)
    engine = shared_engine(settings)
    demo = build(engine)
    demo.queue(default_concurrency_limit=settings.concurrency)
    print(f"Concierge is ready: http://{host}:{port}", flush=True)
    demo.launch(server_name=host, server_port=port, share=False, theme=theme(), css=CSS, footer_links=[],
                show_error=True, quiet=True)

HEAD = ""
