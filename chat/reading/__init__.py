"""Stage 1 of a turn: read the message. `read(message, state, titles, ...) -> Reading` is the front door; the
other stages import from here only.

The rules' reader (`rules.py`: titles, people, genres, negation, years, critiques, references) reads every
message; question detection (`questions.py`) first, in the context of the question the bot asked. The taught
reader (`opinions.py`) then reads what the user thinks of each item in play, in the fields where it was measured
to read better than the rules.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chat.lm.base import Generator
from chat.reading import model as model_reader
from chat.reading.attributes import AttributeReader, AttributeReading, Wish
from chat.reading.critique import ATTRIBUTES, Critique, direction_label, era_bounds
from chat.reading.opinions import FIELDS as OPINION_FIELDS
from chat.reading.opinions import OpinionModel, windows
from chat.reading.parse import MAX_PICKS, ORDINALS, Mention, Parse
from chat.reading.questions import ItemQuestion, choice, detect_question, names_only, target_of
from chat.reading.reading import Reading
from chat.reading.rules import detect_language, read_rules
from chat.state import DialogueState
from chat.titles import TitleIndex
from storage.records import CatalogItem

log = logging.getLogger(__name__)

LM_FIELDS = model_reader.MODEL_FIELDS

__all__ = ["ATTRIBUTES", "LM_FIELDS", "MAX_PICKS", "OPINION_FIELDS", "ORDINALS", "AttributeReader",
           "AttributeReading", "Critique", "ItemQuestion", "Mention", "OpinionModel", "Parse", "Reading", "Taught",
           "Wish", "detect_language", "direction_label", "era_bounds", "read", "target_of"]


@dataclass(frozen=True)
class Taught:
    """The taught reader and the fields it reads for this engine (`reader` setting and its measurement)."""

    model: OpinionModel
    fields: frozenset[str]


def read(message: str, state: DialogueState, titles: TitleIndex, generator: Generator | None = None,
         lm_mode: str = "never", taught: Taught | None = None,
         items: Mapping[str, CatalogItem] | None = None, lm_fields: frozenset[str] = frozenset(),
         attributes: AttributeReader | None = None) -> Reading:
    """What `message` says, in the context of `state` (a question the bot is waiting an answer to, the list it
    showed last).

    Args:
        message: the user's message, cleaned (`chat.access.clean_text`).
        state: the dialogue so far; not changed here (`chat.tracking.track` folds the reading in).
        titles: the catalog's titles and people.
        generator: the LM, for what the rules leave unexplained (`lm_mode` "auto"), or always, or never.
        taught: the taught reader, for the fields it reads; `items` the catalog (the titles of the list shown).
        lm_fields: the fields the generative LM reads (`chat/reading/model.py`), from JSON under a schema, grounded
            in the catalog; the rules read the others.
        attributes: the reader of the catalog's declared attributes (price, colour, in stock), if it has any.
    """
    question = detect_question(message)
    asked = attributes.question(message) if attributes is not None and (question is None or question.kind != "why") \
        else None
    if asked:
        question = ItemQuestion("attribute", attribute=asked)
    pending = state.pending_question
    chosen = choice(message) if pending and question is None else None
    if chosen is not None and pending:
        question = ItemQuestion.from_key(pending)
    # a question needs no preference extraction
    reading = read_rules(message, titles, generator, "never" if question else lm_mode)
    if pending and question is None and names_only(message, reading.parse):
        question = ItemQuestion.from_key(pending)
    reading.question, reading.chosen = question, chosen
    if attributes is not None and question is None:
        rest = message
        for m in reading.parse.mentions:  # a title's words are no wish: "the Northpeak jacket" asks for no brand
            rest = re.sub(re.escape(m.surface), " ", rest, flags=re.IGNORECASE)
        reading.attributes = attributes.read(rest)
    if generator is not None and lm_fields and question is None:
        read_with_model(reading, message, state, titles, generator, lm_fields, items or {}, attributes)
    if taught is not None and taught.fields and question is None:
        read_opinions(reading, message, state, taught, items or {})
    return reading


def read_with_model(reading: Reading, message: str, state: DialogueState, titles: TitleIndex, generator: Generator,
                    fields: frozenset[str], items: Mapping[str, CatalogItem],
                    attributes: AttributeReader | None = None) -> None:
    """The generative LM's reading of `fields`, grounded, in place of the rules' (which stand if it fails)."""
    answer = model_reader.ask(generator, message, state, items, specs=attributes.specs if attributes else None)
    if answer is None:
        return
    dropped = model_reader.ground(answer, message, state, titles, fields, reading, attributes)
    reading.lm_used, reading.lm_valid = True, True
    if dropped:
        kinds = sorted({d.split()[0] for d in dropped})  # which kinds, never the words: they are the user's
        log.info("The model reader's %s not grounded in the message or the catalog: %d dropped", ", ".join(kinds),
                 len(dropped))


def read_opinions(reading: Reading, message: str, state: DialogueState, taught: Taught,
                  items: Mapping[str, CatalogItem]) -> None:
    """Add the taught reader's judgements of the items in play to `reading`."""
    from chat.tracking import track

    after = state.model_copy(deep=True)  # what the rules read of each item
    track(reading, after, items)
    shown = [(i, [items[i].title, items[i].original_title or ""]) for i in state.last_shown if i in items]
    found = windows(message, [(m.item_id, m.surface) for m in reading.parse.mentions], state.last_reply, shown,
                    after)
    try:
        reading.opinions = taught.model.judge(found)
        reading.model_fields = taught.fields
    except (OSError, RuntimeError) as exc:  # a broken model folder: the rules' reading stands
        log.warning("The taught reader failed (%s); the rules' reading stands", exc)
