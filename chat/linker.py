"""Deterministic understanding of a user message: titles, genres, polarity, domain, years, references.

Fuzzy title matching copes with typos, missing years, a dropped leading article and CJK
titles; negation is decided per clause from cue words before or after each target.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from wordfreq import zipf_frequency

from chat.lexicon import (
    CLAUSE_BREAKS,
    DOMAINS,
    GENRE_WORDS,
    GENRES,
    GREETINGS,
    LANGUAGES,
    LEXICON_WORDS,
    NEGATION_AFTER,
    NEGATION_BEFORE,
    NEGATION_WORDS,
    SEEN_CUES,
    SENTIMENT_WORDS,
    STOPWORDS,
    compound_genre,
)
from retrieval.ranking import item_people
from storage.records import CatalogItem

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
_TOKEN = re.compile(r"[0-9a-z\u00c0-\u024f]+(?:'[a-z]+)?")
_QUOTED = re.compile(r"《([^》]{1,80})》|\"([^\"]{2,80})\"|“([^”]{2,80})”|「([^」]{1,80})」")
_DIGITS = re.compile(r"\d+")
_ARTICLE = re.compile(r"^(?:the|a|an) ")
ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
            "fifth": 4, "5th": 4, "last": -1, "第一": 0, "第二": 1, "第三": 2, "第四": 3, "第五": 4, "最后": -1}
_ORDINAL_RE = re.compile(r"\b(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last)\s+(?:one|movie|film|book)\b"
                         r"|(第[一二三四五]|最后)(?:个|部|本|一个|一部|一本)")
_THAT_ONE = re.compile(r"\b(?:that|this) one\b|\bthat movie\b|\bthat book\b|这个|这部|这本|那个|那部|那本")
_SEEN_THEM = re.compile(r"\b(?:seen|watched|read|saw)\b|看过|读过")
_SEEN_IT = re.compile(r"\b(?:seen|watched|read) (?:it|that|this)\b|看过了|读过了|已经看过|已经读过")
_ALL_SHOWN = re.compile(r"\b(?:all|both|any|none|each|every one) of (?:those|them|these|the above)\b"
                        r"|\ball (?:three|five)\b|\bthose (?:all|both)\b"
                        r"|\b(?:seen|watched|read) (?:them|those|these)(?: all| both)?\b"
                        r"|(?:都|全都|全部)(?:看过|读过|不喜欢|不想看|不感兴趣|喜欢)")
# a negation whose subject (at the start of its clause) is the list just shown says what the list lacks:
# "those aren't really comedies", "they're not scary enough", 「这些不算科幻」 want the genre,
# as does "not enough action"
_SHOWN_LACKS = re.compile(r"^\s*(?:(?:but|and|well|no|nah|yeah|yes|ok|okay|hmm|honestly|sadly|sorry|though|so)\W+)*"
                          r"(?:th(?:ose|ese|ey|em)(?: ones?)?|that(?: one)?|this(?: one)?|it)"
                          r"(?:\s+(?:are|is|were|was|seem|seems|look|looks|feel|feels)|['’](?:re|s))?\s*(?:n['’]t|\s+not)"
                          r"\s+(?:really\s+|quite\s+|exactly\s+|very\s+|so\s+|that\s+|all that\s+)?(?:an?\s+)?$"
                          r"|(?<![a-z])not\s+enough\s+$"
                          r"|(?:这些|那些|这几部|这几本|它们|这部|那部|这本|那本)都?(?:不算|不是|不够|算不上)(?:真正的)?$")
_ENOUGH = re.compile(r"\s+enough\b")
# "Not those.", "something else" and "not really my thing" turn the last list down as a whole, without a word
# against any film of it
_NOT_THOSE = re.compile(r"(?<![a-z'’])not (?:th(?:ose|ese)(?: ones?)?|them)\b|\bsomething (?:else|different)\b"
                        r"|\bnot (?:really |quite )?(?:my|our) (?:thing|cup of tea|style|taste)\b|\bnot for (?:me|us)\b"
                        r"|\b(?:those|these|they)(?: all)? (?:look|sound|seem)s? (?:boring|dull|lame|bad|awful|meh)\b"
                        r"|\bdifferent ones?\b|(?:不要|不是|不想要)(?:这些|这几部|这几本|这几个)"
                        r"|换一批|换一些|换几部|换几本")
_THANKS = re.compile(r"\b(?:thanks|thank|thx|ty|bye|goodbye|cheers)\b|谢谢|多谢|谢啦|再见|拜拜")
_CLOSING_WORDS = frozenset([
    "thanks", "thank", "you", "thx", "ty", "bye", "goodbye", "cheers", "so", "much", "a", "lot", "very", "ok",
    "okay", "great", "perfect", "awesome", "cool", "nice", "lovely", "wonderful", "excellent", "will", "do", "i",
    "i'll", "check", "them", "out", "it", "that's", "all", "for", "now", "sounds", "good"
])
_CLOSING_CJK = re.compile(r"谢谢|多谢|谢啦|再见|拜拜|好的|太好了|你|了|啦|啊|！|。")
MAX_PICKS = 10  # "give me 50 movies" still gets ten
_COUNTS = {"just one": 1, "only one": 1, "a couple of": 2, "a couple": 2, "two": 2, "three": 3, "four": 4, "five": 5,
           "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_TOLD = re.compile(r"\b(?:watched|saw|seen|read|liked|loved|enjoyed|hated|disliked|finished|own|have)\b"
                   r"|看过|读过|喜欢过")
_ANOTHER = re.compile(r"\b(?:another|others|something else|more like|different ones?|other ones?)\b"
                      r"|换一|别的|其他|再来")
_DECADE = re.compile(r"\b(?:(19|20)?([0-9])0)'?s\b|([0-9]{2})年代")
_BEFORE = re.compile(r"\b(?:before|until|older than|earlier than|pre)[- ](\d{4})\b|(\d{4})\s*年(?:以前|之前)"
                     r"|\b(\d{4}) (?:or|and) (?:earlier|older|before)\b")
_AFTER = re.compile(r"\b(?:after|since|newer than|later than|post)[- ](\d{4})\b|(\d{4})\s*年(?:以后|之后|后)"
                    r"|\b(\d{4}) ?(?:onwards?|(?:or|and) (?:later|newer|after|up)|on(?= *(?:[.,!?;]|$)))")
_NAME_TOKEN = re.compile(r"[\w'.-]+")
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")
# Zipf frequencies (log10 of uses per billion words, wordfreq): at or above KNOWN a word is spelled right
# (no typo to guess: "havent" is not "Haven", "every" is not "Everly"); a one-word title at or above
# COMMON ("saw", "hope", "fan") or a two-word one of words at or above VERY_COMMON ("date night") is
# read as a title only when typed as one: with a capital, not at the start of a sentence, or quoted.
KNOWN_ZIPF, COMMON_ZIPF, VERY_COMMON_ZIPF = 3.4, 4.4, 5.0
# a misspelt full name ("Ben Afflect") is read as the catalog person with FAMOUS_CREDITS or more credits it
# is closest to when rapidfuzz's ratio is PERSON_MATCH or more and PERSON_MARGIN above the runner-up; in the
# 1,000 shared ReDial dialogues that reads 22 misspellings of 19 people, all right, and nothing wrongly
FAMOUS_CREDITS, PERSON_MATCH, PERSON_MARGIN = 3, 85, 5
# a capitalised name of two or three words after a person cue ("anything with Tom Hanks") or before "movies"
# ("Tom Hanks movies"); when it is no catalog person (and no title), the reply says so instead of ignoring it
_NAME_WORD = r"[A-ZÀ-Þ][\w'’.-]*"
_FULL_NAME = rf"{_NAME_WORD}(?:\s+(?:(?:de|del|van|von|da|di|le|la|du)\s+)?{_NAME_WORD}){{1,2}}"
_CUED_NAMES = (re.compile(rf"\b(?:[Ww]ith|[Ss]tarring|[Ff]eaturing|[Bb]y)\s+({_FULL_NAME})"),
               re.compile(rf"({_FULL_NAME})(?:['’]s)?\s+(?:movies|films|books|novels)\b"))
# a cued name with one of these words is a studio or publisher, which no catalog record names
_COMPANY_WORDS = frozenset({"studio", "studios", "pictures", "productions", "entertainment", "company", "media",
                            "press", "publishing", "publishers", "bros"})
_FROM_NAME = re.compile(rf"\b[Ff]rom\s+({_FULL_NAME})")  # "from Blumhouse Productions", not "from South Korea"
# first names that are also function words: "with Will Ferrell", "starring May Whitty"
_FIRST_NAMES = frozenset({"will", "may"})
# sentence-opening words that take a title after them ("Loved Inception", "Like The Matrix but funnier")
_OPENERS = STOPWORDS | SENTIMENT_WORDS | {"seen", "saw", "watched", "rewatched", "tried", "try", "finished"}
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
# "those movies", "that kind": a reference to earlier talk, which a negation can be about
_REFERENCE = re.compile(r"\b(?:those|these|that|this|such)\s+(?:movies|films|ones|books|kinds?|types?|sorts?|"
                        r"genres?|stuff|one)\b|\bthem\b")
# a surname alone names a person after these words, or with a possessive: "by Nolan", "Miyazaki's films"
_PERSON_CUES = frozenset({"by", "from", "with", "starring", "featuring", "director", "directed"})
_SENTENCE_START = re.compile(r"(?:^|[.!?;:]\s*|\n\s*)$")
# in generated text (strict case), a sentence-initial title followed by one of these is the sentence's
# subject, so its capital counts: "Saw is a tense thriller" names the film, "Hope you enjoy it" does not
_SUBJECT_VERB = re.compile(r"\s+(?:is|was|has|had|follows|tells|stars|features|offers|delivers|shows|explores|"
                           r"takes|brings|blends|combines|remains|became|becomes|won|pairs|sees|puts|turns)\b")


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
    return _ARTICLE.sub("", " ".join(text.split()))


@dataclass(frozen=True)
class Mention:
    """A catalog item the user named, and how they feel about it."""

    item_id: str
    surface: str
    polarity: str  # "like" | "dislike"
    seen: bool = False


@dataclass
class Parse:
    """Everything the rules found in one message."""

    mentions: list[Mention] = field(default_factory=list)
    genres_wanted: list[str] = field(default_factory=list)
    genres_avoided: list[str] = field(default_factory=list)
    genres_lacked: list[str] = field(default_factory=list)  # of genres_wanted, what the last list lacks
    people_wanted: list[str] = field(default_factory=list)  # catalog people (directors, authors, stars) asked for
    people_avoided: list[str] = field(default_factory=list)
    languages_wanted: list[str] = field(default_factory=list)  # original languages asked for ("Korean thrillers")
    languages_avoided: list[str] = field(default_factory=list)
    domain: str | None = None
    year_min: int | None = None
    year_max: int | None = None
    ordinal_refs: list[tuple[int, str]] = field(default_factory=list)  # (index into last shown, like|dislike|seen)
    that_one: str | None = None  # like | dislike | seen, for "that one" / "I've seen it"
    all_shown: str | None = None  # like | dislike | seen, for the whole last list: "I've seen all of those"
    passed: bool = False  # the last list turned down as a whole, no film of it disliked: "Not those."
    wants_another: bool = False
    closing: bool = False  # only thanks or goodbye: "thanks!", "great, thank you", 「谢谢」
    picks: int | None = None  # how many items the user asked for ("five comedies", "推荐三部"), 1..MAX_PICKS
    positive_text: str = ""
    greeting_only: bool = False
    unresolved: list[str] = field(default_factory=list)  # quoted spans no title matched
    unknown_people: list[str] = field(default_factory=list)  # names asked for that are no catalog person
    unknown_studios: list[str] = field(default_factory=list)  # "Blumhouse Productions movies": no catalog records it
    targets: list[tuple[int, int]] = field(default_factory=list)  # spans a negation can be about (see `polarity`)

    @property
    def has_signal(self) -> bool:
        """Whether the message gives anything to recommend from."""
        return bool(self.mentions or self.genres_wanted or self.genres_avoided or self.people_wanted
                    or self.people_avoided or self.languages_wanted or self.languages_avoided
                    or self.year_min or self.year_max
                    or content_words(self.positive_text))


_NUMBER_WORD = re.compile(r"\d+(?:s|th|st|nd|rd)?")
_VIEWING = frozenset({"seen", "saw", "watched", "rewatched", "already", "finished"})  # "seen it" says no taste


def content_words(text: str) -> list[str]:
    """Words that may carry a preference (not stopwords, not greetings); CJK runs count as words."""
    lowered = text.lower()
    words = [w for w in _TOKEN.findall(lowered)
             if w not in STOPWORDS and w not in GREETINGS and w not in _VIEWING and len(w) > 1
             and not _NUMBER_WORD.fullmatch(w)]  # "from the 90s" is a year range, not a taste to embed
    cjk = re.findall(r"[\u3400-\u9fff]{2,}", lowered)
    cjk = [c for c in cjk if c not in GREETINGS and not any(c == d for ds in DOMAINS.values() for d in ds)]
    cjk = [c for c in cjk if c not in ("推荐", "我想", "想看", "给我", "一部", "一本", "什么", "有什么", "推荐一下")]
    return words + cjk


class TitleIndex:
    """Exact, fuzzy and CJK lookup of catalog titles in free text."""

    def __init__(self, items: Iterable[CatalogItem], popularity: dict[str, float] | None = None) -> None:
        pop = popularity or {}
        self.by_name: dict[str, list[CatalogItem]] = {}
        self._names_by_id: dict[str, set[str]] = {}
        items = list(items)
        for item in items:
            names = self._names(item)
            self._names_by_id[item.id] = names
            for name in names:
                self.by_name.setdefault(name, []).append(item)
        for group in self.by_name.values():
            # most popular first, then earliest (the original before its remakes)
            group.sort(key=lambda it: (-pop.get(it.id, 0.0), it.year or 9999, it.id))
        self.names = sorted(self.by_name)  # fuzzy ties go to the same name in every process
        self.max_tokens = max((len(n.split()) for n in self.names), default=1)
        self.cjk_names = sorted((n for n in self.names if _CJK.search(n) and len(n.replace(" ", "")) >= 2),
                                key=len, reverse=True)
        # people of the catalog by normalised full name; one-word names ("Madonna") are too ambiguous in chat
        self.people: dict[str, str] = {}
        credits: Counter[str] = Counter()
        for item in items:
            for person in dict.fromkeys(item_people(item.creators, item.extra)):
                key = normalise(person)
                if len(key.split()) >= 2 and not _CJK.search(key):
                    self.people.setdefault(key, person)
                    credits[key] += 1
        self.first_names = {key.split()[0] for key in self.people}
        # misspelt names are matched only to people with several credits: a typo is of someone well known
        self._known_people = [key for key, n in credits.items() if n >= FAMOUS_CREDITS]
        self.max_person_tokens = max((len(k.split()) for k in self.people), default=0)
        self.by_surname = _surnames(credits, self.first_names)

    def find_people(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, catalog name) mentions of the catalog's people in `text`, longest first."""
        text = plain_text(text)
        lowered = text.lower()
        tokens = [(m.start(), m.end(), key) for m in _NAME_TOKEN.finditer(lowered)
                  if (key := normalise(m.group().removesuffix("'s")))]
        out: list[tuple[int, int, str]] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self.max_person_tokens, len(tokens) - i), 1, -1):
                name = self.people.get(" ".join(t for _a, _b, t in tokens[i : i + n]))
                if name is not None:
                    out.append((tokens[i][0], tokens[i + n - 1][1], name))
                    i += n
                    break
            else:
                a, b, key = tokens[i]
                person = self.by_surname.get(key)
                cued = lowered.endswith("'s", a, b) or (i > 0 and tokens[i - 1][2] in _PERSON_CUES)
                longer = i + 1 < len(tokens) and text[b:tokens[i + 1][0]] == " " and text[tokens[i + 1][0]].isupper()
                typed = text[a].isupper() or zipf(key) < KNOWN_ZIPF  # "not with gore" is no Al Gore
                if person is not None and cued and typed and not longer:  # "with Patrick Bateman" is someone else
                    out.append((a, b, self.people[person]))
                i += 1
        return out

    def closest_person(self, name: str) -> str | None:
        """The catalog person a misspelt full name clearly means ("Matt Daemon", "Jody Foster"), or None.

        Only people with FAMOUS_CREDITS or more credits; the best match must score PERSON_MATCH and beat the
        runner-up by PERSON_MARGIN ("John Cusak" is John Cusack, 95, not Joan Cusack, 86).
        """
        key = normalise(name)
        if len(key.split()) < 2:
            return None
        found = process.extract(key, self._known_people, scorer=fuzz.ratio, limit=2)
        if not found or found[0][1] < PERSON_MATCH or (len(found) > 1 and found[1][1] > found[0][1] - PERSON_MARGIN):
            return None
        return self.people[found[0][0]]

    def names_of(self, item: CatalogItem) -> set[str]:
        """Every normalised name under which `item` is found."""
        return self._names(item)

    @staticmethod
    def _names(item: CatalogItem) -> set[str]:
        names = {normalise(item.title)}
        if item.original_title:
            names.add(normalise(item.original_title))
        aliases = item.extra.get("aliases") or []
        names.update(normalise(a) for a in aliases if isinstance(a, str))
        for full in (item.title, item.original_title or ""):
            if ":" in full:  # "Star Wars: Episode IV - A New Hope" is also "Star Wars"
                head = normalise(full.split(":", 1)[0])
                if len(head) >= 4:
                    names.add(head)
        return {n for n in names if n}

    def pick(self, name: str, year: int | None = None) -> CatalogItem:
        group = self.by_name[name]
        if year is not None:
            for item in group:
                if item.year == year:
                    return item
        return group[0]

    def find(self, text: str, strict_case: bool = False) -> list[tuple[int, int, CatalogItem]]:
        """Non-overlapping (start, end, item) title mentions in `text`, in order.

        With `strict_case` (checking generated text), an unquoted title counts only when typed
        exactly and with a capital, so "an alien" is not "Alien" and "Martin" is not "The Martian";
        users' own messages are read leniently.
        """
        return [(a, b, self.pick(name, year)) for a, b, name, year in self._spans(text, strict_case)]

    def find_names(self, text: str, strict_case: bool = False) -> set[str]:
        """The normalised catalog names mentioned in `text` (a name may belong to several items)."""
        return {name for _a, _b, name, _year in self._spans(text, strict_case)}

    def by_id_name(self, item_id: str) -> list[CatalogItem]:
        """Every item that shares a name with `item_id` (itself included)."""
        return [it for name in sorted(self._names_by_id.get(item_id, ())) for it in self.by_name[name]]

    def items_named(self, name: str) -> list[CatalogItem]:
        return list(self.by_name.get(name, ()))

    def _spans(self, text: str, strict_case: bool) -> list[tuple[int, int, str, int | None]]:
        spans: list[tuple[int, int, str, int | None]] = []

        def free(a: int, b: int) -> bool:
            return all(b <= s or a >= e for s, e, _n, _y in spans)

        # 1. quoted spans: 《三体》, "the matrx"
        for m in _QUOTED.finditer(text):
            inner = next(g for g in m.groups() if g)
            hit = self._lookup(normalise(inner), fuzzy=True)
            if hit and free(m.start(), m.end()):
                spans.append((m.start(), m.end(), hit, _year_after(text, m.end())))
        # 2. CJK titles as substrings
        if _CJK.search(text):
            squashed = text
            for name in self.cjk_names:
                key = name.replace(" ", "")
                start = squashed.find(key)
                if start >= 0 and free(start, start + len(key)) and not text[start + len(key):][:1].isdigit():
                    spans.append((start, start + len(key), name, None))
        # 3. exact word n-grams, longest first, then fuzzy n-grams for typos
        lowered = plain_text(text).lower()
        tokens = [(m.start(), m.end(), m.group().replace("'", "")) for m in _TOKEN.finditer(lowered)]
        for fuzzy in (False,) if strict_case else (False, True):  # no typo-guessing in generated text
            i = 0
            while i < len(tokens):
                matched = False
                for n in range(min(self.max_tokens, len(tokens) - i), 0, -1):
                    a, b = tokens[i][0], tokens[i + n - 1][1]
                    if not free(a, b):
                        continue
                    words = [t[2] for t in tokens[i : i + n]]
                    if words[0] in ("the", "a", "an") and n > 1:
                        continue  # the article-less n-gram starting one later covers it
                    phrase = " ".join(words)
                    if fuzzy and (n > 5 or len(phrase) < 5 or all(w in LEXICON_WORDS or zipf(w) >= KNOWN_ZIPF
                                                                for w in words)):
                        continue  # real words are no typos
                    hit = self._lookup(phrase, fuzzy=fuzzy)
                    if not hit:
                        continue
                    if fuzzy and hit[:1] != phrase[:1]:
                        continue  # a typo keeps the first letter: "oldie" is not "Goldie", "write" not "Rite"
                    if strict_case and not text[a:b][:1].isupper():
                        continue
                    subject = strict_case and bool(_SUBJECT_VERB.match(text, b))
                    starts = bool(_SENTENCE_START.search(text[:a])) and not subject
                    in_run = _in_name_run(text, tokens, i, n, self.first_names)
                    if self._plausible(hit, text[a:b], words, starts, in_run):
                        spans.append((a, b, hit, _year_after(text, b)))
                        i += n
                        matched = True
                        break
                if not matched:
                    i += 1
        return sorted(spans, key=lambda s: s[0])

    def _lookup(self, phrase: str, fuzzy: bool) -> str | None:
        phrase = _ARTICLE.sub("", phrase)
        if phrase in self.by_name:
            return phrase
        if not fuzzy or len(phrase) < 4:
            return None
        best = process.extractOne(phrase, self.names, scorer=fuzz.ratio, score_cutoff=88)
        if best and _DIGITS.findall(best[0]) != _DIGITS.findall(phrase):
            return None  # "Paddington 3" is not a typo of "Paddington 2", nor 流浪地球3 of 流浪地球
        return best[0] if best else None

    @staticmethod
    def _plausible(name: str, surface: str, words: Sequence[str], sentence_start: bool = False,
                   in_name_run: bool = False) -> bool:
        """Whether an unquoted match reads as a title rather than as ordinary words.

        A title made only of common words ("Up", "Get Out", "Saw", "Date Night") must be typed with a
        capital that is not just the one starting a sentence ("Hope you like it"; "LOVED it" is no capital
        either). A one-word title that is a genre word ("Comedy") or a single letter ("M") is never read
        unquoted, nor a known word capitalised beside another name ("Chris Rock", "Bruce Willis").
        """
        parts = name.split()
        if len(name.replace(" ", "")) < 2 or (len(parts) == 1 and parts[0] in GENRE_WORDS):
            return False
        core = [w for w in parts if w not in ("the", "a", "an")] or parts
        if len(core) == 1:
            if in_name_run and zipf(core[0]) >= KNOWN_ZIPF:
                return False
            common = all(w in LEXICON_WORDS or w.isdigit() or zipf(w) >= COMMON_ZIPF for w in parts)
        else:
            common = all(w in LEXICON_WORDS or w.isdigit() or (len(core) == 2 and zipf(w) >= VERY_COMMON_ZIPF)
                         for w in parts)
        if not common:
            return True
        if len(words) == 1 and words[0] in STOPWORDS:
            return False
        shown = surface[1:] if sentence_start else surface  # a sentence's first capital says nothing
        return any(c.isupper() for c in shown) and not (len(surface) > 1 and surface.isupper())


