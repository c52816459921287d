"""Plain records passed between layers (no ORM objects leave storage)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CatalogItem:
    """One catalog entry as the rest of the system sees it."""

    id: str
    domain: str
    title: str
    original_title: str | None = None
    year: int | None = None
    creators: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    description: str = ""
    language: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    # typed values of the attributes the catalog declares (storage/attributes.py): {"price": 79.0, "color": ["blue"]}
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def content_hash(self) -> str:
        """sha1 of every stored field: an item whose hash changed is updated and re-embedded."""
        payload = json.dumps(
            [self.domain, self.title, self.original_title, self.year, list(self.creators),
             list(self.genres), self.description, self.language, self.extra,
             *([self.attributes] if self.attributes else [])],
            ensure_ascii=False, sort_keys=True,
        )
        return hashlib.sha1(payload.encode("utf-8")).hexdigest()

    def document_text(self) -> str:
        """The text that represents this item for the embedder."""
        parts = [self.title]
        if self.original_title and self.original_title != self.title:
            parts.append(self.original_title)
        head = " / ".join(parts)
        if self.year:
            head += f" ({self.year})"
        bits = [head]
        if self.genres:
            bits.append("Genres: " + ", ".join(self.genres) + ".")
        if self.creators:
            bits.append(("Directed by " if self.domain == "movie" else "By ") + ", ".join(self.creators) + ".")
        for name, value in self.attributes.items():  # what a shopper may ask for in words: brand, material
            if isinstance(value, str | list) and value:
                bits.append(f"{name.replace('_', ' ')}: {value if isinstance(value, str) else ', '.join(value)}.")
            elif value is True:
                bits.append(f"{name.replace('_', ' ')}.")
        if self.description:
            bits.append(self.description)
        return " ".join(bits)

    def display_title(self, language: str = "en") -> str:
        """Title for a reply in `language`: the original title for same-language works."""
        if self.original_title and self.language and self.language == language:
            return self.original_title
        if language == "zh":
            for alias in self.extra.get("aliases") or ():
                if isinstance(alias, str) and any("\u3400" <= c <= "\u9fff" for c in alias):
                    return alias
        return self.title


@dataclass(frozen=True)
class ShownItem:
    """An item shown in a turn."""

    item_id: str
    rank: int
    score: float
    reason: str


@dataclass(frozen=True)
class TurnRecord:
    """One stored exchange."""

    index: int
    user_text: str
    reply_text: str
    language: str
    reply_source: str
    shown: tuple[ShownItem, ...] = ()
    action: str = "recommend"


@dataclass(frozen=True)
class SessionInfo:
    """Who a conversation belongs to and the hash of its bearer token."""

    session_id: str
    user_id: str | None
    token_hash: str | None
    last_active: float = 0.0  # unix time of the last change to the conversation


@dataclass(frozen=True)
class FeedbackRecord:
    """One stored like, dislike or seen mark."""

    session_id: str
    user_id: str | None
    item_id: str
    kind: str
    source: str
    was_shown: bool
