"""The two reference rankers of the ReDial protocol: popularity (from training counts only) and repeat."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from evaluation.dialogues import Dialogue, MentionResolver


def mention_counts(dialogues: Iterable[Dialogue], resolver: MentionResolver) -> Counter[str]:
    """In how many conversations each catalog item is named (either side)."""
    counts: Counter[str] = Counter()
    for d in dialogues:
        ids = {resolver.item_id(raw) for raw in d.mentioned_ids()}
        counts.update(i for i in ids if i is not None)
    return counts


class PopularityBaseline:
    """Most-named items first; counts come from training dialogues only."""

    def __init__(self, counts: Counter[str]) -> None:
        self.order = [item_id for item_id, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]

    def rank(self, context: Sequence[str], k: int, exclude_context: bool) -> list[str]:
        if not exclude_context:
            return self.order[:k]
        gone = set(context)
        out = []
        for item_id in self.order:
            if item_id not in gone:
                out.append(item_id)
                if len(out) == k:
                    break
        return out


class RepeatBaseline:
    """Ranks the movies already named in the conversation, most recent first (nothing else)."""

    def rank(self, context: Sequence[str], k: int, exclude_context: bool) -> list[str]:
        return [] if exclude_context else list(reversed(context))[:k]