def _surnames(credits: Counter[str], first_names: Container[str]) -> dict[str, str]:
    """Surname -> the normalised full name it stands for, where one person clearly owns it: two or more
    credits and twice the runner-up's ("Nolan" is Christopher, "Anderson" is nobody), and neither an everyday
    word ("Stone", "King") nor a first name ("Arnold's best" is Schwarzenegger's, not Tom Arnold's)."""
    owners: defaultdict[str, list[tuple[int, str]]] = defaultdict(list)
    for key, n in credits.items():
        owners[key.split()[-1]].append((n, key))
    out = {}
    for surname, people in owners.items():
        people.sort(reverse=True)
        n, key = people[0]
        runner_up = people[1][0] if len(people) > 1 else 0
        if (n >= 2 and n >= 2 * runner_up and len(surname) >= 3 and surname not in LEXICON_WORDS
                and surname not in first_names and zipf(surname) < COMMON_ZIPF):
            out[surname] = key
    return out


def _in_name_run(text: str, tokens: Sequence[tuple[int, int, str]], i: int, n: int,
                 first_names: Container[str] = ()) -> bool:
    """Whether tokens[i:i+n] touch another capitalised word, with only a space between ("Chris Rock").

    "I" is no such word, nor "The" before a word that is not an everyday one: in "I love The Godfather" it
    belongs to the title, while "The Rock" in film chat is the actor as often as the film. Nor, before such a
    word, is a function or sentiment word capitalised only because it starts the sentence, unless it is one
    of `first_names` (the first names of the catalog's people): "Like Inception but less confusing", "Loved
    Inception", but "Chris Rock", "Will Smith" and "Happy Holidays".
    """
    neighbours = []
    if i > 0:
        before = tokens[i - 1]
        rare = n == 1 and zipf(tokens[i][2]) < COMMON_ZIPF  # "Happy Holidays", "Ok Hope" stay names
        article = text[before[0]:before[1]] in ("The", "A", "An")
        opens = (before[2] in _OPENERS and before[2] not in first_names
                 and bool(_SENTENCE_START.search(text[:before[0]])))
        if not (rare and (article or opens)):
            neighbours.append((before, text[before[1]:tokens[i][0]]))
    if i + n < len(tokens):
        neighbours.append((tokens[i + n], text[tokens[i + n - 1][1]:tokens[i + n][0]]))
    return any(gap.isspace() and text[t[0]:t[0] + 1].isupper() and text[t[0]:t[1]] != "I"
               for t, gap in neighbours)


