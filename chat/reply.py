"""Replies: a prompt rendered from the state and this turn's candidates, streamed line by line,
each line checked against the catalog; a line that fails is replaced by a template line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from chat.lexicon import GENRES
from chat.linker import TitleIndex, normalise
from chat.lm.base import Generator, Message, complete
from chat.prompts import load
from chat.state import DialogueState
from storage.records import CatalogItem

log = logging.getLogger(__name__)
_NUMBER = re.compile(r"\d+")
_EMPHASIS = re.compile(r"\*\*([^*]{2,80})\*\*|《([^》]{1,80})》|\"([^\"]{2,80})\"|“([^”]{2,80})”")
_GENRE_ZH = {g: next((f for f in forms if re.search(r"[\u3400-\u9fff]", f)), g) for g, forms in GENRES.items()}


@dataclass(frozen=True)
class Piece:
    """A checked piece of the reply; a reason piece carries the item it explains."""

    text: str
    item_index: int | None = None
    reason: str | None = None
    from_model: bool = False


def genre_label(genre: str, language: str) -> str:
    return _GENRE_ZH.get(genre, genre) if language == "zh" else genre


def item_heading(item: CatalogItem, language: str) -> str:
    title = item.display_title(language)
    return f"《{title}》({item.year})" if language == "zh" and item.year else (
        f"《{title}》" if language == "zh" else f"{title} ({item.year})" if item.year else title)


def wants_summary(state: DialogueState, titles: dict[str, CatalogItem], language: str) -> str:
    """The user's stated preferences in a few words, from the state only."""
    bits: list[str] = []
    if state.genres_wanted:
        bits.append(", ".join(genre_label(g, language) for g in state.genres_wanted))
    liked = [titles[i].display_title(language) for i in state.liked[-3:] if i in titles]
    if liked:
        bits.append(("像" if language == "zh" else "like ") + ", ".join(liked))
    if state.genres_avoided:
        bits.append(("不要" if language == "zh" else "no ") + ", ".join(genre_label(g, language)
                                                                        for g in state.genres_avoided))
    if state.year_min or state.year_max:
        bits.append(f"{state.year_min or ''}-{state.year_max or ''}")
    if not bits and state.statements:
        bits.append(state.statements[-1][:120])
    return "; ".join(bits) or ("随便看看" if language == "zh" else "something good")


def template_reason(item: CatalogItem, state: DialogueState, liked: Sequence[CatalogItem], language: str) -> str:
    """A deterministic reason built only from catalog fields and the user's stated preferences."""
    shared = [g for g in item.genres if g in state.genres_wanted]
    creator = ", ".join(item.creators[:2])
    if language == "zh":
        lead = (f"符合你想要的{'、'.join(genre_label(g, 'zh') for g in shared)}" if shared
                else f"和你喜欢的《{liked[0].display_title('zh')}》气质相近" if liked
                else f"一部{'、'.join(genre_label(g, 'zh') for g in item.genres[:2])}作品")
        role = "导演" if item.domain == "movie" else "作者"
        fact = f"{role}{creator}" if creator else ""
        return "，".join(x for x in (lead, fact) if x) + "。"
    lead = (f"Matches your taste for {' and '.join(shared)}" if shared
            else f"Close in spirit to {liked[0].title}, which you liked" if liked
            else f"A {'/'.join(item.genres[:2]) or 'well-loved'} pick")
    role = "directed by" if item.domain == "movie" else "by"
    fact = f"{role} {creator}" if creator else ""
    sentence = first_sentence(item.description)
    return f"{lead}{', ' + fact if fact else ''}. {sentence}".strip()


def first_sentence(text: str, limit: int = 160) -> str:
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    s = m.group(1) if m else text
    return s if len(s) <= limit else s[: limit - 1].rsplit(" ", 1)[0] + "…"


def reply_messages(message: str, state: DialogueState, candidates: Sequence[CatalogItem],
                   known: dict[str, CatalogItem], language: str) -> list[Message]:
    """Render the reply prompt from the state and the candidates (package-data templates)."""
    lang = "zh" if language == "zh" else "en"
    rows = []
    for item in candidates:
        kind = "/".join(genre_label(g, lang) for g in item.genres[:3])
        by = ", ".join(item.creators[:2])
        if lang == "zh":
            role = "导演" if item.domain == "movie" else "作者"
            what = f"{kind}{'电影' if item.domain == 'movie' else '书'}" + (f"，{role}{by}" if by else "")
        else:
            what = f"a {kind} {'film' if item.domain == 'movie' else 'book'}" + (f" by {by}" if by else "")
        rows.append(f"* {item.display_title(lang)}: {what}. {first_sentence(item.description, 200)}")
    user = load(f"reply_user_{lang}.txt").format(
        message=message[:300].replace("\n", " "), wants=wants_summary(state, known, lang), items="\n".join(rows))
    return [{"role": "system", "content": load(f"reply_system_{lang}.txt").strip()},
            {"role": "user", "content": user.strip()}]


