"""One FastAPI process: the REST/SSE API, the widget, the offline API docs and the Gradio page.

Nothing about a conversation lives only in this process (state, tokens, rate windows and profiles
are in the database), so any number of these servers can run against one database.
"""

from __future__ import annotations

import logging
import os
import secrets
from http.cookies import SimpleCookie
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.engine import Engine, shared_engine
from chat.settings import Settings
from ui.api import errors
from ui.api.routes import USER_COOKIE, router
from ui.widget import router as widget_router

log = logging.getLogger(__name__)

GRADIO_PATH = "/chat"
# pages that get the anonymous user id cookie when they have none
_PAGES = ("/chat", "/widget", "/demo")


class SecurityHeaders:
    """CSP frame-ancestors (who may embed us) on every response; an anonymous user id cookie on pages."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        self.app = app
        self.csp = ("frame-ancestors " + " ".join(("'self'", *origins))).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        needs_uid = path.startswith(_PAGES) and scope.get("method") == "GET" and not _has_uid(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", self.csp))
                headers.append((b"x-content-type-options", b"nosniff"))
                ctype = dict(headers).get(b"content-type", b"")
                if needs_uid and ctype.startswith(b"text/html"):
                    uid = "anon-" + secrets.token_urlsafe(12)
                    headers.append((b"set-cookie", f"{USER_COOKIE}={uid}; Path=/; Max-Age=31536000; "
                                                    "HttpOnly; SameSite=Lax".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _has_uid(scope: Scope) -> bool:
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            if USER_COOKIE in jar:
                return True
    return False


def create_app(engine: Engine, with_gradio: bool = True) -> FastAPI:
    """The whole web product around one engine."""
    settings = engine.settings
    app = FastAPI(title="Concierge API", version="1", docs_url=None, redoc_url=None,
                  description="A conversational recommender. Start a session with POST /api/v1/sessions, then send "
                              "every call on it with 'Authorization: Bearer <token>'.")
    app.state.engine = engine
    errors.install(app)
    app.include_router(router)
    app.include_router(widget_router)
    _mount_docs(app)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(GRADIO_PATH + "/")

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, Any]:
        return {"ok": True, "items": len(engine.catalog.items)}

    if with_gradio:
        _mount_gradio(app, engine)
    # outermost last: limit the body first, then CORS, then the headers on whatever comes back
    app.add_middleware(SecurityHeaders, origins=settings.embed_origins)
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.embed_origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "PATCH", "DELETE"],
                       allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"])
    app.add_middleware(errors.BodyLimit, limit=settings.max_request_bytes)
    return app


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package: /docs works with no network."""
    import swagger_ui_bundle

    app.mount("/static/docs", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Concierge API",
                                   swagger_js_url="/static/docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static/docs/swagger-ui.css",
                                   swagger_favicon_url="/static/docs/favicon-32x32.png")


def _mount_gradio(app: FastAPI, engine: Engine) -> None:
    from ui.web import CSS, HEAD, OFFLINE_ENV, build, theme

    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    import gradio as gr

    demo = build(engine)
    demo.queue(default_concurrency_limit=engine.settings.concurrency)
    gr.mount_gradio_app(app, demo, path=GRADIO_PATH, theme=theme(), css=CSS, head=HEAD, footer_links=[],
                        show_error=True)


def run(settings: Settings, host: str, port: int) -> None:
    """Load the engine (preparing models on first run), then serve until interrupted."""
    import uvicorn

    from ui.web import OFFLINE_ENV

    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    logging.getLogger("chat").setLevel(logging.INFO)
    print("Preparing models and catalog (the first run builds the cache, about a minute)...", flush=True)
    engine = shared_engine(settings)
    app = create_app(engine)
    print(f"Concierge is ready: http://{host}:{port}  (API docs: http://{host}:{port}/docs, "
          f"widget demo: http://{host}:{port}/demo)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
