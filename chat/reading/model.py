"""The model reader: the generative LM reads a message, in the context of what the bot just showed or asked, into
JSON that must match a schema; the JSON is then grounded in the catalog like the rules' reading.

The LM decides nothing it cannot show: a title must resolve to the catalog and stand in the message (within a
typo), a genre must be one the lexicon knows, a person one the catalog credits, a year one the message writes,
a position one of the list shown. What fails is dropped and logged; the rules' reading of the other fields
stands. With a server the schema goes as `response_format`; the local model decodes under it (constrained
decoding, `TransformersGenerator.complete_json`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from chat.lexicon import GENRES
from chat.lm.base import Generator, Message, complete
from chat.reading.attributes import AttributeReader, Wish
from chat.reading.parse import Mention
from chat.reading.reading import Reading
from chat.reading.rules import genre_of, grounded
from chat.state import DialogueState
from chat.titles import TitleIndex
from common.errors import LMError
from storage.attributes import AttributeSpec
from storage.records import CatalogItem

log = logging.getLogger(__name__)

Opinion = Literal["liked", "disliked", "none"]
Word = Annotated[str, Field(max_length=40)]  # a genre or a name: short, so a small model cannot ramble in one
Seen = Literal["yes", "no", "unknown"]


class ItemRead(BaseModel):
    model_config = {"extra": "forbid"}  # no key beyond these: the JSON stays short

    title: str = Field(max_length=80)
    opinion: Opinion
    seen: Seen


class ShownRead(BaseModel):
    model_config = {"extra": "forbid"}

    position: int = Field(ge=1, le=10)
    opinion: Opinion
    seen: Seen


class AttributeRead(BaseModel):
    """A wish on one of the catalog's declared attributes, as the LM reads it ("under $100": price, high 100)."""

    model_config = {"extra": "forbid"}

    name: Word
    low: float | None = None
    high: float | None = None
    wanted: list[Word] = Field(default_factory=list, max_length=5)
    avoided: list[Word] = Field(default_factory=list, max_length=5)
    value: bool | None = None


class ModelReading(BaseModel):
    """What the LM must answer: only what the message says, every list short."""

    model_config = {"extra": "forbid"}

    items: list[ItemRead] = Field(default_factory=list, max_length=6)
    shown: list[ShownRead] = Field(default_factory=list, max_length=10)
    genres_wanted: list[Word] = Field(default_factory=list, max_length=5)
    genres_avoided: list[Word] = Field(default_factory=list, max_length=5)
    people_wanted: list[Word] = Field(default_factory=list, max_length=5)
    people_avoided: list[Word] = Field(default_factory=list, max_length=5)
    year_min: int | None = None
    year_max: int | None = None
    attributes: list[AttributeRead] = Field(default_factory=list, max_length=6)
    closing: bool = False


SCHEMA: dict[str, Any] = ModelReading.model_json_schema()
MODEL_FIELDS = ("items", "shown", "genres", "people", "years", "attributes", "closing")
SYSTEM = ("You read one message of a user chatting with a recommender and write JSON only. Put in it only what this "
          "message itself says: the titles it names and what the user thinks of each (liked, disliked or none) and "
          "whether they have seen it; reactions to the list the assistant just showed, by position; genres wanted "
          "or avoided; people (directors, authors, actors) wanted or avoided; years asked for; closing is true when "
          "the message only thanks or says goodbye. Leave out anything the message does not say.")


def messages_for(message: str, state: DialogueState, items: Mapping[str, CatalogItem],
                 specs: Mapping[str, AttributeSpec] | None = None) -> list[Message]:
    """The prompt: the catalog's attributes (if it declares any), what the assistant showed last (numbered), then the
    user's message."""
    shown = [items[i] for i in state.last_shown if i in items]
    context = "The assistant just showed:\n" + "\n".join(
        f"{n}. {it.title}" + (f" ({it.year})" if it.year else "") for n, it in enumerate(shown, 1)) if shown else \
        "The assistant has shown nothing yet."
    system = SYSTEM
    if specs:
        described = "; ".join(f"{s.name} ({s.type}{', in ' + s.unit if s.unit else ''}"
                              + (f": {', '.join(list(s.values)[:20])}" if s.values else "") + ")"
                              for s in specs.values() if s.filterable)
        system += (" attributes: wishes on the catalog's attributes, each with its name and a low or high bound "
                   f"(numbers), values wanted or avoided, or a yes/no value. The attributes: {described}.")
    return [{"role": "system", "content": system},
            {"role": "user", "content": f"{context}\n\nThe user's message:\n{message}"}]


