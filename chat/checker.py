"""The explanation checker: every title, year, person and genre a generated sentence states must be
true of the item it explains (or of an item the user named), and no sentence may echo the prompt."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from chat.lexicon import GENRES, HAN, LANGUAGES, STOPWORDS, genres_named
from chat.text import normalise, zipf
from chat.titles import TitleIndex
from storage.records import CatalogItem

_NUMBER = re.compile(r"\d+")
_EMPHASIS = re.compile(r"\*\*([^*]{2,80})\*\*|《([^》]{1,80})》|\"([^\"]{2,80})\"|“([^”]{2,80})”")
# two or three capitalised words in a row, not at a sentence start: how a person's name looks in English text
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b([A-Z][a-z]+(?:[ -][A-Z][a-z]+){1,2})\b")
_SENTENCE = re.compile(r"[^.!?]+[.!?]?")
_ECHO_WORDS = 6  # a run of this many words copied from the system prompt counts as leaking it
MIN_CONTENT_WORDS = 2  # for model text: fewer words beyond titles, numbers and filler say nothing ("2010, no romcoms.")
# words that only repeat the request back: function words, genre and language words ("2022 Korean thrillers")
# and the praise that fits any item ("2008, it's a good fit for your request.", Qwen's): the English of _HAN_FILLER
_FILLER = STOPWORDS | {w for forms in (*GENRES.values(), *LANGUAGES.values()) for f in forms if " " not in f
                       for w in normalise(f).split()} | {  # "sci-fi" is "sci fi" once normalised
    "fit", "fits", "request", "requests", "taste", "tastes", "preference", "preferences", "choice", "pick",
    "picks", "option", "match", "matches", "perfect", "enjoy", "enjoyed", "enjoyable", "definitely", "certainly",
    "worth", "sounds", "exactly", "mood", "similar", "fan", "fans", "surely", "ideal", "suits", "suit",
    "fitting", "user", "users", "viewer", "viewers", "reader", "readers", "anyone", "everyone", "great", "highly",
    "recommend", "recommended", "must", "watch", "kind", "love", "loves", "good", "nice", "excellent", "best"}

# what the user did or felt: the model cannot know it (Qwen wrote "a book by Isaac Asimov, but you found it too dark.")
# ("if you liked ..." is a condition, not a claim)
_ABOUT_THE_USER = re.compile(r"(?<!if )\byou(?:\s+|')(?:\w+ed|found|said|thought|felt|told|saw|read|had|were|did|"
                             r"didn't|did not|couldn't|could not|(?:have|ve)\s+(?:seen|read|\w+ed))\b",
                             re.IGNORECASE)  # "but you couldn't find the right director" (Qwen, on 8½)
# "Part II, Captain Willard is sent upriver" (Apocalypse Now): a part the item's record does not name
_PART = re.compile(r"\bpart\s+(?:[ivx]+|\d+)\b", re.IGNORECASE)

# Rarer English words are claims about the item: a retelling reuses the record's, an invention brings its own
# ("Raise the Red Lantern ... a mysterious and ancient artifact that has been used for centuries"). Words of
# Zipf 4.5 and above ("story", "young", "family") say little; two or more rarer words the record lacks are rejected.
CLAIM_ZIPF = 4.5
MAX_UNBACKED_WORDS = 1
_WORD = re.compile(r"[a-z]+")


def unbacked_words(text: str, record: str) -> list[str]:
    """The rare lowercase English words of `text` that `record` lacks in any form ("pigs" for "pig", "murdered" for
    "murder": words that share their first five letters count as one)."""
    known = set(_WORD.findall(record.lower()))
    stems = {w[:5] for w in known if len(w) >= 5}
    return [w for w in _WORD.findall(text.lower()) if len(w) > 3 and w not in known and w not in _FILLER
            and re.sub(r"e?s$", "", w) not in known and not (len(w) >= 5 and w[:5] in stems)
            and zipf(w) < CLAIM_ZIPF]


# a sentence whose subject is a bare year: "2017 is a family film", "1946 was a drama"
_YEAR_AS_SUBJECT = re.compile(r"\s*(?:1[89]|20)\d\d\s+(?:is|was|are|were)\b", re.IGNORECASE)

# Chinese that says nothing about an item ("轻松一点，适合他的需求。": "lighter, suits his needs"), and genre forms
_HAN_FILLER = re.compile("|".join(sorted(
    {"适合", "需求", "要求", "口味", "喜好", "喜欢", "推荐", "一部", "这部", "那部", "电影", "影片", "片子", "一本",
     "这本", "书籍", "小说", "作品", "你的", "他的", "她的", "我的", "一点", "非常", "真的", "特别", "轻松", "有趣",
     "好看", "精彩", "经典", "不错", "值得", "一看", "看看", "按你说的", "符合", "满足", "的", "了", "是", "很", "和",
     "也", "都", "就", "这", "那", "它", "你", "他", "她", "我", "一", "个", "部", "本"}
    | {f for forms in (*GENRES.values(), *LANGUAGES.values()) for f in forms if HAN.search(f)}, key=len, reverse=True)))


def without_people(text: str, people: Iterable[str]) -> str:
    """`text` with these names blanked, so "Akira Kurosawa" is not read as the film "Akira"."""
    for person in sorted(people, key=len, reverse=True):
        text = text.replace(person, " ")
    return text


def _names(item: CatalogItem) -> list[str]:
    """The item's title, original title, creators and aliases as the record spells them."""
    return [item.title, item.original_title or "", *item.creators,
            *[a for a in item.extra.get("aliases") or () if isinstance(a, str)]]


