"""Errors at the HTTP edge: every 4xx and 5xx is one JSON shape, {"code", "message", "errors"}."""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from common.errors import (
    BusyError,
    ConciergeError,
    IdentityError,
    InvalidPreferenceError,
    RateLimitedError,
    RequestKeyError,
    SessionAuthError,
    SessionExpiredError,
    TurnInProgressError,
    UnknownItemError,
    UnknownSessionError,
)

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[ConciergeError], int, str]] = [
    (UnknownSessionError, 404, "unknown_session"), (UnknownItemError, 404, "unknown_item"),
    (SessionExpiredError, 410, "session_expired"), (IdentityError, 403, "bad_identity"),
    (TurnInProgressError, 409, "turn_in_progress"), (RateLimitedError, 429, "rate_limited"),
    (InvalidPreferenceError, 422, "invalid_preference"), (RequestKeyError, 422, "idempotency_key_reused"),
    (BusyError, 503, "busy"),
]
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 413: "too_large", 415: "unsupported_media_type"}


def error_body(code: str, message: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "errors": errors or []}


def _concierge_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConciergeError)  # registered for this class only
    if isinstance(exc, SessionAuthError):
        status, code = (401, "missing_token") if exc.missing else (403, "wrong_token")
    else:
        status, code = next(((s, c) for t, s, c in _STATUS if isinstance(exc, t)), (400, "bad_request"))
    headers = {}
    if isinstance(exc, RateLimitedError | TurnInProgressError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, UnknownSessionError):
        message = (f"Unknown session '{exc.session_id[:64]}'. Start one with POST /api/v1/sessions and use the "
                   "session_id it returns.")
    else:
        message = str(exc)
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts) if not (len(parts) == 1 and parts[0].isdigit()) else "body"


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for this class only
    errors = []
    for e in exc.errors():
        field = "body" if e.get("type") == "json_invalid" else _field(tuple(e.get("loc", ())))
        errors.append({"field": field, "message": str(e.get("msg", "invalid")).removeprefix("Value error, ")})
    return _invalid(errors)


def _invalid(errors: list[dict[str, str]]) -> JSONResponse:
    summary = "; ".join(f"'{e['field']}': {e['message']}" for e in errors)
    return JSONResponse(error_body("invalid_request", f"Invalid request: {summary}. Send JSON matching the schema "
                                                      "at /docs.", errors), status_code=422)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # registered for this class only
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):  # invalid UTF-8, JSON nested too deep
        return _invalid([{"field": "body", "message": "not a JSON document this server can read (UTF-8 JSON, "
                                                      "nested at most a few hundred levels)"}])
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": ", ".join(allowed)})
        return JSONResponse(error_body("method_not_allowed", f"{request.method} is not allowed on this path; "
                                                             f"use {', '.join(allowed)}."),
                            status_code=405, headers={"Allow": ", ".join(allowed)})
    if exc.status_code == 404:
        message = f"No such path: {request.url.path[:200]}. The API is described at /docs."
    else:
        message = str(exc.detail)
    return JSONResponse(error_body(_HTTP_CODES.get(exc.status_code, "http_error"), message),
                        status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this path, from its OpenAPI paths (Starlette's own 405 knows only the
    first route that matched the path)."""
    methods = {"OPTIONS"}
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", ".+", re.escape(template)), request.url.path):
            methods |= {m.upper() for m in operations}
    return sorted(methods)


def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error_body("internal_error", "Something went wrong on the server; it was logged. Try again "
                                                     "in a moment, and tell the site's operator if it persists."),
                        status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ConciergeError, _concierge_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _server_error)


class BodyLimit:
    """413 for request bodies over `limit` bytes on every path, by Content-Length or by counting the body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await self._reject(send)
            return
        # bodies here are small JSON documents: read them whole, then hand them on in one piece
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                await self._reject(send)
                return
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        response = JSONResponse(error_body("too_large", f"Request body over {self.limit} bytes. Send a shorter "
                                                        "message."), status_code=413)
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})