def ask(generator: Generator, message: str, state: DialogueState, items: Mapping[str, CatalogItem],
        max_new_tokens: int = 160, specs: Mapping[str, AttributeSpec] | None = None) -> ModelReading | None:
    """The LM's reading under the schema; None when the LM fails or its JSON does not validate."""
    prompt = messages_for(message, state, items, specs)
    try:
        constrained = getattr(generator, "complete_json", None)
        raw = (constrained(prompt, SCHEMA, max_new_tokens) if constrained is not None
               else complete(generator, prompt, max_new_tokens))
    except LMError as exc:
        log.warning("The model reader failed (%s); the rules' reading stands", exc)
        return None
    found = re.search(r"\{.*\}", raw, flags=re.DOTALL)
    try:
        return ModelReading.model_validate(json.loads(found.group(0))) if found else None
    except (ValueError, ValidationError) as exc:
        log.info("The model reader's JSON did not validate (%s); the rules' reading stands", str(exc)[:200])
        return None


def ground(read: ModelReading, message: str, state: DialogueState, titles: TitleIndex, fields: frozenset[str],
           reading: Reading, attributes: AttributeReader | None = None) -> list[str]:
    """Put what the LM read into `reading`, in `fields` (of MODEL_FIELDS), keeping only what the catalog and the
    message back; returns what was dropped, for the log."""
    dropped: list[str] = []
    p = reading.parse
    if "items" in fields:
        mentions = []
        for it in read.items:
            hits = titles.find(f"\"{it.title}\"") if grounded(it.title, message) else []
            if not hits:
                dropped.append(f"title {it.title!r}")
                continue
            item = hits[0][2]
            polarity = {"liked": "like", "disliked": "dislike"}.get(it.opinion, "neutral")
            mentions.append(Mention(item.id, it.title, polarity, it.seen == "yes"))
        p.mentions = mentions
    if "shown" in fields:
        p.ordinal_refs = [(s.position - 1, {"liked": "like", "disliked": "dislike"}.get(s.opinion, "seen"))
                          for s in read.shown if s.position <= len(state.last_shown)
                          and (s.opinion != "none" or s.seen == "yes")]
    if "genres" in fields:
        wanted = [g for g in (genre_of(x) for x in read.genres_wanted if grounded(x, message)) if g in GENRES]
        avoided = [g for g in (genre_of(x) for x in read.genres_avoided if grounded(x, message)) if g in GENRES]
        dropped += [f"genre {x!r}" for x in [*read.genres_wanted, *read.genres_avoided] if genre_of(x) is None]
        p.genres_wanted, p.genres_avoided = list(dict.fromkeys(wanted)), list(dict.fromkeys(avoided))
    if "people" in fields:
        people = {name: person for _a, _b, person in titles.find_people(message) for name in (person,)}
        p.people_wanted = [people[x] for x in read.people_wanted if x in people]
        p.people_avoided = [people[x] for x in read.people_avoided if x in people]
        dropped += [f"person {x!r}" for x in [*read.people_wanted, *read.people_avoided] if x not in people]
    if "years" in fields:
        written = {int(y) for y in re.findall(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)", message)}
        p.year_min = read.year_min if read.year_min in written else None
        p.year_max = read.year_max if read.year_max in written else None
    if "attributes" in fields and attributes is not None:
        reading.attributes.wishes = ground_attributes(read.attributes, message, attributes, dropped)
    if "closing" in fields:
        p.closing = read.closing
    return dropped


def ground_attributes(read: list[AttributeRead], message: str, reader: AttributeReader,
                      dropped: list[str]) -> dict[str, Wish]:
    """The LM's attribute wishes that the message backs: a declared attribute; a bound that is a number the message
    writes (in any unit the attribute declares); a value the message names in the catalog's words; a yes/no the
    message says in the attribute's words."""
    lowered = message.lower()
    written = [float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", message)]
    named = reader.read(message).wishes  # what the catalog's own words find in the message
    out: dict[str, Wish] = {}
    for a in read:
        spec = reader.specs.get(a.name)
        if spec is None:
            dropped.append(f"attribute {a.name!r}")
            continue
        factors = {1.0, *spec.units.values()}
        wish = Wish()
        for side in ("low", "high"):
            value = getattr(a, side)
            if value is not None and any(abs(value - round(n * f, 2)) < 0.01 for n in written for f in factors):
                setattr(wish, side, value)
            elif value is not None:
                dropped.append(f"{a.name} {side} {value}")
        found = named.get(a.name, Wish())
        wish.any_of = [v for v in a.wanted if v in found.any_of + found.none_of]
        wish.none_of = [v for v in a.avoided if v in found.any_of + found.none_of]
        if a.value is not None and any(w in lowered for w in spec.all_words(spec.yes) + spec.all_words(spec.no)):
            wish.value = a.value
        if wish != Wish():
            out[a.name] = wish
    return out
