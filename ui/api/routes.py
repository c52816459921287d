"""The /api/v1 routes. Each one checks the session's token and rate, then calls the engine."""

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

from chat.engine import Delta, Engine, Recommendation, TurnResult
from chat.identity import VISITOR_COOKIE
from storage.errors import ConciergeError, UnknownItemError
from storage.records import SessionInfo, TurnRecord
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


def engine_of(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


EngineDep = Annotated[Engine, Depends(engine_of)]


def session_access(session_id: str, request: Request,
                   creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> SessionInfo:
    """The session if the bearer token is its own (404/401/403 otherwise), counted against its rate limit."""
    engine = engine_of(request)
    info = engine.gate.check(session_id, creds.credentials if creds else None)
    engine.gate.throttle(session_id)
    return info


Access = Annotated[SessionInfo, Depends(session_access)]
RequestKey = Annotated[str | None, Header(
    alias="Idempotency-Key", pattern=REQUEST_KEY,
    description="any unique string per message (e.g. a UUID): a retry with the same key gets the stored turn back "
                "instead of a second turn")]
router = APIRouter(prefix="/api/v1", tags=["concierge"], responses=ERRORS)


@router.post("/sessions", status_code=201, response_model=SessionCreated)
def create_session(engine: EngineDep, request: Request, body: NewSession | None = None) -> SessionCreated:
    """Start a conversation. A user id the host site signed starts from that user's profile."""
    engine.gate.admit(request.client.host if request.client else None)
    body = body or NewSession.model_validate({})
    who = engine.identities.resolve(body.user_id, body.user_expires, body.user_signature,
                                    request.cookies.get(VISITOR_COOKIE))
    session_id, token = engine.open_session(who.user_id)
    return SessionCreated(session_id=session_id, token=token, user_id=who.user_id, identity=who.source)


def _rec(r: Recommendation) -> RecommendationOut:
    return RecommendationOut(item_id=r.item_id, title=r.title, year=r.year, reason=r.reason,
                             original_title=r.original_title, creators=list(r.creators), genres=list(r.genres),
                             domain=r.domain)


def _turn_out(engine: Engine, result: TurnResult, text: str) -> TurnOut:
    state = engine.conversations.load_state(result.session_id)
    return TurnOut(reply=result.reply, recommendations=[_rec(r) for r in result.recommendations],
                   action=cast(TurnAction, result.action), state=state,
                   truncated=len(text.strip()) > engine.settings.max_message_chars)


@router.post("/sessions/{session_id}/messages", response_model=TurnOut, responses=TURN_ERRORS)
def post_message(session_id: str, body: Message, engine: EngineDep, _: Access, response: Response,
                 key: RequestKey = None) -> TurnOut:
    """One turn. The reply, the recommendations and the new state are stored before this returns. One message
    at a time per session: another sent before this one's reply gets 409."""
    t0 = time.perf_counter()
    result = engine.ask(session_id, body.text, key)
    # the engine's share of the request (models, retrieval, storing the turn): clients can tell it from overhead
    response.headers["Server-Timing"] = f"engine;dur={(time.perf_counter() - t0) * 1000:.2f}"
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return _turn_out(engine, result, body.text)


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/sessions/{session_id}/messages/stream", response_class=StreamingResponse,
             responses={**TURN_ERRORS,
                        200: {"content": {"text/event-stream": {}},
                              "description": "`token` events ({\"text\"}), then `recommendations` "
                                             "({\"recommendations\", \"action\", \"state\", \"truncated\"}), "
                                             "then `done` ({\"reply\"}); a fault after the first event ends the "
                                             "stream with `error` ({\"code\", \"message\"})"}})
def stream_message(session_id: str, body: Message, engine: EngineDep, _: Access,
                   key: RequestKey = None) -> StreamingResponse:
    """The same turn as Server-Sent Events."""
    turn = engine.turn(session_id, body.text, key)  # 409 here, before the stream starts, if a turn is running

    def events() -> Iterator[str]:
        try:
            for event in turn:
                if isinstance(event, Delta):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, TurnResult):  # stored before it is yielded
                    out = _turn_out(engine, event, body.text)
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
def post_feedback(session_id: str, body: FeedbackIn, engine: EngineDep, _: Access) -> FeedbackOut:
    """Like, dislike or seen on an item; the very next turn uses it."""
    state = engine.feedback(session_id, body.item_id, body.kind)
    return FeedbackOut(item_id=body.item_id, kind=body.kind, state=state.to_json())


def _stored_turn(engine: Engine, t: TurnRecord) -> StoredTurn:
    return StoredTurn(index=t.index, user=t.user_text, reply=t.reply_text, language=t.language,
                      recommendations=[_rec(r) for r in engine.stored_recommendations(t)])


@router.get("/sessions/{session_id}/turns", response_model=TurnsOut)
def get_turns(session_id: str, engine: EngineDep, _: Access) -> TurnsOut:
    """The conversation so far, oldest first."""
    return TurnsOut(session_id=session_id,
                    turns=[_stored_turn(engine, t) for t in engine.conversations.turns(session_id)])


@router.get("/sessions/{session_id}/profile", response_model=ProfileOut)
def get_profile(session_id: str, engine: EngineDep, _: Access) -> ProfileOut:
    """The user's preferences, kept across sessions of the same user."""
    return profile_out(engine, session_id)


@router.patch("/sessions/{session_id}/profile", response_model=ProfileOut)
def patch_profile(session_id: str, body: ProfilePatch, engine: EngineDep, _: Access) -> ProfileOut:
    """Remove or add preferences; every conversation of the user follows from its next turn."""
    engine.profiles.edit(session_id, body.remove, body.add)
    return profile_out(engine, session_id)


@router.delete("/sessions/{session_id}/profile", response_model=Forgotten)
def delete_profile(session_id: str, engine: EngineDep, _: Access, response: Response) -> Forgotten:
    """Forget me: the user's profile, sessions, turns and feedback are deleted from the database."""
    response.delete_cookie(VISITOR_COOKIE)
    return Forgotten(deleted_sessions=engine.profiles.forget(session_id))


def profile_out(engine: Engine, session_id: str) -> ProfileOut:
    user_id, profile = engine.profiles.profile_of(session_id)

    def refs(ids: list[str]) -> list[ItemRef]:
        items = [engine.catalog.items.get(i) for i in ids]
        return [ItemRef(item_id=it.id, title=it.title, year=it.year) for it in items if it is not None]

    return ProfileOut(user_id=user_id, liked=refs(profile.liked), disliked=refs(profile.disliked),
                      seen=refs(profile.seen), genres_wanted=list(profile.genres_wanted),
                      genres_avoided=list(profile.genres_avoided), people_avoided=list(profile.people_avoided),
                      languages_avoided=list(profile.languages_avoided))


_ITEM_ID = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


@router.get("/items/{item_id:path}", response_model=ItemOut)
def get_item(item_id: str, engine: EngineDep) -> ItemOut:
    """One catalog item (read from the database: an item imported a moment ago is there)."""
    it = engine.item(item_id) if _ITEM_ID.fullmatch(item_id) else None
    if it is None:
        raise UnknownItemError(item_id[:200])
    return ItemOut(item_id=it.id, domain=it.domain, title=it.title, original_title=it.original_title, year=it.year,
                   creators=list(it.creators), genres=list(it.genres), description=it.description,
                   language=it.language)
