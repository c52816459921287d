"""Per-session dialogue state as typed records, stored as JSON with the conversation."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from storage.attributes import Constraint


class Direction(BaseModel):
    """An attribute critique still in force ("lighter" is light +1)."""

    name: str
    sign: int


class AttributeWish(BaseModel):
    """What the user asked of one of the catalog's declared attributes, in force until changed."""

    low: float | None = None
    high: float | None = None
    low_strict: bool = False
    high_strict: bool = False
    any_of: list[str] = Field(default_factory=list)
    none_of: list[str] = Field(default_factory=list)
    value: bool | None = None

    def constraint(self, name: str) -> Constraint:
        return Constraint(name, self.low, self.high, self.low_strict, self.high_strict, frozenset(self.any_of),
                          frozenset(self.none_of), self.value)


class DialogueState(BaseModel):
    """What the system knows about the user in one conversation.

    Item fields hold catalog ids; lists keep the order in which things were said.
    """

    liked: list[str] = Field(default_factory=list)
    disliked: list[str] = Field(default_factory=list)
    seen: list[str] = Field(default_factory=list)
    mentioned: list[str] = Field(default_factory=list)
    shown: list[str] = Field(default_factory=list)
    last_shown: list[str] = Field(default_factory=list)
    last_reply: str = ""  # the message that showed last_shown, which the user's next message may answer
    passed: list[str] = Field(default_factory=list)  # shown items turned down as a list ("Not those."), not disliked
    genres_wanted: list[str] = Field(default_factory=list)
    genres_avoided: list[str] = Field(default_factory=list)
    people_wanted: list[str] = Field(default_factory=list)  # catalog people asked for ("with Tom Hanks"), newest last
    people_avoided: list[str] = Field(default_factory=list)
    languages_wanted: list[str] = Field(default_factory=list)  # original languages (ISO 639-1): "Korean films"
    languages_avoided: list[str] = Field(default_factory=list)
    statements: list[str] = Field(default_factory=list)  # the user's positive statements, oldest first
    directions: list[Direction] = Field(default_factory=list)  # newest last; one per attribute
    domain: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    for_children: bool = False  # said once ("with my kids"), it holds for the conversation
    year_vague: bool = False  # the bounds come from an era word ("older ones", "classics", "more recent"), not years
    max_minutes: int | None = None
    attributes: dict[str, AttributeWish] = Field(default_factory=dict)  # "under $100", "in blue", "in stock"
    focus: str | None = None  # the item the user last asked about or referred to
    pending_question: str | None = None  # a question waiting for "Which one do you mean?" to be answered
    language: str = "en"
    turns: int = 0
    questions_asked: int = 0
    asked: list[str] = Field(default_factory=list)  # kinds of clarifying question asked ("open", "genre", "era")

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DialogueState:
        return cls.model_validate(data or {})

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def like(self, item_id: str) -> None:
        _move(item_id, self.liked, self.disliked)
        _add(self.mentioned, item_id)

    def opinion_of(self, item_id: str) -> str:
        """liked, disliked or unsaid: what the state holds of one item."""
        return "liked" if item_id in self.liked else "disliked" if item_id in self.disliked else "unsaid"

    def no_opinion(self, item_id: str) -> None:
        """Named, but neither liked nor disliked ("have you seen X?")."""
        for values in (self.liked, self.disliked):
            if item_id in values:
                values.remove(item_id)
        _add(self.mentioned, item_id)

    def dislike(self, item_id: str) -> None:
        _move(item_id, self.disliked, self.liked)
        _add(self.mentioned, item_id)

    def mark_seen(self, item_id: str) -> None:
        _add(self.seen, item_id)

    def want_genre(self, genre: str) -> None:
        _move(genre, self.genres_wanted, self.genres_avoided)

    def avoid_genre(self, genre: str) -> None:
        _move(genre, self.genres_avoided, self.genres_wanted)

    def want_language(self, code: str) -> None:
        _move(code, self.languages_wanted, self.languages_avoided)

    def avoid_language(self, code: str) -> None:
        _move(code, self.languages_avoided, self.languages_wanted)

    def want_person(self, name: str) -> None:
        """Keep the five people asked for most recently."""
        _move(name, self.people_wanted, self.people_avoided)
        self.people_wanted.remove(name)
        self.people_wanted.append(name)
        del self.people_wanted[:-5]

    def avoid_person(self, name: str) -> None:
        _move(name, self.people_avoided, self.people_wanted)

    def steer(self, name: str, sign: int) -> None:
        """Keep one direction per attribute, the newest last, at most three."""
        self.directions = [d for d in self.directions if d.name != name] + [Direction(name=name, sign=sign)]
        del self.directions[:-3]

    def excluded(self) -> set[str]:
        """Items not to recommend: already named, shown, rejected or seen."""
        return set(self.mentioned) | set(self.shown) | set(self.disliked) | set(self.seen)

    @property
    def has_preferences(self) -> bool:
        return bool(self.liked or self.genres_wanted or self.genres_avoided or self.people_wanted
                    or self.people_avoided or self.languages_wanted or self.languages_avoided or self.statements
                    or self.year_min or self.year_max or self.directions or self.attributes)


def _add(target: list[str], value: str) -> None:
    if value not in target:
        target.append(value)


def _move(value: str, to: list[str], away: list[str]) -> None:
    if value in away:
        away.remove(value)
    _add(to, value)
