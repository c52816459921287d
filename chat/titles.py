"""The catalog's names in free text: titles (exact, fuzzy, CJK) and people (directors, authors, stars)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Container, Iterable, Sequence

from rapidfuzz import fuzz, process

from chat.lexicon import GENRE_WORDS, LEXICON_WORDS, SENTIMENT_WORDS, STOPWORDS
from chat.text import ARTICLE, CJK, COMMON_ZIPF, KNOWN_ZIPF, TOKEN, VERY_COMMON_ZIPF, normalise, plain_text, zipf
from retrieval.ranking import item_people
from storage.records import CatalogItem

QUOTED = re.compile(r"《([^》]{1,80})》|\"([^\"]{2,80})\"|“([^”]{2,80})”|「([^」]{1,80})」")
_DIGITS = re.compile(r"\d+")
_NAME_TOKEN = re.compile(r"[\w'.-]+")

# a misspelt full name ("Ben Afflect") is read as the catalog person with FAMOUS_CREDITS or more credits it
# is closest to when rapidfuzz's ratio is PERSON_MATCH or more and PERSON_MARGIN above the runner-up; in the
# 1,000 shared ReDial dialogues that reads 22 misspellings of 19 people, all right, and nothing wrongly
FAMOUS_CREDITS, PERSON_MATCH, PERSON_MARGIN = 3, 85, 5

# first names that are also function words: "with Will Ferrell", "starring May Whitty"
FIRST_NAMES = frozenset({"will", "may"})

# sentence-opening words that take a title after them ("Loved Inception", "Like The Matrix but funnier")
OPENERS = STOPWORDS | SENTIMENT_WORDS | {"seen", "saw", "watched", "rewatched", "tried", "try", "finished"}

# a surname alone names a person after these words, or with a possessive: "by Nolan", "Miyazaki's films"
_PERSON_CUES = frozenset({"by", "from", "with", "starring", "featuring", "director", "directed"})
_SENTENCE_START = re.compile(r"(?:^|[.!?;:]\s*|\n\s*)$")

# in generated text (strict case), a sentence-initial title followed by one of these is the sentence's
# subject, so its capital counts: "Saw is a tense thriller" names the film, "Hope you enjoy it" does not
_SUBJECT_VERB = re.compile(r"\s+(?:is|was|has|had|follows|tells|stars|features|offers|delivers|shows|explores|"
                           r"takes|brings|blends|combines|remains|became|becomes|won|pairs|sees|puts|turns)\b")


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
        self.cjk_names = sorted((n for n in self.names if CJK.search(n) and len(n.replace(" ", "")) >= 2),
                                key=len, reverse=True)
        # people of the catalog by normalised full name; one-word names ("Madonna") are too ambiguous in chat
        self.people: dict[str, str] = {}
        credits: Counter[str] = Counter()
        for item in items:
            for person in dict.fromkeys(item_people(item.creators, item.extra)):
                key = normalise(person)
                if len(key.split()) >= 2 and not CJK.search(key):
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
        for m in QUOTED.finditer(text):
            inner = next(g for g in m.groups() if g)
            hit = self._lookup(normalise(inner), fuzzy=True)
            if hit and free(m.start(), m.end()):
                spans.append((m.start(), m.end(), hit, _year_after(text, m.end())))
        # 2. CJK titles as substrings
        if CJK.search(text):
            squashed = text
            for name in self.cjk_names:
                key = name.replace(" ", "")
                start = squashed.find(key)
                if start >= 0 and free(start, start + len(key)) and not text[start + len(key):][:1].isdigit():
                    spans.append((start, start + len(key), name, None))
        # 3. exact word n-grams, longest first, then fuzzy n-grams for typos
        lowered = plain_text(text).lower()
        tokens = [(m.start(), m.end(), m.group().replace("'", "")) for m in TOKEN.finditer(lowered)]
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
        phrase = ARTICLE.sub("", phrase)
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
        opens = (before[2] in OPENERS and before[2] not in first_names
                 and bool(_SENTENCE_START.search(text[:before[0]])))
        if not (rare and (article or opens)):
            neighbours.append((before, text[before[1]:tokens[i][0]]))
    if i + n < len(tokens):
        neighbours.append((tokens[i + n], text[tokens[i + n - 1][1]:tokens[i + n][0]]))
    return any(gap.isspace() and text[t[0]:t[0] + 1].isupper() and text[t[0]:t[1]] != "I"
               for t, gap in neighbours)


def _year_after(text: str, end: int) -> int | None:
    m = re.match(r"\s*\(?\s*(1[89]\d\d|20\d\d)\)?", text[end : end + 8])
    return int(m.group(1)) if m else None

