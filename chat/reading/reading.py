"""The one output of the reading stage: what a message says, grounded in the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

from chat.reading.attributes import AttributeReading
from chat.reading.critique import Critique
from chat.reading.opinions import Judgement
from chat.reading.parse import Parse
from chat.reading.questions import ItemQuestion


@dataclass
class Reading:
    """Everything one message says: items named and what the user thinks of each (reactions to items just shown,
    seen or not), genres, people, languages, years, critiques, references, a question about an item, closing.

    Every item resolves to the catalog and every value comes from the message; which reader gave what is in
    `sources`.
    """

    parse: Parse
    language: str
    critique: Critique = field(default_factory=Critique)
    attributes: AttributeReading = field(default_factory=AttributeReading)  # "under $100", "in blue", "cheaper"
    question: ItemQuestion | None = None  # a question about an item ("who directed the second one?")
    chosen: int | None = None  # the index a bare "2" picks in answer to "Which one do you mean?"
    lm_used: bool = False
    lm_valid: bool | None = None
    added_from_lm: list[str] = field(default_factory=list)
    # the taught reader's judgements of the items in play, and the fields it reads (the rules read the others)
    opinions: list[Judgement] = field(default_factory=list)
    model_fields: frozenset[str] = frozenset()