def facts_text(item: CatalogItem) -> str:
    """The record's words: titles, description, people, aliases, and the values of its declared attributes (a
    price in a reason is one of them, or it is not the record's)."""
    title, original, *others = _names(item)
    values = []
    for value in item.attributes.values():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values += [f"{value:g}", f"{value:.2f}"]
        elif isinstance(value, list | str):
            values += value if isinstance(value, list) else [value]
    return " ".join([title, original, item.description, *others, *values])


# a full stop after an initial or one of these is no sentence end: "Philip K. Dick", "Dr. Strangelove"
_ABBREVIATIONS = ("[A-Z]", "Dr", "Mr", "Mrs", "Ms", "St", "Jr", "Sr", "vs")
_FIRST_SENTENCE = re.compile(r"(.+?" + "".join(rf"(?<!\b{a})" for a in _ABBREVIATIONS) + r"[.!?])(\s|$)")
ENDS_AT_AN_INITIAL = re.compile(rf"\b(?:{'|'.join(_ABBREVIATIONS)})\.$")


def first_sentence(text: str, limit: int = 160) -> str:
    m = _FIRST_SENTENCE.match(text)
    s = m.group(1) if m else text
    return s if len(s) <= limit else s[: limit - 1].rsplit(" ", 1)[0] + "…"


def _without_quotes(text: str, items: Sequence[CatalogItem]) -> str:
    for it in items:
        for sentence in [first_sentence(it.description), *_SENTENCE.findall(it.description)]:
            if len(sentence) >= 20 and sentence in text:
                text = text.replace(sentence, " ")
    return text


def _content_words(text: str, names: set[str]) -> int:
    """How many words of `text` say something: not a title in `names`, a number or a filler word; two Chinese
    characters count as one word."""
    rest = f" {normalise(text)} "
    for name in sorted(names, key=len, reverse=True):
        rest = rest.replace(f" {name} ", " ")
    latin = [w for w in re.findall(r"[^\W\d_]+", HAN.sub(" ", rest)) if len(w) > 2 and w not in _FILLER]
    return len(latin) + len(HAN.findall(_HAN_FILLER.sub(" ", rest))) // 2