def intro(state: DialogueState, known: dict[str, CatalogItem], n: int, language: str) -> str:
    """The deterministic opening line: how many picks, for what."""
    wants = wants_summary(state, known, language)
    if language == "zh":
        return f"根据你的喜好（{wants}），推荐这{n}部：" if wants != "随便看看" else f"先给你推荐{n}部："
    return f"Here are {n} picks for you ({wants}):" if wants != "something good" else f"Here are {n} picks to start:"


_SENTENCE_END = re.compile(r"^(.*[.!?。！？…])")


def clean_reason(raw: str) -> str:
    """The generated reason up to its last complete sentence (a cut-off tail is dropped)."""
    text = raw.strip().split("\n", 1)[0].strip()
    text = re.sub(r"^(reason|理由|\d+ words?)\s*[:：]\s*|^\d[.)]\s+", "", text, flags=re.IGNORECASE)
    m = _SENTENCE_END.match(text)
    return m.group(1).strip() if m else ""


def without_people(text: str, people: set[str]) -> str:
    """`text` with these names blanked, so "Akira Kurosawa" is not read as the film "Akira"."""
    for person in sorted(people, key=len, reverse=True):
        text = text.replace(person, " ")
    return text


class FactChecker:
    """Checks a generated line: every title it names and every year it states must be this turn's."""

    def __init__(self, titles: TitleIndex, candidates: Sequence[CatalogItem], allowed_extra: Sequence[CatalogItem]):
        self.titles = titles
        self.allowed_names = {n for it in [*candidates, *allowed_extra] for n in titles.names_of(it)}
        self.years = {it.year for it in [*candidates, *allowed_extra] if it.year}
        self.people = {p for it in [*candidates, *allowed_extra] for p in it.creators}
        self.fact_numbers = {n for it in [*candidates, *allowed_extra]
                             for n in _NUMBER.findall(f"{it.title} {it.original_title or ''} {it.description}")}
        self.fact_numbers |= {str(y) for y in self.years}

    def check(self, text: str) -> bool:
        """True when every title named and every year stated belongs to this turn's items."""
        if self.titles.find_names(without_people(text, self.people), strict_case=True) - self.allowed_names:
            return False
        for m in _EMPHASIS.finditer(text):
            inner = normalise(next(g for g in m.groups() if g))
            if inner and inner not in self.allowed_names and not any(inner in n for n in self.allowed_names):
                return False  # an emphasised name that is none of ours: possibly an invented title
        # every number, years included ("3D", "10 years old", "1975"), must come from this turn's catalog facts
        return all(n in self.fact_numbers for n in _NUMBER.findall(text))


def write_reply(generator: Generator | None, message: str, state: DialogueState, items: Sequence[CatalogItem],
                known: dict[str, CatalogItem], titles: TitleIndex, language: str,
                max_reason_tokens: int = 48) -> Iterator[Piece]:
    """Stream the reply: a fixed intro, then for each item its catalog heading and a reason.

    The heading ("1. Title (Year) — ") comes from the catalog and is forced into the model's
    output as a prefill, so the model only writes the reason. A reason that names another
    title, states a wrong year, is cut off or repeats an earlier one is replaced by a template.
    """
    liked = [known[i] for i in reversed(state.liked) if i in known]
    mentioned = [known[i] for i in state.mentioned if i in known]
    checker = FactChecker(titles, items, mentioned)
    used: set[str] = set()
    yield Piece(intro(state, known, len(items), language) + "\n")
    for i, item in enumerate(items):
        heading = f"{i + 1}. {item_heading(item, language)} — "
        yield Piece(heading)
        reason = ""
        if generator is not None:
            # one item per prompt: a small model mixes items up when it sees the whole list
            prefill: Message = {"role": "assistant", "content": heading}
            prompt = reply_messages(message, state, [item], known, language)
            raw = complete(generator, [*prompt, prefill], max_new_tokens=max_reason_tokens, stop=("\n",))
            reason = clean_reason(raw)
            if reason and (not checker.check(reason) or reason in used):
                log.info("reason for %s failed the catalog check, using the template: %r", item.id, reason[:120])
                reason = ""
        from_model = bool(reason)
        if not reason:
            reason = template_reason(item, state, liked, language)
        used.add(reason)
        yield Piece(reason + ("\n" if i < len(items) - 1 else ""), i, reason, from_model)