def zipf(word: str) -> float:
    return float(zipf_frequency(word, "en"))


def _year_after(text: str, end: int) -> int | None:
    m = re.match(r"\s*\(?\s*(1[89]\d\d|20\d\d)\)?", text[end : end + 8])
    return int(m.group(1)) if m else None


def _clauses(text: str) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for m in re.finditer(CLAUSE_BREAKS, text, flags=re.IGNORECASE):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(text)))
    return [(a, b) for a, b in bounds if b > a]


def cue_pattern(cue: str, word_chars: str = "a-z") -> str:
    """A regex for `cue` as a whole word: no `word_chars` (a character class body) on either side.
    A cue in a CJK script matches anywhere, since those scripts do not put spaces between words."""
    if _CJK.search(cue):
        return re.escape(cue)
    return rf"(?<![{word_chars}]){re.escape(cue)}(?![{word_chars}])"


def cue_positions(lowered: str, cues: Sequence[str]) -> list[tuple[int, int]]:
    found = []
    for cue in cues:
        found += [(m.start(), m.end()) for m in re.finditer(cue_pattern(cue), lowered)]
    return found


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group())  # keeps offsets, so spans found in the text still line up


def polarity(lowered: str, start: int, end: int, targets: Sequence[tuple[int, int]] = ()) -> str:
    """'dislike' when a negation cue precedes the target in its clause (or follows it), else 'like'.
    Not having seen a film says nothing against it: "I never saw The Matrix" is no rejection.

    `targets` are the message's other spans a negation can be about (titles, people, genres, "those
    movies"): a negation that reached one of them before this target stops there when a new subject
    starts between them ("I don't like Chevy Chase as a person his older movies were very funny") or
    this target is then praised ("not really into those movies a musical would be good")."""
    for a, b in _clauses(lowered):
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


