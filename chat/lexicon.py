"""Word lists for the deterministic reader, loaded from chat/languages/ (one file per language): genres, original
languages, domains, polarity, seen and era cues, plus what is derived from them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from chat.languages import merged, per_language
from retrieval.index import COMPOUND_SEP

HAN = re.compile(r"[\u3400-\u9fff]")  # a Chinese character: Chinese text, a Chinese genre form or title

# canonical genre -> surface forms (lowercase English words/phrases, then Chinese strings), from chat/languages/
GENRES: dict[str, tuple[str, ...]] = merged("genres")

# A kind that is two genres at once: "romcoms", "romantic comedies", "sci-fi horror". Ruled out, only
# movies with every part go ("no romcoms" keeps plain comedies); the key joins the sorted parts with "+".
COMPOUND_LABELS: dict[str, dict[str, str]] = per_language("compound_labels")  # key -> {language: label}


def compound_genre(genres: Iterable[str]) -> str:
    """The one key for a set of genres: the genre itself, or the sorted parts joined ("comedy+romance")."""
    return COMPOUND_SEP.join(sorted(set(genres)))


def genre_parts(key: str) -> tuple[str, ...]:
    """The genres a key stands for: ("horror",) or ("comedy", "romance")."""
    return tuple(key.split(COMPOUND_SEP))


# original language (ISO 639-1, as catalog records give it) -> how people ask for it ("Korean thrillers",
# "French films", "日本电影"); nationalities stand for their main language
LANGUAGES: dict[str, tuple[str, ...]] = merged("languages")
DOMAINS: dict[str, tuple[str, ...]] = merged("domains")
_CUES = merged("cues")
# cues that make the nearest following target negative ("no horror", "hated Titanic", "不喜欢恐怖片")
NEGATION_BEFORE: tuple[str, ...] = _CUES["negation_before"]
# cues that make the target just before them negative ("Titanic was boring", "《泰坦尼克号》那种我不喜欢")
NEGATION_AFTER: tuple[str, ...] = _CUES["negation_after"]
SEEN_CUES: tuple[str, ...] = _CUES["seen"]
FOR_CHILDREN_CUES: tuple[str, ...] = _CUES["for_children"]  # "with my kids", "合家欢": a list for children
GREETINGS: tuple[str, ...] = _CUES["greetings"]
# eras asked for: relative to what was shown ("older ones"), or as such ("classics")
ERA_CUES: dict[str, tuple[str, ...]] = {era: _CUES[era] for era in ("older", "newer", "classic", "recent")}
_ENDS_CLAUSE = sorted(_CUES["clause_breaks"], key=lambda w: not HAN.search(w))  # words, then Chinese (no \b)
# "anything but comedy" is one clause
CLAUSE_BREAKS = (r"(?:[.!?;,。！？；，、\n]|(?<!anything )(?<!everything )\b(?:"
                 + "|".join(re.escape(w) for w in _ENDS_CLAUSE if not HAN.search(w)) + r")\b|"
                 + "|".join(re.escape(w) for w in _ENDS_CLAUSE if HAN.search(w)) + ")")

_WORDS = merged("words")
# words that never carry a preference on their own (used to decide if a message says anything)
STOPWORDS: frozenset[str] = frozenset(_WORDS["stopwords"])
# common words: a title made only of these must be capitalised or quoted to count as a mention
COMMON_WORDS: frozenset[str] = STOPWORDS | frozenset(_WORDS["common"])
# sentiment words that are also single-word titles in big catalogs ("Loved", "Fun")
SENTIMENT_WORDS: frozenset[str] = frozenset(_WORDS["sentiment"])
# one-word genre forms ("comedy", "scary", "disney")
GENRE_WORDS: frozenset[str] = frozenset(f for forms in GENRES.values() for f in forms if " " not in f)
NEGATION_WORDS: frozenset[str] = frozenset(c for c in NEGATION_BEFORE if " " not in c)  # "not", "never", "hate"
# words a one-word title must not be matched by unless it is capitalised or quoted
LEXICON_WORDS: frozenset[str] = (
    COMMON_WORDS | SENTIMENT_WORDS
    | GENRE_WORDS
    | frozenset(w for words in DOMAINS.values() for w in words)
    | NEGATION_WORDS
)


_GENRE_FORMS = sorted(((f, g) for g, forms in GENRES.items() for f in forms), key=lambda fg: -len(fg[0]))


def genres_named(text: str) -> set[str]:
    """Canonical genres whose surface forms appear in `text` ("funny" -> comedy, "科幻" -> sci-fi)."""
    lowered = text.lower()
    found = set()
    for form, genre in _GENRE_FORMS:
        pattern = re.escape(form) if HAN.search(form) else r"(?<![a-z-])" + re.escape(form) + r"(?![a-z-])"
        if re.search(pattern, lowered):
            found.add(genre)
            lowered = re.sub(pattern, " ", lowered)
    return found
