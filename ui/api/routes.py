"""The /api/v1 routes. Each one checks the session's token and rate, then calls the session service."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chat.engine import Delta, Recommendation, TurnResult
from chat.identity import VISITOR_COOKIE
from chat.sessions import SessionService
from common.errors import ConciergeError, UnknownItemError
from storage.records import SessionInfo
from ui.api.errors import error_body
from ui.api.schemas import (
    ERRORS,
    REQUEST_KEY,
    TURN_ERRORS,
    FeedbackIn,
    FeedbackOut,
    Forgotten,
    ItemOut,
    ItemRef,
    Message,
    NewSession,
    ProfileOut,
    ProfilePatch,
    RecommendationOut,
    SessionCreated,
    StoredTurn,
    TurnAction,
    TurnOut,
    TurnsOut,
)

log = logging.getLogger(__name__)
bearer = HTTPBearer(auto_error=False, description="the token returned by POST /api/v1/sessions")


def service_of(request: Request) -> SessionService:
    return request.app.state.sessions  # type: ignore[no-any-return]


Service = Annotated[SessionService, Depends(service_of)]


def session_access(session_id: str, request: Request,
                   creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> SessionInfo:
    """The session if the bearer token is its own (404/401/403 otherwise), counted against its rate limit."""
    return service_of(request).check(session_id, creds.credentials if creds else None)


Access = Annotated[SessionInfo, Depends(session_access)]
RequestKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=REQUEST_KEY,
    description="any unique string per message (e.g. a UUID): a retry with the same key gets the stored turn back "
                "instead of a second turn")]
router = APIRouter(prefix="/api/v1", tags=["concierge"], responses=ERRORS)


@router.post("/sessions", status_code=201, response_model=SessionCreated)
def create_session(sessions: Service, request: Request, body: NewSession | None = None) -> SessionCreated:
    """Start a conversation. A user id the host site signed starts from that user's profile."""
    body = body or NewSession.model_validate({})
    opened = sessions.open(request.client.host if request.client else None, body.user_id, body.user_expires,
                           body.user_signature, request.cookies.get(VISITOR_COOKIE))
    return SessionCreated(session_id=opened.session_id, token=opened.token, user_id=opened.identity.user_id,
                          identity=opened.identity.source)


def _rec(r: Recommendation) -> RecommendationOut:
    return RecommendationOut(item_id=r.item_id, title=r.title, year=r.year, reason=r.reason,
                             original_title=r.original_title, creators=list(r.creators), genres=list(r.genres),
                             domain=r.domain, facts=list(r.facts))


def _turn_out(sessions: SessionService, result: TurnResult, text: str) -> TurnOut:
    return TurnOut(reply=result.reply, recommendations=[_rec(r) for r in result.recommendations],
                   action=cast(TurnAction, result.action), state=sessions.state(result.session_id).to_json(),
                   truncated=len(text.strip()) > sessions.max_message_chars)


@router.post("/sessions/{session_id}/messages", response_model=TurnOut, responses=TURN_ERRORS)
def post_message(session_id: str, body: Message, sessions: Service, _: Access, response: Response,
                 key: RequestKey = None) -> TurnOut:
    """One turn. The reply, the recommendations and the new state are stored before this returns. One message
    at a time per session: another sent before this one's reply gets 409."""
    t0 = time.perf_counter()
    result = sessions.ask(session_id, body.text, key)
    # the engine's share of the request (models, retrieval, storing the turn): clients can tell it from overhead
    response.headers["Server-Timing"] = f"engine;dur={(time.perf_counter() - t0) * 1000:.2f}"
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _turn_out(sessions, result, body.text)


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/sessions/{session_id}/messages/stream", response_class=StreamingResponse,
             responses={**TURN_ERRORS,
                        200: {"content": {"text/event-stream": {}},
                              "description": "`token` events ({\"text\"}), then `recommendations` "
                                             "({\"recommendations\", \"action\", \"state\", \"truncated\"}), "
                                             "then `done` ({\"reply\"}); a fault after the first event ends the "
                                             "stream with `error` ({\"code\", \"message\"})"}})
