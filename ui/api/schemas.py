"""Request and response bodies of the HTTP API (they are also its OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chat.profiles import FeedbackKind, PrefField


class Strict(BaseModel):
    """Request bodies: unknown fields and wrong types are rejected (422 naming the field)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NewSession(Strict):
    user_id: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[\w.@:+-]+$",
                                description="the host site's id for this user; profiles follow it across sessions. "
                                            "Left out: the anonymous id cookie, or a fresh anonymous id")


class SessionCreated(BaseModel):
    session_id: str
    token: str = Field(description="send as 'Authorization: Bearer <token>' on every call on this session")
    user_id: str


class Message(Strict):
    text: str = Field(min_length=1, description="what the user says; longer than max_message_chars is cut")


class RecommendationOut(BaseModel):
    item_id: str
    title: str
    year: int | None
    reason: str
    original_title: str | None = None
    creators: list[str] = Field(default_factory=list)
    genres: list[str] = Field(default_factory=list)
    domain: str = "movie"


TurnAction = Literal["recommend", "ask", "answer", "close"]  # chat.policy.Action values


class TurnOut(BaseModel):
    reply: str
    recommendations: list[RecommendationOut]
    action: TurnAction = Field(
        description="what the turn did: recommend, ask a clarifying question, answer a question about an item, "
                    "or close (a goodbye after thanks)")
    state: dict[str, Any] = Field(description="the preference state after the turn")
    truncated: bool = Field(False, description="the message was longer than the limit and was cut")


class FeedbackIn(Strict):
    item_id: str = Field(min_length=1, max_length=200)
    kind: FeedbackKind


class FeedbackOut(BaseModel):
    item_id: str
    kind: FeedbackKind
    state: dict[str, Any]


class StoredTurn(BaseModel):
    index: int
    user: str
    reply: str
    language: str
    recommendations: list[RecommendationOut]


class TurnsOut(BaseModel):
    session_id: str
    turns: list[StoredTurn]


class ItemRef(BaseModel):
    item_id: str
    title: str
    year: int | None


class ProfileOut(BaseModel):
    user_id: str | None
    liked: list[ItemRef]
    disliked: list[ItemRef]
    seen: list[ItemRef]
    genres_wanted: list[str]
    genres_avoided: list[str]
    people_avoided: list[str] = Field(description="catalog people ruled out, as the catalog spells them")
    languages_avoided: list[str] = Field(description="original languages ruled out, ISO 639-1 codes")


class ProfilePatch(Strict):
    remove: dict[PrefField, list[str]] = Field(default_factory=dict,
                                               description='e.g. {"genres_avoided": ["horror"], "liked": ["movie:x"], '
                                                           '"people_avoided": ["Christopher Nolan"]}')
    add: dict[PrefField, list[str]] = Field(default_factory=dict, description='e.g. {"genres_wanted": ["comedy"]}')


class Forgotten(BaseModel):
    deleted_sessions: int


class ItemOut(BaseModel):
    item_id: str
    domain: str
    title: str
    original_title: str | None
    year: int | None
    creators: list[str]
    genres: list[str]
    description: str
    language: str | None


class ErrorOut(BaseModel):
    detail: str
    code: str
    errors: list[dict[str, str]] = Field(default_factory=list)


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": what} for code, what in (
        (401, "no bearer token"), (403, "the token is not this session's"), (404, "unknown session"),
        (413, "request body too large"), (422, "malformed JSON or a wrong field"),
        (429, "too many requests on this session; see Retry-After"))
}
Kind = Literal["like", "dislike", "seen"]