_NO_PLURAL = frozenset({"war"})  # "wars" in film chat is Star Wars far more often than war films


def _genre_form_pattern(form: str) -> str:
    """A genre form as a whole word, its plural too ("detectives", "romcoms", "space operas")."""
    if _CJK.search(form):
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
               if " " not in form and len(form) >= TYPO_MIN_FORM and not _CJK.search(form)
               for variant in (form, form + "s")}
_TYPO_CHOICES = tuple(_TYPO_FORMS)
_WORD = re.compile(r"(?<![a-z-])[a-z]{4,}(?![a-z-])")


def _genre_spans(lowered: str) -> list[tuple[int, int, str]]:
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


def _genre_groups(lowered: str) -> list[tuple[int, int, list[str]]]:
    """Genre spans, with one form of two genres ("romcom") and genre words side by side ("romantic comedies",
    "sci-fi horror") merged into one group: (start, end, genres in the order said)."""
    groups: list[tuple[int, int, list[str]]] = []
    for a, b, genre in sorted(_genre_spans(lowered)):
        if groups and (a < groups[-1][1] or _JOINED.fullmatch(lowered[groups[-1][1]:a])):
            start, end, genres = groups[-1]
            groups[-1] = (start, max(end, b), genres if genre in genres else [*genres, genre])
        else:
            groups.append((a, b, [genre]))
    return groups