def stream_message(session_id: str, body: Message, sessions: Service, _: Access,
                   key: RequestKey = None) -> StreamingResponse:
    """The same turn as Server-Sent Events."""
    turn = sessions.turn(session_id, body.text, key)  # 409 here, before the stream starts, if a turn is running

    def events() -> Iterator[str]:
        try:
            for event in turn:
                if isinstance(event, Delta):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, TurnResult):  # stored before it is yielded
                    out = _turn_out(sessions, event, body.text)
                    yield sse("recommendations", {"recommendations": [r.model_dump() for r in out.recommendations],
                                                  "action": out.action, "state": out.state,
                                                  "truncated": out.truncated})
                    yield sse("done", {"reply": out.reply})
        except ConciergeError as exc:
            yield sse("error", error_body("turn_failed", str(exc)))
        except Exception:  # the status line is sent: say it in the stream, log the cause
            log.exception("A streamed turn failed")
            yield sse("error", error_body("internal_error", "Something went wrong on the server; it was logged. "
                                                            "Send the message again."))

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/sessions/{session_id}/feedback", response_model=FeedbackOut)
def post_feedback(session_id: str, body: FeedbackIn, sessions: Service, _: Access) -> FeedbackOut:
    """Like, dislike or seen on an item; the very next turn uses it."""
    state = sessions.feedback(session_id, body.item_id, body.kind)
    return FeedbackOut(item_id=body.item_id, kind=body.kind, state=state.to_json())


@router.get("/sessions/{session_id}/turns", response_model=TurnsOut)
def get_turns(session_id: str, sessions: Service, _: Access) -> TurnsOut:
    """The conversation so far, oldest first."""
    return TurnsOut(session_id=session_id, turns=[
        StoredTurn(index=t.index, user=t.user_text, reply=t.reply_text, language=t.language,
                   recommendations=[_rec(r) for r in shown]) for t, shown in sessions.turns(session_id)])


@router.get("/sessions/{session_id}/profile", response_model=ProfileOut)
def get_profile(session_id: str, sessions: Service, _: Access) -> ProfileOut:
    """The user's preferences, kept across sessions of the same user."""
    return profile_out(sessions, session_id)


@router.patch("/sessions/{session_id}/profile", response_model=ProfileOut)
def patch_profile(session_id: str, body: ProfilePatch, sessions: Service, _: Access) -> ProfileOut:
    """Remove or add preferences; every conversation of the user follows from its next turn."""
    sessions.edit_profile(session_id, body.remove, body.add)
    return profile_out(sessions, session_id)


@router.delete("/sessions/{session_id}/profile", response_model=Forgotten)
def delete_profile(session_id: str, sessions: Service, _: Access, response: Response) -> Forgotten:
    """Forget me: the user's profile, sessions, turns and feedback are deleted from the database."""
    response.delete_cookie(VISITOR_COOKIE)
    return Forgotten(deleted_sessions=sessions.forget(session_id))


def profile_out(sessions: SessionService, session_id: str) -> ProfileOut:
    user_id, profile = sessions.profile(session_id)

    def refs(ids: list[str]) -> list[ItemRef]:
        return [ItemRef(item_id=it.id, title=it.title, year=it.year) for it in sessions.items(ids)]

    return ProfileOut(user_id=user_id, liked=refs(profile.liked), disliked=refs(profile.disliked),
                      seen=refs(profile.seen), genres_wanted=list(profile.genres_wanted),
                      genres_avoided=list(profile.genres_avoided), people_avoided=list(profile.people_avoided),
                      languages_avoided=list(profile.languages_avoided))


_ITEM_ID = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


@router.get("/items/{item_id:path}", response_model=ItemOut)
def get_item(item_id: str, sessions: Service) -> ItemOut:
    """One catalog item (read from the database: an item imported a moment ago is there)."""
    it = sessions.item(item_id) if _ITEM_ID.fullmatch(item_id) else None
    if it is None:
        raise UnknownItemError(item_id[:200])
    return ItemOut(item_id=it.id, domain=it.domain, title=it.title, original_title=it.original_title, year=it.year,
                   creators=list(it.creators), genres=list(it.genres), description=it.description,
                   language=it.language)
