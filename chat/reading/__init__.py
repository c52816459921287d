"""Stage 1 of a turn: read the message. `read(message, state, titles, ...) -> Reading` is the front door; the
other stages import from here only.

The rules' reader (`rules.py`: titles, people, genres, negation, years, critiques, references) reads every
message; question detection (`questions.py`) first, in the context of the question the bot asked.
"""

from __future__ import annotations

from chat.lm.base import Generator
from chat.reading.critique import ATTRIBUTES, Critique, direction_label, era_bounds
from chat.reading.parse import MAX_PICKS, ORDINALS, Mention, Parse
from chat.reading.questions import ItemQuestion, choice, detect_question, names_only, target_of
from chat.reading.reading import Reading
from chat.reading.rules import detect_language, read_rules
from chat.state import DialogueState
from chat.titles import TitleIndex

__all__ = ["ATTRIBUTES", "MAX_PICKS", "ORDINALS", "Critique", "ItemQuestion", "Mention", "Parse", "Reading",
           "detect_language", "direction_label", "era_bounds", "read", "target_of"]


def read(message: str, state: DialogueState, titles: TitleIndex, generator: Generator | None = None,
         lm_mode: str = "never") -> Reading:
    """What `message` says, in the context of `state` (a question the bot is waiting an answer to).

    Args:
        message: the user's message, cleaned (`chat.access.clean_text`).
        state: the dialogue so far; not changed here (`chat.tracking.track` folds the reading in).
        titles: the catalog's titles and people.
        generator: the LM, for what the rules leave unexplained (`lm_mode` "auto"), or always, or never.
    """
    question = detect_question(message)
    pending = state.pending_question
    chosen = choice(message) if pending and question is None else None
    if chosen is not None and pending:
        question = ItemQuestion.from_key(pending)
    # a question needs no preference extraction
    reading = read_rules(message, titles, generator, "never" if question else lm_mode)
    if pending and question is None and names_only(message, reading.parse):
        question = ItemQuestion.from_key(pending)
    reading.question, reading.chosen = question, chosen
    return reading
