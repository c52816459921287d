"""One FastAPI process: the REST/SSE API, the widget, the offline API docs and the Gradio page.

Nothing about a conversation lives only in this process (state, tokens, rate windows and profiles
are in the database), so any number of these servers can run against one database.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from http.cookies import SimpleCookie
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chat.build import shared_engine
from chat.engine import Engine
from chat.identity import VISITOR_COOKIE, Identities, anonymous_user_id
from chat.metrics import Metrics
from chat.sessions import SessionService
from chat.settings import Settings
from common import logs
from ui.api import errors
from ui.api.routes import router
from ui.widget import router as widget_router

log = logging.getLogger(__name__)

GRADIO_PATH = "/chat"
# pages that get the anonymous visitor cookie when they have none
_PAGES = ("/chat", "/widget", "/demo")
# Gradio's file upload route: the page has no file input, so nothing may be uploaded (and served back)
_UPLOAD = re.compile(r"^/chat/.*upload")
# What pages may load: only this server, for scripts, images, styles, fonts and fetches, so that even text
# that slipped through as markup could neither fetch nor send anything elsewhere. The widget and demo pages
# run only their own script files; the API docs need an inline script, and Gradio's page inline scripts and
# eval (its front end does not start without it).
_CSP_BASE = ("default-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
             "media-src 'self' blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; "
             "form-action 'self'")
_SCRIPTS = (("/chat", "'self' 'unsafe-inline' 'unsafe-eval'"), ("/docs", "'self' 'unsafe-inline'"), ("", "'self'"))


class RequestContext:
    """Each request's id (the client's X-Request-ID when it is a plain token, else a new one) on its log lines and its
    response; responses with an error status counted in `concierge_errors`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), None)
        rid = logs.request_id(given)
        token = logs.REQUEST_ID.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
                if message["status"] >= 400:
                    self.metrics.error(str(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.REQUEST_ID.reset(token)


class SecurityHeaders:
    """A content security policy and nosniff on every response; a signed anonymous visitor cookie on pages;
    uploads refused."""

    def __init__(self, app: ASGIApp, origins: tuple[str, ...], identities: Identities) -> None:
        self.app, self.identities = app, identities
        ancestors = "frame-ancestors " + " ".join(("'self'", *origins))
        self.policies = [(prefix, f"{_CSP_BASE}; script-src {scripts}; {ancestors}".encode())
                         for prefix, scripts in _SCRIPTS]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope.get("method") == "POST" and _UPLOAD.match(path):
            response = JSONResponse(errors.error_body("uploads_disabled", "This server takes no file uploads."),
                                    status_code=403)
            await response(scope, receive, send)
            return
        csp = next(policy for prefix, policy in self.policies if path.startswith(prefix))
        needs_uid = (path.startswith(_PAGES) and scope.get("method") == "GET"
                     and self.identities.visitor(_cookie(scope, VISITOR_COOKIE)) is None)
        secure = "; Secure" if scope.get("scheme") == "https" else ""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", csp))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"same-origin"))
                ctype = dict(headers).get(b"content-type", b"")
                if needs_uid and ctype.startswith(b"text/html"):
                    value = self.identities.visitor_cookie(anonymous_user_id())
                    headers.append((b"set-cookie", f"{VISITOR_COOKIE}={value}; Path=/; Max-Age=31536000; "
                                                    f"HttpOnly; SameSite=Lax{secure}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 (a malformed Cookie header is no cookie)
                return None
            if name in jar:
                return jar[name].value
    return None


def create_app(engine: Engine, with_gradio: bool = True) -> FastAPI:
    """The whole web product around one engine."""
    settings = engine.settings
    app = FastAPI(title="Concierge API", version="1", docs_url=None, redoc_url=None,
                  description="A conversational recommender. Start a session with POST /api/v1/sessions, then send "
                              "every call on it with 'Authorization: Bearer <token>'.")
    app.state.engine = engine
    app.state.sessions = SessionService(engine)
    errors.install(app)
    app.include_router(router)
    app.include_router(widget_router)
    _mount_docs(app)

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(GRADIO_PATH + "/")

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, Any]:
        """The process is up (liveness)."""
        return {"ok": True, "items": len(engine.catalog.items)}

    @app.get("/readyz", include_in_schema=False)
    def ready() -> JSONResponse:
        """The process can serve turns (readiness): its catalog is loaded and its database answers."""
        problems = [] if engine.catalog.items else ["the catalog is empty"]
        try:
            engine.conversations.ping()
        except SQLAlchemyError as exc:
            problems.append(f"the database does not answer ({type(exc).__name__})")
        return JSONResponse({"ready": not problems, "problems": problems}, status_code=503 if problems else 200)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus metrics, `concierge_*` (chat/metrics.py)."""
        body, content_type = engine.metrics.render()
        return Response(body, media_type=content_type)

    if with_gradio:
        _mount_gradio(app, engine)
    # outermost last: limit the body first, then CORS, then the headers on whatever comes back
    app.add_middleware(SecurityHeaders, origins=settings.embed_origins, identities=engine.identities)
    app.add_middleware(CORSMiddleware, allow_origins=list(settings.embed_origins), allow_credentials=False,
                       allow_methods=["GET", "POST", "PATCH", "DELETE"],
                       allow_headers=["Authorization", "Content-Type"], expose_headers=["Retry-After"])
    app.add_middleware(errors.BodyLimit, limit=settings.max_request_bytes)
    app.add_middleware(RequestContext, metrics=engine.metrics)  # outermost: every response has its id
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

    demo = build(SessionService(engine), engine.settings.concurrency)
    demo.queue(default_concurrency_limit=engine.settings.concurrency)
    gr.mount_gradio_app(app, demo, path=GRADIO_PATH, theme=theme(), css=CSS, head=HEAD, footer_links=[],
                        show_error=True, max_file_size=engine.settings.max_request_bytes)


def run(settings: Settings, host: str, port: int) -> None:
    """Load the engine (preparing models on first run), then serve until interrupted."""
    import uvicorn

    from ui.web import OFFLINE_ENV

    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)
    logging.getLogger("chat").setLevel(logging.INFO)
    print("Preparing models and catalog (the first run builds the cache, about a minute)...", flush=True)
    engine = shared_engine(settings)
    _prune_every_hour(engine)
    app = create_app(engine)
    print(f"Concierge is ready: http://{host}:{port}  (API docs: http://{host}:{port}/docs, "
          f"widget demo: http://{host}:{port}/demo)", flush=True)
    # log_config=None: uvicorn's lines go through the configured handler too (request ids, text or JSON)
    uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None, timeout_graceful_shutdown=5)


def _prune_every_hour(engine: Engine) -> None:
    """Delete expired sessions now and every hour after (several processes may all do it: deleting is idempotent)."""

    def loop() -> None:
        while True:
            try:
                gone = engine.prune()
                if any(gone.values()):
                    log.info("Pruned %s", gone)
            except Exception:  # noqa: BLE001 (a failed prune must not stop the server; it is tried again)
                log.exception("Pruning expired sessions failed")
            stop.wait(3600)

    stop = threading.Event()
    threading.Thread(target=loop, name="concierge-prune", daemon=True).start()
