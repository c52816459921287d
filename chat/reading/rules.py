"""The rules' reader: the deterministic parse and critique of a message, and the LM's JSON only where the rules
leave something unexplained (and only what the message says)."""

from __future__ import annotations

import json
import logging
import re

from pydantic import BaseModel, Field, ValidationError, field_validator
from rapidfuzz import fuzz

from chat.lexicon import GENRES, HAN, genre_parts
from chat.lm.base import Generator, Message, complete
from chat.prompts import load, load_json
from chat.reading.critique import parse_critique
from chat.reading.parse import Mention, Parse, parse
from chat.reading.reading import Reading
from chat.text import plain_text
from chat.titles import TitleIndex
from common.errors import LMError

log = logging.getLogger(__name__)

_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_CAPITALISED_RUN = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w']+(?:\s+(?:of|the|and|in|a|[A-Z][\w']+))*")
_SURFACE_TO_GENRE = {form: genre for genre, forms in GENRES.items() for form in forms}


TYPO_MATCH = 85  # rapidfuzz partial ratio for an LM title within a typo of the message ("inceptoin": 89)


def grounded(surface: str, message: str) -> bool:
    """Whether something the LM extracted is in the message: as written (case, quotes and spacing aside) or,
    for a Latin title of five or more letters, within a typo. The small LM copies its few-shot examples
    ("有没有老一点的" came back as liking 海底总动员 and wanting action), and nothing it invents may count."""
    s, m = _normal(surface), _normal(message)
    if not s:
        return False
    if s in m if HAN.search(s) else re.search(rf"(?<!\w){re.escape(s)}(?!\w)", m):
        return True  # a Latin surface as whole words: "Up" is not in "upbeat"
    return len(s) >= 5 and not HAN.search(s) and fuzz.partial_ratio(s, m) >= TYPO_MATCH


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[\"'“”‘’《》「」]", " ", plain_text(text).casefold()).split())


def detect_language(text: str) -> str:
    """'zh' when Chinese characters dominate the message, else 'en'."""
    han = len(HAN.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    return "zh" if han >= 2 and han >= latin else "en"


class Extraction(BaseModel):
    """The LM's JSON, validated: short string lists only."""

    genres: list[str] = Field(default_factory=list, max_length=10)
    liked: list[str] = Field(default_factory=list, max_length=10)
    disliked: list[str] = Field(default_factory=list, max_length=10)

    @field_validator("genres", "liked", "disliked")
    @classmethod
    def _short_strings(cls, values: list[str]) -> list[str]:
        return [v.strip() for v in values if isinstance(v, str) and 0 < len(v.strip()) <= 120]


def parse_extraction(text: str) -> Extraction | None:
    """The first JSON object in `text` if it validates, else None (the caller keeps the rules' result)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        return Extraction.model_validate(json.loads(text[start : end + 1]))
    except (json.JSONDecodeError, ValidationError):
        return None


def extraction_messages(message: str) -> list[Message]:
    msgs: list[Message] = [{"role": "system", "content": load("extract_system.txt").strip()}]
    for shot in load_json("extract_examples.json"):
        msgs.append({"role": "user", "content": shot["user"]})
        msgs.append({"role": "assistant", "content": json.dumps(shot["json"], ensure_ascii=False)})
    msgs.append({"role": "user", "content": message})
    return msgs


def genre_of(surface: str) -> str | None:
    """Canonical genre for a surface form ("恐怖片" -> horror, "Sci-Fi" -> sci-fi)."""
    s = surface.strip().lower()
    if s in _SURFACE_TO_GENRE:
        return _SURFACE_TO_GENRE[s]
    if s in GENRES:
        return s
    for form, genre in _SURFACE_TO_GENRE.items():
        if len(form) >= 2 and HAN.search(form) and form in s:
            return genre
    return None


def needs_lm(p: Parse, message: str, titles: TitleIndex | None = None) -> bool:
    """In `auto` mode, ask the LM only when the rules left something unexplained (a capitalised run that is
    no title, catalog person or name the catalog lacks; "Films by Christopher Nolan" needs no LM)."""
    if p.unresolved:
        return True
    rest = message
    people = [message[a:b] for a, b, _ in titles.find_people(message)] if titles is not None else []
    for surface in [*(m.surface for m in p.mentions), *people, *p.unknown_people, *p.unknown_studios]:
        rest = rest.replace(surface, " , ")
    for run in _CAPITALISED_RUN.findall(rest):
        if len(run) > 3 and run.lower() not in ("i'm", "i've", "i'd"):
            return True
    return bool(HAN.search(message) and not p.mentions and not p.genres_wanted and not p.genres_avoided
                and len(HAN.findall(message)) > 6)


def read_rules(message: str, titles: TitleIndex, generator: Generator | None, mode: str) -> Reading:
    """Rules, then (mode permitting) LM extraction merged in: the LM can add what the rules missed,
    never override them, and anything it names must resolve to the catalog or the lexicon."""
    message = plain_text(message)
    p = parse(message, titles)
    critique = parse_critique(message)
    drop = critique.genres_to_drop(message)
    p.genres_wanted = [g for g in p.genres_wanted if g not in drop]
    result = Reading(p, detect_language(message), critique)
    if generator is None or mode == "never" or (mode == "auto" and not needs_lm(p, message, titles)):
        return result
    result.lm_used = True
    try:
        raw = complete(generator, extraction_messages(message), max_new_tokens=80, stop=("}\n", "}"))
    except LMError as exc:
        log.warning("LM extraction failed (%s); keeping the rule-based reading", exc)
        result.lm_valid = False
        return result
    ext = parse_extraction(raw if raw.rstrip().endswith("}") else raw + "}")
    result.lm_valid = ext is not None
    if ext is None:
        log.info("LM extraction was not valid JSON; keeping the rule-based reading")
        return result
    known = {m.item_id for m in p.mentions}
    # genres the rules read stay as read: the LM takes "no romcoms" for "no comedy, no romance"
    ruled = {g for key in [*p.genres_wanted, *p.genres_avoided] for g in genre_parts(key)}
    for surfaces, pol in ((ext.liked, "like"), (ext.disliked, "dislike")):
        for surface in (s for s in surfaces if grounded(s, message)):
            genre = genre_of(surface)
            if genre:
                if genre not in ruled:
                    (p.genres_avoided if pol == "dislike" else p.genres_wanted).append(genre)
                continue
            for _a, _b, item in titles.find(f"\"{surface}\""):
                if item.id not in known:
                    known.add(item.id)
                    p.mentions.append(Mention(item.id, surface, pol))
                    result.added_from_lm.append(item.id)
    for surface in (s for s in ext.genres if grounded(s, message)):
        genre = genre_of(surface)
        if genre and genre not in ruled and genre not in p.genres_avoided and genre not in p.genres_wanted:
            p.genres_wanted.append(genre)
    p.genres_avoided = list(dict.fromkeys(p.genres_avoided))
    p.genres_wanted = [g for g in dict.fromkeys(p.genres_wanted) if g not in p.genres_avoided]
    added = [m.surface.lower() for m in p.mentions if m.item_id in result.added_from_lm]
    p.unresolved = [q for q in p.unresolved if not any(a in q.lower() or q.lower() in a for a in added)]
    return result
