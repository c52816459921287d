"""The /api/v1 routes. Each one checks the session's token and rate, then calls the engine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chat.engine import Delta, Engine, Recommendation, TurnResult
from storage.errors import UnknownItemError
from storage.records import SessionInfo, TurnRecord
from ui.api.schemas import (
    ERRORS,
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

USER_COOKIE = "concierge_uid"
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
router = APIRouter(prefix="/api/v1", tags=["concierge"], responses=ERRORS)


@router.post("/sessions", status_code=201, response_model=SessionCreated)
def create_session(engine: EngineDep, request: Request, body: NewSession | None = None) -> SessionCreated:
    """Start a conversation. A known user id starts from that user's profile."""
    user_id = (body.user_id if body else None) or request.cookies.get(USER_COOKIE) or None
    session_id, token = engine.open_session(user_id)
    return SessionCreated(session_id=session_id, token=token, user_id=engine.conversations.info(session_id).user_id
                          or "")


def _rec(r: Recommendation) -> RecommendationOut:
    return RecommendationOut(item_id=r.item_id, title=r.title, year=r.year, reason=r.reason,
                             original_title=r.original_title, creators=list(r.creators), genres=list(r.genres),
                             domain=r.domain)


def _turn_out(engine: Engine, result: TurnResult, text: str) -> TurnOut:
    state = engine.conversations.load_state(result.session_id)
    return TurnOut(reply=result.reply, recommendations=[_rec(r) for r in result.recommendations],
                   action=cast(TurnAction, result.action), state=state,
                   truncated=len(text.strip()) > engine.settings.max_message_chars)


@router.post("/sessions/{session_id}/messages", response_model=TurnOut)
def post_message(session_id: str, body: Message, engine: EngineDep, _: Access, response: Response) -> TurnOut:
    """One turn. The reply, the recommendations and the new state are stored before this returns."""
    t0 = time.perf_counter()
    result = engine.ask(session_id, body.text)
    # the engine's share of the request (models, retrieval, storing the turn): clients can tell it from overhead
    response.headers["Server-Timing"] = f"engine;dur={(time.perf_counter() - t0) * 1000:.2f}"
    return _turn_out(engine, result, body.text)


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/sessions/{session_id}/messages/stream", response_class=StreamingResponse,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`token` events ({\"text\"}), then `recommendations` "
                                             "({\"recommendations\", \"action\", \"state\", \"truncated\"}), "
                                             "then `done` "
                                             "({\"reply\"})"}})
def stream_message(session_id: str, body: Message, engine: EngineDep, _: Access) -> StreamingResponse:
    """The same turn as Server-Sent Events."""

    def events() -> Iterator[str]:
        for event in engine.turn(session_id, body.text):
            if isinstance(event, Delta):
                yield sse("token", {"text": event.text})
            elif isinstance(event, TurnResult):  # stored before it is yielded
                out = _turn_out(engine, event, body.text)
                yield sse("recommendations", {"recommendations": [r.model_dump() for r in out.recommendations],
                                              "action": out.action, "state": out.state,
                                              "truncated": out.truncated})
                yield sse("done", {"reply": out.reply})

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/sessions/{session_id}/feedback", response_model=FeedbackOut)
def post_feedback(session_id: str, body: FeedbackIn, engine: EngineDep, _: Access) -> FeedbackOut:
    """Like, dislike or seen on an item; the very next turn uses it."""
    state = engine.feedback(session_id, body.item_id, body.kind)
    return FeedbackOut(item_id=body.item_id, kind=body.kind, state=state.to_json())


def _stored_turn(engine: Engine, t: TurnRecord) -> StoredTurn:
    recs = []
    for shown in t.shown:
        item = engine.catalog.items.get(shown.item_id)
        if item is not None:
            recs.append(RecommendationOut(item_id=item.id, title=item.title, year=item.year, reason=shown.reason,
                                          original_title=item.original_title, creators=list(item.creators),
                                          genres=list(item.genres), domain=item.domain))
    return StoredTurn(index=t.index, user=t.user_text, reply=t.reply_text, language=t.language, recommendations=recs)


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
    response.delete_cookie(USER_COOKIE)
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


@router.get("/items/{item_id:path}", response_model=ItemOut)
def get_item(item_id: str, engine: EngineDep) -> ItemOut:
    """One catalog item."""
    it = engine.catalog.items.get(item_id)
    if it is None:
        raise UnknownItemError(item_id)
    return ItemOut(item_id=it.id, domain=it.domain, title=it.title, original_title=it.original_title, year=it.year,
                   creators=list(it.creators), genres=list(it.genres), description=it.description,
                   language=it.language)
