"""Negation scope: whether a cue word before or after a target, in its clause, turns it down."""

from __future__ import annotations

import re
from collections.abc import Sequence

from chat.lexicon import CLAUSE_BREAKS, NEGATION_AFTER, NEGATION_BEFORE
from chat.text import cue_positions

# "never saw", "haven't seen", "not heard of", "never knew": a negation about having watched or known, not about
# liking; "it doesn't have to be animated" allows, it does not rule out
_UNSEEN = re.compile(r"\b(?:never|not|haven't|havent|have not|hasn't|didn't|didnt|did not|not yet)\s+"
                     r"(?:yet\s+)?(?:saw|seen|see|watched|watch|read|heard|knew|know)\b"
                     r"|\b(?:doesn't|doesnt|does not|don't|dont|do not)\s+(?:have|need)\s+to\s+be\b")

# "No I was looking for a scary movie", "no that's a funny title": a leading "no" before a subject answers
# the other side's question; it negates nothing in the sentence (unlike "no horror")
_ANSWER_NO = re.compile(r"^\s*(?:no|nope|nah)\b(?=[\s,]+(?:i|i'm|im|i've|ive|i'd|id|that|that's|thats|it|it's|its|we|"
                        r"they|you|he|she|this|those|these)\b)")

# a question or a new subject after a negation starts what the negation does not reach, where people type
# without punctuation: "I don't really like action movies do you know of another comedy", "I have not are
# there any good comedies", "it dont matter as long as it's a great horror flick"
_NEGATION_ENDS = re.compile(r"\b(?:(?:do|does|did|have|has|can|could|would|will|are|is)\s+(?:you|there|they)|"
                            r"how about|what about|as long as|it's|that's|thats)\b")

# after a negation has reached a target, a new subject between it and a later target ends its reach; so does
# praise right after the later target (see `polarity`)
_NEW_SUBJECT = re.compile(r"\b(?:i|i'm|im|i'd|i've|you|he|she|we|they|his|her|their|my|our)\b")
_PRAISED = re.compile(r"\s*(?:would|will|could|might)\s+be\s+(?:\w+\s+)?(?:good|great|nice|fun|awesome|perfect|cool|"
                      r"fine|ok|okay)\b|\s*(?:sounds?|seems?)\s+(?:\w+\s+)?(?:good|great|fun|awesome|cool)\b")


def clauses(text: str) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for m in re.finditer(CLAUSE_BREAKS, text, flags=re.IGNORECASE):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(text)))
    return [(a, b) for a, b in bounds if b > a]


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group())  # keeps offsets, so spans found in the text still line up


def polarity(lowered: str, start: int, end: int, targets: Sequence[tuple[int, int]] = ()) -> str:
    """'dislike' when a negation cue precedes the target in its clause (or follows it), else 'like'.
    Not having seen a film says nothing against it: "I never saw The Matrix" is no rejection.

    `targets` are the message's other spans a negation can be about (titles, people, genres, "those
    movies"): a negation that reached one of them before this target stops there when a new subject
    starts between them ("I don't like Chevy Chase as a person his older movies were very funny") or
    this target is then praised ("not really into those movies a musical would be good")."""
    for a, b in clauses(lowered):
        if a <= start < b or (a <= start and end <= b):
            before_text = _ANSWER_NO.sub(_blank, _UNSEEN.sub(_blank, lowered[a:start]))
            last_end = max((m.end() for m in _NEGATION_ENDS.finditer(before_text)), default=0)
            before = cue_positions(before_text[last_end:], NEGATION_BEFORE)
            after = cue_positions(lowered[end:b], NEGATION_AFTER)
            if before and not after:
                cue_end = a + last_end + max(e for _s, e in before)
                reached = [e for s, e in targets if cue_end <= s and e <= start]
                if reached and (_NEW_SUBJECT.search(lowered[max(reached):start]) or
                                _PRAISED.match(lowered[end:b])):
                    return "like"
            return "dislike" if before or after else "like"
    return "like"


def clause_of(lowered: str, pos: int) -> str:
    for a, b in clauses(lowered):
        if a <= pos < b:
            return lowered[a:b]
    return ""

