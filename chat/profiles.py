"""User profiles: the preferences a user keeps across conversations, fed by turns and card feedback."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal, cast

from pydantic import BaseModel, Field

from chat.lexicon import GENRES, LANGUAGES, compound_genre, genre_parts
from chat.state import DialogueState
from common.errors import InvalidPreferenceError, UnknownItemError
from retrieval.ranking import item_people
from storage.records import CatalogItem, FeedbackRecord
from storage.repository import ConversationRepository
from storage.users import FeedbackRepository, ProfileRepository

log = logging.getLogger(__name__)

PrefField = Literal["liked", "disliked", "seen", "genres_wanted", "genres_avoided", "people_avoided",
                    "languages_avoided"]
# people and languages asked for belong to one conversation ("Korean ones then"); ruled out, they last
FIELDS: tuple[PrefField, ...] = ("liked", "disliked", "seen", "genres_wanted", "genres_avoided", "people_avoided",
                                 "languages_avoided")
ITEM_FIELDS = ("liked", "disliked", "seen")
FeedbackKind = Literal["like", "dislike", "seen"]
_KIND_OF_FIELD = {"liked": "like", "disliked": "dislike", "seen": "seen"}


class Profile(BaseModel):
    """What a user likes and avoids, independent of any one conversation."""

    liked: list[str] = Field(default_factory=list)
    disliked: list[str] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list)
    genres_wanted: list[str] = Field(default_factory=list)
    genres_avoided: list[str] = Field(default_factory=list)
    people_avoided: list[str] = Field(default_factory=list)  # catalog people ("no Adam Sandler")
    languages_avoided: list[str] = Field(default_factory=list)  # ISO 639-1 codes ("nothing Chinese": zh)

    @classmethod
    def from_state(cls, state: DialogueState) -> Profile:
        return cls(**{f: list(getattr(state, f)) for f in FIELDS})

    def seed(self, state: DialogueState) -> None:
        """Start a conversation from this profile: liked, rejected and seen items are not recommended again."""
        for item_id in self.liked:
            state.like(item_id)
        for item_id in self.disliked:
            state.dislike(item_id)
        for item_id in self.seen:
            state.mark_seen(item_id)
        for genre in self.genres_wanted:
            state.want_genre(genre)
        for genre in self.genres_avoided:
            state.avoid_genre(genre)
        for person in self.people_avoided:
            state.avoid_person(person)
        for code in self.languages_avoided:
            state.avoid_language(code)


def changes(before: DialogueState, after: DialogueState) -> dict[str, tuple[list[str], list[str]]]:
    """Per preference field, (values added, values removed) between two states."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for f in FIELDS:
        old, new = getattr(before, f), getattr(after, f)
        added, removed = [v for v in new if v not in old], [v for v in old if v not in new]
        if added or removed:
            out[f] = (added, removed)
    return out


def _apply_changes(profile: Profile, diff: Mapping[str, tuple[list[str], list[str]]]) -> Profile:
    data = profile.model_dump()
    for f, (added, removed) in diff.items():
        values = [v for v in data[f] if v not in removed]
        values += [v for v in added if v not in values]
        data[f] = values
    # an item liked in one conversation and rejected in another: the latest word wins
    for a, b in (("liked", "disliked"), ("disliked", "liked"), ("genres_wanted", "genres_avoided"),
                 ("genres_avoided", "genres_wanted")):
        newly = set(diff.get(a, ([], []))[0])
        data[b] = [v for v in data[b] if v not in newly]
    return Profile(**data)