def _names_genre(form: str, genres: Sequence[str]) -> bool:
    """Whether `form` is a genre's own name (or its plural): "horror", "comedies", not "scary" or "gory"."""
    return any(form in (g, g + "s", g + "es", g[:-1] + "ies") for g in genres)


_NOT_DESCRIBING = STOPWORDS | SENTIMENT_WORDS | GENRE_WORDS | NEGATION_WORDS | {"much", "many", "any", "those", "these",
                                                                                "such"}


def _described(lowered: str, start: int) -> bool:
    """Whether the genre word at `start` follows a word describing it: "not grossout comedies" (a kind of
    comedy ruled out), not "no comedies" or "don't like comedies"."""
    words = re.findall(r"[\w'-]+", lowered[max(0, start - 40):start])
    return bool(words) and words[-1] not in _NOT_DESCRIBING and not words[-1].isdigit()


def _language_spans(lowered: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), code) for pattern, code in _LANGUAGE_PATTERNS for m in pattern.finditer(lowered)]


def parse(text: str, titles: TitleIndex) -> Parse:
    """Run every rule over one message."""
    text = plain_text(text)
    lowered = text.lower()
    out = Parse()
    people_spans = titles.find_people(text)
    # a title inside a longer name is part of the name ("Lasse" in "Lasse Hallström" is no Lassie); a name
    # inside a longer title is part of the title ("Being John Malkovich"), below
    title_spans = [(a, b, item) for a, b, item in titles.find(text)
                   if not any(s <= a and b <= e and e - s > b - a for s, e, _ in people_spans)]
    named = [(a, b) for a, b, _ in [*title_spans, *people_spans]]  # spans whose words are a name, not a preference
    # "war" inside "Star Wars": a title; "zombie" inside "Rob Zombie": a name
    genre_groups = [(a, b, genres) for a, b, genres in _genre_groups(lowered) if not any(s <= a < e for s, e in named)]
    out.targets = sorted([*named, *[(a, b) for a, b, _ in genre_groups],
                          *[(m.start(), m.end()) for m in _REFERENCE.finditer(lowered)]])
    for a, b, item in title_spans:
        pol = polarity(lowered, a, b, out.targets)
        seen = bool(cue_positions(clause_of(lowered, a), SEEN_CUES))
        if item.id not in {m.item_id for m in out.mentions}:
            out.mentions.append(Mention(item.id, text[a:b], pol, seen))
    asked: set[str] = set()  # genres asked for so far in the message
    qualifiers: set[str] = set()  # avoided genres first asked for earlier in the message
    for a, b, genres in genre_groups:
        # "no romcoms" rules out romantic comedies, not every comedy; "no horror before 2000" rules out an era
        lacks = _shown_lacks(lowered, a, b)
        if lacks:
            out.genres_lacked += [g for g in genres if g not in out.genres_lacked]
        if polarity(lowered, a, b, out.targets) == "dislike" and not _era_beside(lowered, a, b) and not lacks:
            keys, target = [compound_genre(genres)], out.genres_avoided
            if keys[0] in asked and keys[0] not in out.genres_avoided and (
                    not _names_genre(lowered[a:b], genres) or _described(lowered, a)):
                qualifiers.add(keys[0])
        else:
            keys, target = genres, out.genres_wanted
            asked.update(genres)
        target += [k for k in keys if k not in target]
    for a, b, code in sorted(_language_spans(lowered)):
        if any(s <= a < e for s, e, _ in title_spans):
            continue  # "French" in "The French Connection"
        target = out.languages_avoided if polarity(lowered, a, b) == "dislike" else out.languages_wanted
        if code not in target:
            target.append(code)
    # "scary movies, but not gory": a genre asked for and then ruled out by another word of it in the same
    # message stays asked for (the later word qualifies it), as does one ruled out by its name with a word
    # describing a kind of it ("I like comedies, but not grossout comedies"); ruled out by its bare name
    # ("something scary but no horror") or first ("no horror. Horror is too scary for me"), it stays ruled out
    out.genres_avoided = [g for g in out.genres_avoided if g not in qualifiers]
    out.genres_wanted = [g for g in out.genres_wanted if g not in out.genres_avoided]
    out.languages_wanted = [g for g in out.languages_wanted if g not in out.languages_avoided]
    for a, b, person in people_spans:
        if any(s <= a < e for s, e, _ in title_spans):
            continue  # "John Malkovich" inside "Being John Malkovich" is the title
        target = out.people_avoided if polarity(lowered, a, b, out.targets) == "dislike" else out.people_wanted
        if person not in target:
            target.append(person)
    for a, b, name in _cued_names(text, named):
        if _COMPANY_WORDS.intersection(name.lower().split()):
            out.unknown_studios += [name] if name not in out.unknown_studios else []
            continue
        closest = titles.closest_person(name)  # "Matt Daemon" is Matt Damon
        target = (out.unknown_people if closest is None else
                  out.people_avoided if polarity(lowered, a, b, out.targets) == "dislike" else out.people_wanted)
        if (closest or name) not in target:
            target.append(closest or name)
    out.people_wanted = [p for p in out.people_wanted if p not in out.people_avoided]
    # "The Jungle Book" asks for no book
    counts = {d: sum(1 for w in words for pos, _ in cue_positions(lowered, [w])
                     if not any(a <= pos < b for a, b in named)) for d, words in DOMAINS.items()}
    if max(counts.values()) > 0:
        out.domain = max(counts, key=lambda d: counts[d])
    if out.domain:  # "The Shining movie": of two items with one name, the one of the domain the user named
        out.mentions = [_in_domain(m, titles, out.domain) for m in out.mentions]
    _years(lowered, out)
    for m in _ORDINAL_RE.finditer(lowered):
        key = m.group(1) or m.group(2)
        pol = polarity(lowered, m.start(), m.end())
        if pol == "like" and cue_positions(clause_of(lowered, m.start()), SEEN_CUES):
            pol = "seen"
        out.ordinal_refs.append((ORDINALS[key], pol))
    that = _THAT_ONE.search(lowered)
    seen_it = _SEEN_IT.search(lowered)
    if that or (seen_it and not title_spans):
        clause = clause_of(lowered, (that or seen_it).start())  # type: ignore[union-attr]
        negative = cue_positions(clause, NEGATION_BEFORE + NEGATION_AFTER)
        out.that_one = "dislike" if negative else "seen" if cue_positions(clause, SEEN_CUES) else "like"
    every = _ALL_SHOWN.search(lowered)
    if every:
        clause = clause_of(lowered, every.start())
        negated = bool(cue_positions(clause, NEGATION_BEFORE + NEGATION_AFTER)) or "none of" in clause
        seen = bool(cue_positions(clause, SEEN_CUES) or _SEEN_THEM.search(clause))
        if negated or seen or not (every.group().startswith("any") or _asks(lowered, every.start())):
            # "are any of those funny?" asks about the list; it says nothing of the user's taste
            out.all_shown = "dislike" if negated else "seen" if seen else "like"
    out.wants_another = bool(_ANOTHER.search(lowered))
    out.passed = bool(_NOT_THOSE.search(lowered))
    out.picks = _picks(lowered, title_spans)
    # has_signal sees no positive text yet, so "Great, thank you so much" closes; the word list rules out the rest
    words = re.sub(r"[^\w'\u3400-\u9fff]+", " ", lowered).split()
    out.closing = bool(_THANKS.search(lowered)) and not out.has_signal and all(
        w in _CLOSING_WORDS or not _CLOSING_CJK.sub("", w) for w in words)
    out.positive_text = _positive_text(text, lowered)
    for name in [*out.unknown_people, *out.unknown_studios]:  # a name the catalog lacks matches no plot
        out.positive_text = out.positive_text.replace(name, " ")
    stripped = re.sub(r"[^\w\u3400-\u9fff]+", " ", lowered).strip()
    out.greeting_only = not out.has_signal and (not stripped or all(
        w in GREETINGS or w in STOPWORDS for w in stripped.split()) or stripped in GREETINGS)
    out.unresolved = [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)
                      if not any(a <= m.start() < b for a, b, _ in title_spans)]
    return out