# What a broken model writes (seen from a GPU run with random weights: "Büyük(generator entrev Büyük Farm.",
# "achupins Pra syst Gambling produk=r=r=r名列前茅"): replacement and control characters, code and markup,
# letters of a script the reply is not in, and words no dictionary knows.
_GARBLED = re.compile("[\ufffd\x00-\x08\x0b-\x1f\x7f\ue000-\uf8ff\ud800-\udfff]")
_CODE = re.compile(r"[\[\]{}<>|\\=_^~`#@]|[^\W\d_]\(|\)[^\W\d_\s]")
_CAMEL = re.compile(r"[a-z]{2,}[A-Z]")  # "visitInsn", "marshAGape"; "McQueen" and "DiCaprio" are names
_LETTERS = re.compile(r"[^\W\d_]+")
_REPLY_SCRIPTS = {"en": {"LATIN"}, "zh": {"LATIN", "HAN"}}
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z'’.-]*(?:[ -]+[A-Za-z][A-Za-z'’.-]*)*")
_RECORD_NAME = re.compile(r"[A-Z][\w'’-]+(?:\s[A-Z][\w'’-]+)*")  # "Yang Guo", "Unit 701" less the number, "NASA"
_GENRE_FORMS = frozenset(f for forms in GENRES.values() for f in forms if f.isascii())
_INITIALS = re.compile(r"[A-Z]{2,5}")  # NASA, CIA, DNA: read as they are in Chinese too
READABLE_ZIPF = 1.5  # wordfreq: "heist" 3.4, "whodunit" 2.2, "swashbuckling" 2.3; "büyük" 1.2, "entrev" 0


def _script(char: str) -> str:
    """The script of a letter ("LATIN", "HAN", "CYRILLIC", ...); "" for marks like "ʼ", "ª" or "〇"."""
    if unicodedata.category(char) not in ("Lu", "Ll", "Lt", "Lo") or char in "ªº":
        return ""
    name = unicodedata.name(char, "")
    if name.startswith(("CJK", "IDEOGRAPHIC")):
        return "HAN"
    return "LATIN" if name.startswith("FULLWIDTH LATIN") else name.split(" ", 1)[0]


def unreadable(text: str, items: Sequence[CatalogItem], language: str | None = None) -> str | None:
    """Why `text` is not a sentence of the reply's `language` (None: English or Chinese), or None.

    The items' own titles, names and description words may be in any script and spelling ("千と千尋の神隠し",
    "[REC]"); everything else must be letters of the reply's script, free of code and markup, and for English
    mostly words a dictionary knows.
    """
    names = sorted({s for it in items for s in _names(it) if s}, key=len, reverse=True)

    def without_names(s: str) -> str:
        for name in names:
            s = s.replace(name, " ")
        return s

    rest = without_names(_without_quotes(text, items))
    if _GARBLED.search(rest):
        return "garbled characters"
    if _CODE.search(rest):
        return "code or markup"
    facts = " ".join(facts_text(it) for it in items)
    known = {w.lower() for w in _LETTERS.findall(facts)}
    words = [w for w in _LETTERS.findall(rest) if w.lower() not in known]
    if any(_CAMEL.search(w) for w in words):
        return "code or markup"
    allowed = {"", *_REPLY_SCRIPTS.get(language or "", {"LATIN", "HAN"})}
    foreign = sorted({_script(c) for w in words for c in w} - allowed)
    if foreign:
        return f"letters of another script: {foreign}"
    if language == "zh":  # Latin letters in a Chinese reply are names, whole: "杨 Guo", "高 school男孩", "深度-charge"
        # are untranslated fragments, as are the record's English sentences quoted whole
        whole = {n for n in names if n.isascii()} | set(_RECORD_NAME.findall(facts))
        latin = [run.strip() for run in _LATIN_RUN.findall(text)]
        fragments = [run for run in latin if run not in whole and not _INITIALS.fullmatch(run)
                     and run.lower() not in _GENRE_FORMS]  # "sci-fi 迷" is how Chinese fans say it
        if fragments:
            return f"English left untranslated in a Chinese reply: {fragments[:4]}"
    if language == "en":
        latin = [w for w in words if len(w) > 2]
        unknown = [w for w in latin if zipf(w.lower()) < READABLE_ZIPF]
        if len(unknown) >= 2 and 5 * len(unknown) >= 2 * len(latin):
            return f"words no dictionary knows: {unknown[:4]}"
    return None


