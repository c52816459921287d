"""Errors at the HTTP edge: ConciergeError subclasses and validation problems become JSON 4xx bodies."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storage.errors import (
    ConciergeError,
    InvalidPreferenceError,
    RateLimitedError,
    SessionAuthError,
    UnknownItemError,
    UnknownSessionError,
)

_STATUS: list[tuple[type[ConciergeError], int, str]] = [
    (UnknownSessionError, 404, "unknown_session"), (UnknownItemError, 404, "unknown_item"),
    (RateLimitedError, 429, "rate_limited"), (InvalidPreferenceError, 422, "invalid_preference"),
]


def _concierge_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConciergeError)
    if isinstance(exc, SessionAuthError):
        status, code = (401, "missing_token") if exc.missing else (403, "wrong_token")
    else:
        status, code = next(((s, c) for t, s, c in _STATUS if isinstance(exc, t)), (400, "bad_request"))
    headers = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(math.ceil(exc.retry_after))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, UnknownSessionError):
        message = (f"Unknown session '{exc.session_id}'. Start one with POST /api/v1/sessions and use the "
                   "session_id it returns.")
    else:
        message = str(exc)
    return JSONResponse({"detail": message, "code": code, "errors": []}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts) if not (len(parts) == 1 and parts[0].isdigit()) else "body"


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for e in exc.errors():
        field = "body" if e.get("type") == "json_invalid" else _field(tuple(e.get("loc", ())))
        errors.append({"field": field, "message": str(e.get("msg", "invalid"))})
    summary = "; ".join(f"'{e['field']}': {e['message']}" for e in errors)
    return JSONResponse({"detail": f"Invalid request: {summary}. Send JSON matching the schema at /docs.",
                         "code": "invalid_request", "errors": errors}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ConciergeError, _concierge_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class BodyLimit:
    """413 for request bodies over `limit` bytes, by Content-Length or by counting a streamed body."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH")
                or "/upload" in scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
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
        response = JSONResponse({"detail": f"Request body over {self.limit} bytes. Send a shorter message.",
                                 "code": "too_large", "errors": []}, status_code=413)
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})
