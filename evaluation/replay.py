"""Replay a ReDial conversation through the live state tracking, stopping before each recommender turn.

At every recommender message that mentions catalog movies, `ReplayTurn` carries the dialogue state
built from the earlier messages only; the message itself is folded in after the ranking was made.
Seeker messages go through the same `understand` + `apply` as a live user message (mentions resolved
from `@id` to the catalog item, polarity read by the linker); recommender messages update what was
shown, as the live engine does after recommending.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from chat.lexicon import SEEN_CUES
from chat.lm.base import Generator
from chat.reading import Taught, read_opinions, read_with_model
from chat.reading.negation import clause_of, polarity
from chat.reading.parse import Mention
from chat.reading.rules import read_rules
from chat.state import DialogueState
from chat.text import cue_positions, plain_text
from chat.titles import TitleIndex
from chat.tracking import track
from evaluation.dialogues import Dialogue, MentionResolver


@dataclass(frozen=True)
class ReplayTurn:
    """One prediction point: the state from the context, the context's movies, and the targets."""

    dialogue_id: str
    message_index: int
    state: DialogueState
    context_ids: tuple[str, ...]  # catalog movies named earlier (by either side), most recent last
    targets: tuple[str, ...]  # catalog movies named in the recommender message being predicted
    fold_seconds: float  # time spent folding the seeker messages since the previous prediction point


class Replayer:
    """Folds messages into a `DialogueState` exactly like a live session would."""

    def __init__(self, titles: TitleIndex, resolver: MentionResolver, generator: Generator | None = None,
                 lm_mode: str = "never", taught: Taught | None = None, lm_fields: frozenset[str] = frozenset()
                 ) -> None:
        self.titles, self.resolver, self.generator, self.lm_mode = titles, resolver, generator, lm_mode
        self.taught = taught  # the taught reader and its fields, as in live chat
        self.lm_fields = lm_fields  # the fields the generative LM reads (reader=model), as in live chat

    def fold_seeker(self, text: str, state: DialogueState) -> None:
        resolved, spans = self.resolver.resolve(text)
        if not resolved.strip():
            return
        u = read_rules(resolved, self.titles, self.generator, self.lm_mode)
        lowered = plain_text(resolved).lower()
        exact = []
        targets = [*u.parse.targets, *((a, b) for a, b, _ in spans)]
        for a, b, item_id in spans:
            seen = bool(cue_positions(clause_of(lowered, a), SEEN_CUES))
            exact.append(Mention(item_id, resolved[a:b], polarity(lowered, a, b, targets), seen))
        # the `@id` mention is the truth for its span; free-text titles the linker found elsewhere stay
        covered = {resolved[a:b] for a, b, _ in spans}
        exact_ids = {m.item_id for m in exact}
        u.parse.mentions = exact + [m for m in u.parse.mentions
                                    if m.surface not in covered and m.item_id not in exact_ids]
        if self.generator is not None and self.lm_fields:
            read_with_model(u, resolved, state, self.titles, self.generator, self.lm_fields, self.resolver.items)
        if self.taught is not None and self.taught.fields:
            read_opinions(u, resolved, state, self.taught, self.resolver.items)
        track(u, state, self.resolver.items)  # as the live engine: "older ones" is relative to what was shown
        state.turns += 1

    def fold_recommender(self, text: str, state: DialogueState) -> None:
        resolved, spans = self.resolver.resolve(text)
        ids = list(dict.fromkeys(item_id for _a, _b, item_id in spans))
        if ids:
            state.last_shown = ids
            state.last_reply = resolved
            state.shown += [i for i in ids if i not in state.shown]

    def turns(self, dialogue: Dialogue) -> Iterator[ReplayTurn]:
        """Prediction points of one conversation, in order."""
        import time

        state = DialogueState()
        context: list[str] = []
        folded = 0.0
        for index, message in enumerate(dialogue.messages):
            targets = self.resolver.ids_in(message.text) if message.from_recommender else []
            if targets:
                yield ReplayTurn(dialogue.conversation_id, index, state.model_copy(deep=True), tuple(context),
                                 tuple(targets), folded)
                folded = 0.0
            t = time.perf_counter()
            if message.from_recommender:
                self.fold_recommender(message.text, state)
            else:
                self.fold_seeker(message.text, state)
            folded += time.perf_counter() - t
            for item_id in self.resolver.ids_in(message.text):
                if item_id in context:
                    context.remove(item_id)
                context.append(item_id)
