"""Request and response bodies of the HTTP API (they are also its OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from chat.access import clean_text
from chat.profiles import FeedbackKind, PrefField


class Strict(BaseModel):
    """Request bodies: unknown fields and wrong types are rejected (422 naming the field)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NewSession(Strict):
    user_id: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[\w.@:+-]+$",
                                description="the host site's id for this user; profiles follow it across sessions. "
                                            "Taken only with a valid user_signature (or where the server is set "
                                            "to trust unsigned ids); otherwise the session is anonymous")
    user_expires: int | None = Field(None, ge=0, le=2**40, description="unix time until which user_signature holds")
    user_signature: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$",
                                       description="hex HMAC-SHA256 of 'user_id:user_expires' under the site's "
                                                   "identity secret (CONCIERGE_IDENTITY_SECRET)")


class SessionCreated(BaseModel):
    session_id: str
    token: str = Field(description="send as 'Authorization: Bearer <token>' on every call on this session")
    user_id: str
    identity: Literal["signed", "unsigned", "visitor", "anonymous"] = Field(
        description="how the user is known: a signed host id, an unsigned host id (only where the server trusts "
                    "them), this browser's visitor cookie, or a fresh anonymous id")


class Message(Strict):
    text: str = Field(min_length=1, max_length=20_000,
                      description="what the user says; longer than max_message_chars is cut")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not clean_text(value):
            raise ValueError("the message is empty: send some words")
        return value


class RecommendationOut(BaseModel):
    item_id: str
    title: str
    year: int | None
    reason: str
    original_title: str | None = None
    creators: list[str] = Field(default_factory=list)
    genres: list[str] = Field(default_factory=list)
    domain: str = "movie"
    facts: list[str] = Field(default_factory=list, description='attributes from the catalog record, e.g. ["$79", '
                             '"rated 4.4", "in stock"]')


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
    item_id: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
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
    """Every 4xx and 5xx answer of the API."""

    code: str = Field(description="what went wrong, for programs: e.g. unknown_session, rate_limited")
    message: str = Field(description="what went wrong and what to do, for people")
    errors: list[dict[str, str]] = Field(default_factory=list,
                                         description="for invalid requests: [{'field', 'message'}] per problem")


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": what} for code, what in (
        (401, "no bearer token"), (403, "the token is not this session's, or a user id's signature is wrong"),
        (404, "unknown session, item or path"), (405, "method not allowed (see the Allow header)"),
        (410, "the session expired after a long idle time"),
        (413, "request body too large"), (422, "malformed JSON, a wrong field, or an empty message"),
        (429, "too many requests; see Retry-After"), (500, "a server fault (logged)"))
}
TURN_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "the session's previous message is still being answered; see "
                                            "Retry-After"}}
# a client's Idempotency-Key: letters, digits and - _ . : (a UUID fits)
REQUEST_KEY = r"^[A-Za-z0-9_.:-]{1,64}$"
Kind = Literal["like", "dislike", "seen"]
