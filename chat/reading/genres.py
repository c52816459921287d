"""Genre and language words in a message, typos and kinds of two genres ("romcom") included."""

from __future__ import annotations

import re
from collections.abc import Sequence

from rapidfuzz import process
from rapidfuzz.distance import OSA

from chat.lexicon import GENRE_WORDS, GENRES, LANGUAGES, NEGATION_WORDS, SENTIMENT_WORDS, STOPWORDS
from chat.text import CJK, cue_pattern, zipf

_NO_PLURAL = frozenset({"war"})  # "wars" in film chat is Star Wars far more often than war films


def _genre_form_pattern(form: str) -> str:
    """A genre form as a whole word, its plural too ("detectives", "romcoms", "space operas")."""
    if CJK.search(form):
        return re.escape(form)
    if form in _NO_PLURAL or form.endswith("s"):
        body = re.escape(form)
    elif form.endswith("y") and form[-2:-1] not in ("a", "e", "i", "o", "u"):
        body = re.escape(form[:-1]) + "(?:y|ies)"
    else:
        body = re.escape(form) + "(?:e?s)?"
    return rf"(?<![a-z-]){body}(?![a-z-])"


_GENRE_PATTERNS = [(re.compile(_genre_form_pattern(form)), genre) for genre, forms in GENRES.items() for form in forms]
_LANGUAGE_PATTERNS = [(re.compile(cue_pattern(form, "a-z-")), code) for code, forms in LANGUAGES.items()
                      for form in forms]

# a misspelt genre word ("funy", "horor", "thriler", "comdey") is one edit (a transposition counts as one) from
# a form of TYPO_MIN_FORM letters or more, and no English word (Zipf below TYPO_MAX_ZIPF: "acton" is a name)
TYPO_MIN_FORM, TYPO_MAX_ZIPF = 5, 2.5
_TYPO_FORMS = {variant: genre for genre, forms in GENRES.items() for form in forms
               if " " not in form and len(form) >= TYPO_MIN_FORM and not CJK.search(form)
               for variant in (form, form + "s")}
_TYPO_CHOICES = tuple(_TYPO_FORMS)
_WORD = re.compile(r"(?<![a-z-])[a-z]{4,}(?![a-z-])")


def genre_spans(lowered: str) -> list[tuple[int, int, str]]:
    spans = [(m.start(), m.end(), genre) for pattern, genre in _GENRE_PATTERNS for m in pattern.finditer(lowered)]
    for m in _WORD.finditer(lowered):
        word = m.group()
        if word in _TYPO_FORMS or any(a < m.end() and m.start() < b for a, b, _ in spans) \
                or zipf(word) >= TYPO_MAX_ZIPF:
            continue
        found = process.extractOne(word, _TYPO_CHOICES, scorer=OSA.distance, score_cutoff=1)
        if found:
            spans.append((m.start(), m.end(), _TYPO_FORMS[found[0]]))
    return spans


_JOINED = re.compile(r"[\s-]*")  # what may stand between two genre words that name one kind ("sci-fi horror")


def genre_groups(lowered: str) -> list[tuple[int, int, list[str]]]:
    """Genre spans, with one form of two genres ("romcom") and genre words side by side ("romantic comedies",
    "sci-fi horror") merged into one group: (start, end, genres in the order said)."""
    groups: list[tuple[int, int, list[str]]] = []
    for a, b, genre in sorted(genre_spans(lowered)):
        if groups and (a < groups[-1][1] or _JOINED.fullmatch(lowered[groups[-1][1]:a])):
            start, end, genres = groups[-1]
            groups[-1] = (start, max(end, b), genres if genre in genres else [*genres, genre])
        else:
            groups.append((a, b, [genre]))
    return groups


def names_genre(form: str, genres: Sequence[str]) -> bool:
    """Whether `form` is a genre's own name (or its plural): "horror", "comedies", not "scary" or "gory"."""
    return any(form in (g, g + "s", g + "es", g[:-1] + "ies") for g in genres)


_NOT_DESCRIBING = STOPWORDS | SENTIMENT_WORDS | GENRE_WORDS | NEGATION_WORDS | {"much", "many", "any", "those", "these",
                                                                                "such"}


def described(lowered: str, start: int) -> bool:
    """Whether the genre word at `start` follows a word describing it: "not grossout comedies" (a kind of
    comedy ruled out), not "no comedies" or "don't like comedies"."""
    words = re.findall(r"[\w'-]+", lowered[max(0, start - 40):start])
    return bool(words) and words[-1] not in _NOT_DESCRIBING and not words[-1].isdigit()


def language_spans(lowered: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), code) for pattern, code in _LANGUAGE_PATTERNS for m in pattern.finditer(lowered)]

