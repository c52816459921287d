"""The rules' reading of one message: titles, genres, polarity, domain, years, references.

Fuzzy title matching copes with typos, missing years, a dropped leading article and CJK titles; negation
is decided per clause from cue words before or after each target (`chat/reading/negation.py`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from chat.lexicon import (
    DOMAINS,
    FOR_CHILDREN_CUES,
    GENRE_WORDS,
    GREETINGS,
    NEGATION_AFTER,
    NEGATION_BEFORE,
    SEEN_CUES,
    STOPWORDS,
    compound_genre,
)
from chat.reading.genres import described, genre_groups, genre_spans, language_spans, names_genre
from chat.reading.negation import clause_of, clauses, polarity
from chat.text import content_words, cue_positions, normalise, plain_text
from chat.titles import FIRST_NAMES, OPENERS, QUOTED, TitleIndex
from storage.records import CatalogItem

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
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d)")

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

# "those movies", "that kind": a reference to earlier talk, which a negation can be about
_REFERENCE = re.compile(r"\b(?:those|these|that|this|such)\s+(?:movies|films|ones|books|kinds?|types?|sorts?|"
                        r"genres?|stuff|one)\b|\bthem\b")


@dataclass(frozen=True)
class Mention:
    """A catalog item the user named, and how they feel about it."""

    item_id: str
    surface: str
    polarity: str  # "like" | "dislike" | "neutral" (the model reader's "named, no opinion")
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
    for_children: bool = False  # the list is for children: "with my kids", "合家欢"
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
    groups = [(a, b, genres) for a, b, genres in genre_groups(lowered) if not any(s <= a < e for s, e in named)]
    out.targets = sorted([*named, *[(a, b) for a, b, _ in groups],
                          *[(m.start(), m.end()) for m in _REFERENCE.finditer(lowered)]])
    for a, b, item in title_spans:
        pol = polarity(lowered, a, b, out.targets)
        seen = bool(cue_positions(clause_of(lowered, a), SEEN_CUES))
        if item.id not in {m.item_id for m in out.mentions}:
            out.mentions.append(Mention(item.id, text[a:b], pol, seen))
    asked: set[str] = set()  # genres asked for so far in the message
    qualifiers: set[str] = set()  # avoided genres first asked for earlier in the message
    for a, b, genres in groups:
        # "no romcoms" rules out romantic comedies, not every comedy; "no horror before 2000" rules out an era
        lacks = _shown_lacks(lowered, a, b)
        if lacks:
            out.genres_lacked += [g for g in genres if g not in out.genres_lacked]
        if polarity(lowered, a, b, out.targets) == "dislike" and not _era_beside(lowered, a, b) and not lacks:
            keys, target = [compound_genre(genres)], out.genres_avoided
            if keys[0] in asked and keys[0] not in out.genres_avoided and (
                    not names_genre(lowered[a:b], genres) or described(lowered, a)):
                qualifiers.add(keys[0])
        else:
            keys, target = genres, out.genres_wanted
            asked.update(genres)
        target += [k for k in keys if k not in target]
    for a, b, code in sorted(language_spans(lowered)):
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
    out.for_children = bool(cue_positions(lowered, FOR_CHILDREN_CUES))
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
    out.unresolved = [next(g for g in m.groups() if g) for m in QUOTED.finditer(text)
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
        if words[0] in FIRST_NAMES:
            words = words[1:]  # "Will Ferrell": the modal "will" cannot be capitalised mid-sentence
        if any(s < b and a < e for s, e in known) or words[0] in OPENERS or any(w in STOPWORDS for w in words):
            continue  # "with The Rock", "by Christopher Nolan" (a catalog person), "with Star Wars" (a title)
        if genre_spans(name.lower()) or language_spans(name.lower()) or "english" in words:
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
    a = next((a for a, b in clauses(lowered) if a <= start < b), 0)
    before = lowered[a:start]
    return bool(_SHOWN_LACKS.search(before)) or bool(_ENOUGH.match(lowered, end)) and bool(
        cue_positions(before, NEGATION_BEFORE))


def _first_match(pattern: re.Pattern[str], lowered: str) -> tuple[re.Match[str], bool] | None:
    """The first match, and whether a negation comes before it in its clause."""
    for a, b in clauses(lowered):
        for m in pattern.finditer(lowered, a, b):
            return m, bool(cue_positions(lowered[a:m.start()], NEGATION_BEFORE))
    return None


def _unnegated(pattern: re.Pattern[str], lowered: str) -> re.Match[str] | None:
    """The first match with no negation before it in its clause ("maybe not any films from the 80s" is no
    request for the 80s)."""
    for a, b in clauses(lowered):
        for m in pattern.finditer(lowered, a, b):
            if not cue_positions(lowered[a:m.start()], NEGATION_BEFORE):
                return m
    return None


def _positive_text(text: str, lowered: str) -> str:
    """The message without its negative parts: what to embed as the user's interest."""
    keep = []
    for a, b in clauses(lowered):
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