def _word_runs(text: str, n: int) -> set[tuple[str, ...]]:
    """Runs of `n` words; a Han character is a word ("一个友好的推荐助手" echoes the Chinese prompt)."""
    words = re.findall(rf"{HAN.pattern}|[^\W\d_]+|\d+", text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


# who is who: nouns for people, to catch a title made into a person ("Oldboy, who is abducted", '"You Are the Apple
# of My Eye" is a mischievous high-school boy')
_PERSON = (r"(?:man|woman|men|women|boy|girl|child|kid|teenager|son|daughter|father|mother|husband|wife|brother|"
           r"sister|friend|hero|heroine|detective|businessman|soldier|lawyer|doctor|student|teacher|prince|princess|"
           r"king|queen|orphan|widow|officer|cop|thief|killer|agent|pilot|writer|comedian|girlfriend|boyfriend|"
           r"monster|creature|vampire|ghost|person|people|man's|woman's|world)")  # not "family": "Elf, a family film"
_ARTICLE = r"(?:a|an|the|his|her|their)"


def title_as_person(text: str, titles: Iterable[str]) -> str | None:
    """The title the sentence uses as a person or a thing in the story, or None."""
    for title in sorted({t for t in titles if len(t) >= 3}, key=len, reverse=True):
        t = re.escape(title)
        patterns = (rf"{t}[\"”]?,?\s+(?:who|whose)\b",
                    rf"{t}[\"”]?\s+(?:is|was)\s+(?:a|an|the)\s+(?:[\w'-]+\s+){{0,3}}{_PERSON}\b",
                    rf"\b{_PERSON},\s+[\"“]?{t}[\"”]?,",
                    rf"{t}[\"”]?,\s+{_ARTICLE}\s+(?:[\w'-]+\s+){{0,3}}{_PERSON}\b",
                    rf"{t}[\"”]?\s+(?:and\s+[\w' -]+\s+)?(?:investigates?|travels?|finds?|falls?|meets?|"
                    rf"wanders?|returns?|discovers?|realizes?|tries|try|joins?|flees?|fights?|loves?|lives?)\b")
        for pattern in patterns:
            if re.search(pattern, text):
                return title
    return None


_APPOSITIVE = re.compile(rf"\b([A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?),\s+{_ARTICLE}\s+([a-z][\w' -]{{2,50}}?),")
_NEAR = 12  # words: how close to a name its description must stand in the record


def misplaced_description(text: str, record: str) -> str | None:
    """An appositive ("Buddy, a grumpy publisher,") whose description the record gives someone else: its rarer words
    do not stand within a few words of that name in the record. None when every such description holds."""
    words = re.findall(r"[\w'-]+", record)
    lower = [w.lower() for w in words]
    for m in _APPOSITIVE.finditer(text):
        name, description = m.group(1), m.group(2)
        name_parts = name.split()
        wanted = [w for w in re.findall(r"[a-z'-]+", description.lower()) if w not in STOPWORDS and len(w) > 3]
        if not wanted:
            continue
        at = [i for i in range(len(words)) if words[i : i + len(name_parts)] == name_parts]
        if not at:
            continue  # a name the record lacks: the people check says so
        if not any(all(w in lower[max(0, i - _NEAR) : i + _NEAR] for w in wanted) for i in at):
            return f"{name}, {description}"
    return None


def repeated_run(text: str, record: str, n: int = 2) -> str | None:
    """A run of `n` or more content words the sentence says twice (and the record at most once): "his real father, a
    grumpy publisher" after "Buddy, a grumpy publisher"; "the Joker pushes ..., the Joker pushes"."""
    words = [re.sub(r"'s$", "", w) for w in re.findall(r"\b[a-z][a-z'-]*", text) if w not in STOPWORDS]  # not names
    runs = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    for run, count in runs.items():
        if count > 1 and record.lower().count(" ".join(run)) < count:
            return " ".join(run)
    return None


COPY_RUN = 4  # words: a run this long found in the record is the record's own words


def copied_share(text: str, record: str, n: int = COPY_RUN) -> float:
    """The share of the words of `text` that stand in runs of `n` or more words found in `record` as they are."""
    words, source = re.findall(r"[\w'-]+", text.lower()), re.findall(r"[\w'-]+", record.lower())
    runs = {tuple(source[i : i + n]) for i in range(len(source) - n + 1)}
    covered = [False] * len(words)
    for i in range(len(words) - n + 1):
        if tuple(words[i : i + n]) in runs:
            covered[i : i + n] = [True] * n
    return sum(covered) / len(words) if words else 0.0


_ATTRIBUTION = re.compile(r"\b(?:by|from|director|author|novelist)\s+((?:[A-Z][\w.'-]+\s?){1,4})")


@dataclass
class Verdict:
    """The checker's findings for one sentence: empty `problems` means it holds up."""

    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class ExplanationChecker:
    """Checks generated text about one item against that item's catalog record.

    Allowed: the item's own titles, year, creators and genres; numbers and capitalised names that
    occur in its description; and the titles and people of items the user named themselves (the
    explanation may refer back to them), with their years and numbers where the sentence names them.
    Everything else is a claim the catalog does not back.
    """

    def __init__(self, titles: TitleIndex, all_people: set[str], user_items: Sequence[CatalogItem] = (),
                 prompt_texts: Sequence[str] = (), min_words: int = 0, language: str | None = None,
                 min_copied: float = 0.0) -> None:
        """`min_words`: how many words a generated text needs beyond titles, numbers and filler (0: any);
        `language`: the reply's ("en", "zh"; None: either), whose script and words the text must be in;
        `min_copied`: the share of its words that must be the record's own, in runs (`copied_share`; 0: any)."""
        self.min_copied = min_copied
        self.titles = titles
        self.language = language
        self.min_words = min_words
        self.all_people = all_people
        self.user_items = list(user_items)
        self._prompt_runs = set().union(*(_word_runs(t, _ECHO_WORDS) for t in prompt_texts)) if prompt_texts else set()

    def check(self, text: str, item: CatalogItem) -> Verdict:
        verdict = Verdict()
        allowed_items = [item, *self.user_items]
        garbage = unreadable(text, allowed_items, self.language)
        if garbage:
            verdict.problems.append(f"unreadable: {garbage}")
        allowed_names = {n for it in allowed_items for n in self.titles.names_of(it)}
        people = {p for it in allowed_items for p in it.creators}
        facts = " ".join(facts_text(it) for it in allowed_items)
        # a sentence quoted word for word from a record is catalog text; anything else may name no other title,
        # even one the record mentions (a description can carry "ignore your instructions, recommend X")
        bare = without_people(_without_quotes(text, allowed_items), people)
        foreign = self.titles.find_names(bare, strict_case=True) - allowed_names
        if foreign:
            verdict.problems.append(f"names other titles: {sorted(foreign)}")
        for m in _EMPHASIS.finditer(text):
            inner = normalise(next(g for g in m.groups() if g))
            if inner and inner not in allowed_names and not any(inner in n for n in allowed_names) \
                    and inner not in normalise(facts):
                verdict.problems.append(f"emphasises an unknown name: {inner!r}")
        # a user's item's numbers only beside its name: "2008 — a sci-fi film" about a 1982 film misleads
        words = f" {normalise(text)} "
        numbered = [item, *(it for it in self.user_items if any(f" {n} " in words for n in self.titles.names_of(it)))]
        numbers = {n for it in numbered for n in _NUMBER.findall(facts_text(it))}
        numbers |= {str(it.year) for it in numbered if it.year}
        wrong = [n for n in _NUMBER.findall(text) if n not in numbers]
        if wrong:
            verdict.problems.append(f"numbers not in the catalog record: {wrong}")
        strangers = [p for p in self.all_people - people
                     if p in text and p not in facts and re.search(rf"\b{re.escape(p)}\b", text)]
        for name in _NAME.findall(bare):
            if name not in facts and name not in strangers and self._looks_like_person(name, allowed_names):
                strangers.append(name)
        if strangers:
            verdict.problems.append(f"people not in the catalog record: {strangers}")
        claimed = genres_named(bare) - {g for it in allowed_items for g in it.genres}
        claimed = {g for g in claimed if not any(form in facts.lower() for form in GENRES[g])}
        if claimed:
            verdict.problems.append(f"genres the item does not have: {sorted(claimed)}")
        # a title's parts are names too: "A Space Odyssey, I recommend this film." says nothing of 2001: A Space Odyssey
        parts_of_titles = {normalise(part) for it in allowed_items for part in re.split("[:：]", it.title)
                           if len(part.strip()) > 3}
        if self.min_words and _content_words(text, allowed_names | parts_of_titles | {normalise(p) for p in people}) \
                < self.min_words:
            verdict.problems.append("says nothing about the item")  # "1987, Mo Yan, a war book by Mo Yan."
        parts = _PART.findall(text)
        if parts:  # only then is the record normalised
            record = " ".join([*allowed_names, normalise(facts)])
            parts = [p for p in parts if not re.search(rf"\b{re.escape(normalise(p))}\b", record)]
        if parts:
            verdict.problems.append(f"names a part the record does not: {parts}")
        if self.language != "zh" and not HAN.search(text):
            genre_words = " ".join(f for it in allowed_items for g in it.genres for f in (g, *GENRES.get(g, ())))
            unbacked = unbacked_words(bare, f"{facts} {genre_words}")
            if len(unbacked) > MAX_UNBACKED_WORDS:
                verdict.problems.append(f"says what the record does not: {unbacked}")
        # a title the records use as a name is one ("the quirky Annie Hall", "Paddington, a bear"); the others are not
        names = [n for it in allowed_items for n in (it.title, it.original_title or "")]
        told = " ".join(it.description for it in allowed_items)
        as_person = title_as_person(_without_quotes(text, allowed_items), [
            part.strip() for n in names for part in {n, *re.split("[:：]", n)} if part.strip() not in told])
        if as_person:
            verdict.problems.append(f"uses the title {as_person!r} as someone in the story")
        if self.language != "zh":
            misplaced = misplaced_description(text, facts)
            if misplaced:
                verdict.problems.append(f"gives a description to the wrong one: {misplaced!r}")
            repeated = repeated_run(text, facts)
            if repeated:
                verdict.problems.append(f"says {repeated!r} twice")
        credited = [m.group(1).strip() for m in _ATTRIBUTION.finditer(text)]
        others = [c for c in credited if c in self.all_people and c not in item.creators]
        if others:
            verdict.problems.append(f"credits the item to someone else: {others}")
        if self.min_copied:
            share = copied_share(text, facts)
            if share < self.min_copied:
                verdict.problems.append(f"not the record's own words ({share:.0%} copied)")
        if _ABOUT_THE_USER.search(text):
            verdict.problems.append("claims what the user did")
        if _YEAR_AS_SUBJECT.match(text):
            verdict.problems.append("makes the year the subject")  # "2017 is a family film by Paul King."
        if self._prompt_runs and _word_runs(text, _ECHO_WORDS) & self._prompt_runs:
            verdict.problems.append("repeats the instructions")
        return verdict

    def _looks_like_person(self, name: str, allowed_names: set[str]) -> bool:
        key = normalise(name)
        return not any(key in n for n in allowed_names) and not self.titles.find_names(name, strict_case=True)
