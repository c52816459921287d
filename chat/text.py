"""Text helpers every stage shares: normalised forms, word frequencies, cue patterns, content words."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from wordfreq import zipf_frequency

from chat.lexicon import DOMAINS, GREETINGS, STOPWORDS

CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
TOKEN = re.compile(r"[0-9a-z\u00c0-\u024f]+(?:'[a-z]+)?")
ARTICLE = re.compile(r"^(?:the|a|an) ")

# Zipf frequencies (log10 of uses per billion words, wordfreq): at or above KNOWN a word is spelled right
# (no typo to guess: "havent" is not "Haven", "every" is not "Everly"); a one-word title at or above
# COMMON ("saw", "hope", "fan") or a two-word one of words at or above VERY_COMMON ("date night") is
# read as a title only when typed as one: with a capital, not at the start of a sentence, or quoted.
KNOWN_ZIPF, COMMON_ZIPF, VERY_COMMON_ZIPF = 3.4, 4.4, 5.0
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def plain_text(text: str) -> str:
    """NFKC with typographic apostrophes made ASCII, one character for one: phones type "didn\u2019t", and
    "haven\u2019t" must not read as the title "Haven" plus "t", nor lose its negation."""
    return unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)


def normalise(text: str) -> str:
    """Casefolded, accent-free, punctuation-free form used to compare titles."""
    text = unicodedata.normalize("NFKC", text).lower().replace("&", " and ")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"'", "", text)
    text = re.sub(r"[^\w\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+", " ", text)
    return ARTICLE.sub("", " ".join(text.split()))


_NUMBER_WORD = re.compile(r"\d+(?:s|th|st|nd|rd)?")
_VIEWING = frozenset({"seen", "saw", "watched", "rewatched", "already", "finished"})  # "seen it" says no taste


def content_words(text: str) -> list[str]:
    """Words that may carry a preference (not stopwords, not greetings); CJK runs count as words."""
    lowered = text.lower()
    words = [w for w in TOKEN.findall(lowered)
             if w not in STOPWORDS and w not in GREETINGS and w not in _VIEWING and len(w) > 1
             and not _NUMBER_WORD.fullmatch(w)]  # "from the 90s" is a year range, not a taste to embed
    cjk = re.findall(r"[\u3400-\u9fff]{2,}", lowered)
    cjk = [c for c in cjk if c not in GREETINGS and not any(c == d for ds in DOMAINS.values() for d in ds)]
    cjk = [c for c in cjk if c not in ("推荐", "我想", "想看", "给我", "一部", "一本", "什么", "有什么", "推荐一下")]
    return words + cjk


def zipf(word: str) -> float:
    return float(zipf_frequency(word, "en"))


def cue_pattern(cue: str, word_chars: str = "a-z") -> str:
    """A regex for `cue` as a whole word: no `word_chars` (a character class body) on either side.
    A cue in a CJK script matches anywhere, since those scripts do not put spaces between words."""
    if CJK.search(cue):
        return re.escape(cue)
    return rf"(?<![{word_chars}]){re.escape(cue)}(?![{word_chars}])"


def cue_positions(lowered: str, cues: Sequence[str]) -> list[tuple[int, int]]:
    found = []
    for cue in cues:
        found += [(m.start(), m.end()) for m in re.finditer(cue_pattern(cue), lowered)]
    return found