# "5 comedies", "three good sci-fi films": a count, up to two describing words, then a kind noun or a plural
# genre word ("3 kids" is no count of family films)
_PICK_GENRES = sorted(f for f in GENRE_WORDS if f.isascii())
_PICK_NOUN = r"(?:(?:movie|film|book|novel|pick|recommendation|suggestion|option|title)s?|ones|more|" + "|".join(
    re.escape(f + "s" if not f.endswith(("s", "y")) else f[:-1] + "ies" if f.endswith("y") else f)
    for f in _PICK_GENRES if f != "kids") + ")"
_PICK_WORD = r"(?:good|great|new|more|other|different|recent|old|older|classic|" + "|".join(
    map(re.escape, _PICK_GENRES)) + ")"
_PICKS = re.compile(rf"\b(\d{{1,2}}|{'|'.join(k for k in _COUNTS if k.isascii())})\s+(?:{_PICK_WORD}\s+){{0,2}}"
                    rf"{_PICK_NOUN}\b|(\d{{1,2}}|[两二三四五六七八九十])\s*(?:部|本)")


def _picks(lowered: str, titles: Sequence[tuple[int, int, CatalogItem]]) -> int | None:
    """How many items a request asks for: "recommend 5 comedies", "give me two more", 「推荐三部喜剧」; not what the
    user has done ("I watched two movies yesterday"), a title ("10 Things I Hate About You") nor a plain "a movie"."""
    for m in _PICKS.finditer(lowered):
        if _TOLD.search(clause_of(lowered, m.start())) or any(a < m.end() and m.start() < b for a, b, _ in titles):
            continue
        word = m.group(1) or m.group(2)
        n = int(word) if word.isdigit() else _COUNTS[word]
        if n >= 1:
            return min(n, MAX_PICKS)
    return None