class Profiles:
    """Keeps profiles in step with conversations; every change is committed before the call returns."""

    def __init__(self, conversations: ConversationRepository, profiles: ProfileRepository,
                 feedback: FeedbackRepository, items: Mapping[str, CatalogItem]) -> None:
        self.conversations, self.profiles, self.feedback_repo, self.items = conversations, profiles, feedback, items

    def for_user(self, user_id: str | None) -> Profile:
        data = self.profiles.get(user_id) if user_id else None
        return Profile.model_validate(data or {})

    def initial_state(self, user_id: str | None) -> DialogueState:
        state = DialogueState()
        self.for_user(user_id).seed(state)
        return state

    def record(self, session_id: str, before: DialogueState, after: DialogueState, source: str,
               clicked: tuple[str, str] | None = None) -> None:
        """Fold what changed between two states into the user's profile and the feedback table."""
        user_id = self.conversations.info(session_id).user_id
        diff = changes(before, after)
        rows = [FeedbackRecord(session_id, user_id, item_id, _KIND_OF_FIELD[f], source, item_id in before.shown)
                for f in ITEM_FIELDS for item_id in diff.get(f, ([], []))[0]]
        if clicked and not any((r.item_id, r.kind) == clicked for r in rows):
            # a repeated click changes nothing in the state but is still a signal
            rows.append(FeedbackRecord(session_id, user_id, clicked[0], clicked[1], source, clicked[0] in before.shown))
        self.feedback_repo.add(rows)
        if user_id and diff:
            self.profiles.update(user_id, lambda stored: _apply_changes(Profile.model_validate(stored), diff)
                                 .model_dump())

    def give_feedback(self, session_id: str, item_id: str, kind: FeedbackKind) -> DialogueState:
        """A card button: like, dislike or seen. Changes the state the very next turn starts from."""
        if item_id not in self.items:
            raise UnknownItemError(item_id)
        seen: dict[str, DialogueState] = {}

        def click(stored: dict[str, Any]) -> dict[str, Any]:
            state = DialogueState.from_json(stored)
            seen["before"] = state.model_copy(deep=True)
            {"like": state.like, "dislike": state.dislike, "seen": state.mark_seen}[kind](item_id)
            seen["after"] = state
            return state.to_json()

        self.conversations.update_state(session_id, click)
        self.record(session_id, seen["before"], seen["after"], "button", (item_id, kind))
        return seen["after"]

    def edit(self, session_id: str, remove: Mapping[PrefField, list[str]], add: Mapping[PrefField, list[str]]
             ) -> Profile:
        """Remove or add preferences in the profile and in every conversation of its user."""
        for f, values in add.items():
            for v in values:
                self._check(f, v)

        def edited(stored: dict[str, Any]) -> dict[str, Any]:
            state = DialogueState.from_json(stored)
            _edit_state(state, remove, add)
            return state.to_json()

        user_id = self.conversations.info(session_id).user_id
        targets = self.conversations.ids_of_user(user_id) if user_id else [session_id]
        for sid in targets:
            self.conversations.update_state(sid, edited)
        if not user_id:
            return Profile.from_state(DialogueState.from_json(self.conversations.load_state(session_id)))

        def edited_profile(prefs: dict[str, Any]) -> dict[str, Any]:
            state = DialogueState(**Profile.model_validate(prefs).model_dump())
            _edit_state(state, remove, add)
            return Profile.from_state(state).model_dump()

        return Profile.model_validate(self.profiles.update(user_id, edited_profile))

    def _check(self, field: PrefField, value: str) -> None:
        """Raise a clear error for a value `field` cannot hold."""
        if field in ITEM_FIELDS and value not in self.items:
            raise UnknownItemError(value)
        if field.startswith("genres_"):
            parts = genre_parts(value) if field == "genres_avoided" else (value,)
            if not all(g in GENRES for g in parts):
                raise InvalidPreferenceError(
                    f"Unknown genre '{value}' in '{field}'. Known genres: " + ", ".join(sorted(GENRES))
                    + ("; to avoid only what is both, join genres with '+' (e.g. 'comedy+romance': romcoms)."
                       if field == "genres_avoided" else "."))
            if value != compound_genre(parts):
                raise InvalidPreferenceError(f"Write '{value}' in '{field}' as '{compound_genre(parts)}' "
                                             "(the genres in alphabetical order).")
        if field == "languages_avoided" and value not in LANGUAGES:
            raise InvalidPreferenceError(f"Unknown language '{value}' in '{field}': use an ISO 639-1 code, one of "
                                         + ", ".join(sorted(LANGUAGES)))
        if field == "people_avoided" and not any(value in item_people(it.creators, it.extra)
                                                 for it in self.items.values()):
            raise InvalidPreferenceError(f"'{value}' in '{field}' is none of the catalog's directors, authors or "
                                         "stars: spell the name as the catalog does (e.g. 'Christopher Nolan').")

    def profile_of(self, session_id: str) -> tuple[str | None, Profile]:
        user_id = self.conversations.info(session_id).user_id
        if not user_id:
            return None, Profile.from_state(DialogueState.from_json(self.conversations.load_state(session_id)))
        return user_id, self.for_user(user_id)

    def forget(self, session_id: str) -> int:
        """'Forget me': the user's profile, conversations, turns and feedback leave the database."""
        user_id = self.conversations.info(session_id).user_id
        if not user_id:
            return self.profiles.forget_conversation(session_id)
        n = self.profiles.forget(user_id)
        log.info("Forgot a user: %d conversations deleted", n)
        return n


def merge_concurrent(state: DialogueState, before: DialogueState, stored: dict[str, Any]) -> dict[str, Any]:
    """`state` (a turn's result, computed from `before`) plus the preference changes stored meanwhile (a card
    clicked, a profile edited while the reply was being written), as the state to store."""
    merged = state.model_copy(deep=True)
    diff = changes(before, DialogueState.from_json(stored))
    _edit_state(merged, cast(dict[PrefField, list[str]], {f: r for f, (_, r) in diff.items()}),
                cast(dict[PrefField, list[str]], {f: a for f, (a, _) in diff.items()}))
    return merged.to_json()


def _edit_state(state: DialogueState, remove: Mapping[PrefField, list[str]], add: Mapping[PrefField, list[str]]
                ) -> None:
    for f, values in remove.items():
        setattr(state, f, [v for v in getattr(state, f) if v not in values])
    adders = {"liked": state.like, "disliked": state.dislike, "seen": state.mark_seen,
              "genres_wanted": state.want_genre, "genres_avoided": state.avoid_genre,
              "people_avoided": state.avoid_person, "languages_avoided": state.avoid_language}
    for f, values in add.items():
        for v in values:
            adders[f](v)