def _asks(lowered: str, pos: int) -> bool:
    """Whether the sentence around `pos` is a question."""
    end = re.search(r"[.!?。！？]", lowered[pos:])
    return bool(end) and end.group() in "?？"  # type: ignore[union-attr]


def _cued_names(text: str, known: Sequence[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """(start, end, name) of the names asked for after "with", "starring", "featuring" or "by" (or before
    "movies"/"books") that no title or catalog person found in `known` spans covers."""
    out = []
    matches = [m for pattern in _CUED_NAMES for m in pattern.finditer(text)]
    matches += [m for m in _FROM_NAME.finditer(text) if _COMPANY_WORDS.intersection(m.group(1).lower().split())]
    for m in matches:
        a, b = m.span(1)
        name = re.sub(r"['’]s$", "", m.group(1))
        if len(name.rsplit(" ", 1)[-1]) > 2:
            name = name.rstrip(".")  # "John Cusak." ends a sentence; "Samuel L." keeps its initial
        words = [w.lower() for w in name.split()]
        if words[0] in _FIRST_NAMES:
            words = words[1:]  # "Will Ferrell": the modal "will" cannot be capitalised mid-sentence
        if any(s < b and a < e for s, e in known) or words[0] in _OPENERS or any(w in STOPWORDS for w in words):
            continue  # "with The Rock", "by Christopher Nolan" (a catalog person), "with Star Wars" (a title)
        if _genre_spans(name.lower()) or _language_spans(name.lower()) or "english" in words:
            continue  # "with English Subtitles", "by Sci-Fi Fans", "Korean Horror movies"
        out.append((a, b, name))
    return out


def _in_domain(m: Mention, titles: TitleIndex, domain: str) -> Mention:
    same_name = titles.by_id_name(m.item_id)
    if any(it.id == m.item_id and it.domain == domain for it in same_name):
        return m  # "Mission: Impossible – Rogue Nation movie" stays that film, not another "Mission: Impossible"
    # of that kind, an item with the name as typed before one sharing another of its names
    item = next((it for it in [*titles.items_named(normalise(m.surface)), *same_name] if it.domain == domain), None)
    return Mention(item.id, m.surface, m.polarity, m.seen) if item else m


def clause_of(lowered: str, pos: int) -> str:
    for a, b in _clauses(lowered):
        if a <= pos < b:
            return lowered[a:b]
    return ""


def _years(lowered: str, out: Parse) -> None:
    m = _unnegated(_DECADE, lowered)
    if m:
        if m.group(3):
            two = int(m.group(3))
            start = (1900 if two >= 30 else 2000) + two
        else:
            century = m.group(1)
            decade = int(m.group(2)) * 10
            start = int(century) * 100 + decade if century else (1900 + decade if decade >= 30 else 2000 + decade)
        out.year_min, out.year_max = start, start + 9
    # a negated bound is the other one: "nothing older than 2000" is from 2000, "nothing after 2010" up to 2010
    found = _first_match(_BEFORE, lowered)
    if found:
        m, negated = found
        year = int(next(g for g in m.groups() if g))
        exclusive = not re.search(r"\b(?:or|and) ", m.group(0))  # "2000 or earlier" keeps 2000
        if negated:
            out.year_min = year if exclusive else year + 1
        else:
            out.year_max = year - 1 if exclusive else year
    found = _first_match(_AFTER, lowered)
    if found:
        m, negated = found
        year = int(next(g for g in m.groups() if g))
        exclusive = bool(re.search(r"\b(?:after|later than)\b", m.group(0)))  # "after 2000": from 2001
        if negated:
            out.year_max = year if exclusive or "newer" in m.group(0) else year - 1
        else:
            out.year_min = year + 1 if exclusive else year


_KIND_FILLER = re.compile(r"(?:\s*(?:movies?|films?|flicks?|ones|books?|novels?|shows?|stuff|made|released|from|"
                          r"that (?:is|are|was|were)|(?:that )?c[oa]me out|的))*\s*")


def _era_beside(lowered: str, start: int, end: int) -> bool:
    """Whether a year bound qualifies the genre word at start:end ("horror movies from before 2000", "pre-2000
    horror", 「2000年以前的恐怖片」): a negation before the genre then rules out that era of it, not the genre."""
    at = _KIND_FILLER.match(lowered, end)
    if any(pattern.match(lowered, at.end() if at else end) for pattern in (_BEFORE, _AFTER)):
        return True
    return any(_KIND_FILLER.fullmatch(lowered, m.end(), start) for pattern in (_BEFORE, _AFTER)
               for m in pattern.finditer(lowered, 0, start))


def _shown_lacks(lowered: str, start: int, end: int) -> bool:
    """Whether the negated genre word at start:end is what the list just shown lacks ("those aren't really
    comedies", "not funny enough", "not enough action", 「这些不算科幻」): the user wants that genre."""
    a = next((a for a, b in _clauses(lowered) if a <= start < b), 0)
    before = lowered[a:start]
    return bool(_SHOWN_LACKS.search(before)) or bool(_ENOUGH.match(lowered, end)) and bool(
        cue_positions(before, NEGATION_BEFORE))


def _first_match(pattern: re.Pattern[str], lowered: str) -> tuple[re.Match[str], bool] | None:
    """The first match, and whether a negation comes before it in its clause."""
    for a, b in _clauses(lowered):
        for m in pattern.finditer(lowered, a, b):
            return m, bool(cue_positions(lowered[a:m.start()], NEGATION_BEFORE))
    return None


def _unnegated(pattern: re.Pattern[str], lowered: str) -> re.Match[str] | None:
    """The first match with no negation before it in its clause ("maybe not any films from the 80s" is no
    request for the 80s)."""
    for a, b in _clauses(lowered):
        for m in pattern.finditer(lowered, a, b):
            if not cue_positions(lowered[a:m.start()], NEGATION_BEFORE):
                return m
    return None


def _positive_text(text: str, lowered: str) -> str:
    """The message without its negative parts: what to embed as the user's interest."""
    keep = []
    for a, b in _clauses(lowered):
        clause = lowered[a:b]
        cues = cue_positions(clause, NEGATION_BEFORE)
        after = cue_positions(clause, NEGATION_AFTER)
        if after:
            continue
        cut = min((s for s, _ in cues), default=len(clause))
        piece = text[a : a + cut].strip()
        if content_words(piece):  # not the "I" left before "hate musicals": "I Surprise me" said nothing
            keep.append(piece)
    return " ".join(keep)
