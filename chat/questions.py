"""Questions about an item ("who directed it?", "what year?", "is the second one a comedy?"),
answered from catalog fields only. A fact the catalog lacks gets "I don't know", never a guess."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chat.checker import first_sentence, genres_named
from chat.linker import Parse, plain_text
from chat.reply import genre_label
from chat.state import DialogueState
from storage.records import CatalogItem

_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    ("creator", r"\bwho (?:directed|made|wrote|shot|is the (?:director|author|writer)|was the (?:director|author))\b"
                r"|\bwho(?:'s| is) (?:it|that|this) by\b|\b(?:director|author|writer) of\b|\bwho(?:'s| is) the "
                r"(?:director|author)\b|导演是谁|谁导演|谁拍的|谁导的|作者是谁|谁写的|是谁写|是谁拍"),
    ("cast", r"\bwho (?:stars|acts|plays) in\b|\bwho(?:'s| is| was| are) in\b|\bwho are the actors\b"
             r"|\bwho starred\b|\bthe cast\b|主演|演员"),
    ("year", r"\bwhat year\b|\bwhich year\b|\bwhen (?:was|did|is) .{0,60}?(?:come out|released|made|published|"
             r"written|set)\b|\brelease date\b|\bhow old is\b|哪年|哪一年|什么时候(?:上映|出版|拍的|出的|写的)|几几年"),
    ("runtime", r"\bhow long is\b|\brun ?time\b|\brunning time\b|\bhow many (?:minutes|hours)\b|多长时间|时长|片长"),
    ("about", r"\bwhat(?:'s| is| was) .{0,60}?about\b|\bwhat happens in\b|\b(?:plot|story|synopsis) of\b"
              r"|\bwhat is the (?:plot|story)\b|\btell me (?:more )?about\b"
              r"|讲什么|讲的是什么|讲了什么|剧情是|内容是什么|简介"),
))
_GENRE_QUESTION = re.compile(r"^\s*(?:is|isn't|was|are)\b.*\?\s*$|是.{0,12}吗|算.{0,12}吗")
_ITEM_GENRE_QUESTION = re.compile(r"^\s*(?:is|isn't|was|are)\s+(?:it|that|this|they|those|these|"
                                  r"the (?:first|second|third|fourth|fifth|last) one)\b.*\?\s*$")
_PRONOUN = re.compile(r"\b(?:it|that|this|they|those)\b|这部|那部|这本|那本|这个|那个|它")


@dataclass(frozen=True)
class ItemQuestion:
    """A question about one catalog item."""

    kind: str  # creator | cast | year | runtime | about | genre
    genre: str | None = None


def detect_question(message: str) -> ItemQuestion | None:
    """The question's kind when `message` asks about an item, else None."""
    lowered = plain_text(message).lower().strip()
    for kind, pattern in _KINDS:
        if pattern.search(lowered):
            return ItemQuestion(kind)
    # a question about an item after a remark: "the third one looks good, is it scary?"
    last = re.split(r"[,;.!]\s*|\s+(?:but|and|so)\s+", lowered)[-1]
    for part, pattern in ((lowered, _GENRE_QUESTION), (last, _ITEM_GENRE_QUESTION)):
        genres = sorted(genres_named(part)) if pattern.search(part) else []
        if genres:
            return ItemQuestion("genre", genres[0])
    return None


def target_of(p: Parse, state: DialogueState, message: str) -> str | None | list[str]:
    """The item asked about: a named title, an ordinal ("the second one"), or what was just discussed.

    Returns an item id, a list of candidate ids when "it" could be any of several shown items,
    or None when nothing was shown or named.
    """
    if p.mentions:
        return p.mentions[0].item_id
    for index, _pol in p.ordinal_refs:
        if state.last_shown and -len(state.last_shown) <= index < len(state.last_shown):
            return state.last_shown[index]
    if state.focus and (_PRONOUN.search(message.lower()) or not state.last_shown):
        return state.focus
    if len(state.last_shown) == 1:
        return state.last_shown[0]
    return list(state.last_shown) or None


def answer(q: ItemQuestion, item: CatalogItem, language: str) -> str:
    """The catalog's answer, in the user's language."""
    zh = language == "zh"
    name = f"《{item.display_title('zh')}》" if zh else item.title
    movie = item.domain == "movie"
    unknown = (f"我不知道：目录里没有{name}的这项信息。" if zh
               else f"I don't know: the catalog does not say that about {name}.")
    if q.kind == "creator":
        if not item.creators:
            return unknown
        people = "、".join(item.creators) if zh else " and ".join(item.creators)
        if zh:
            return f"{name}的{'导演' if movie else '作者'}是{people}。"
        return f"{name} was {'directed' if movie else 'written'} by {people}."
    if q.kind == "cast":
        stars = [s for s in item.extra.get("stars") or () if isinstance(s, str)]
        if not stars:
            return unknown
        return f"{name}的主演有{'、'.join(stars[:4])}。" if zh else f"{name} stars {', '.join(stars[:4])}."
    if q.kind == "year":
        if not item.year:
            return unknown
        if zh:
            return f"{name}{'上映' if movie else '出版'}于{item.year}年。"
        return f"{name} {'came out' if movie else 'was first published'} in {item.year}."
    if q.kind == "runtime":
        minutes = item.extra.get("runtime")
        if not isinstance(minutes, int):
            return unknown
        return f"{name}片长{minutes}分钟。" if zh else f"{name} runs {minutes} minutes."
    if q.kind == "about":
        if not item.description:
            return unknown
        text = first_sentence(item.description, 400)
        note = ""
        if item.extra.get("description_source") == "generated":
            note = "（这段简介由模型根据目录信息生成）" if zh else " (This summary was generated from catalog facts.)"
        return (f"{name}：{text}{note}" if zh else f"{name}: {text}{note}")
    # genre: yes or no from the catalog's genre list
    if not item.genres or q.genre is None:
        return unknown
    listed = ("、" if zh else ", ").join(genre_label(g, language) for g in item.genres)
    asked = genre_label(q.genre, language)
    if q.genre in item.genres:
        return f"是的，{name}属于{asked}（目录类型：{listed}）。" if zh else f"Yes: {name} is listed as {listed}."
    return (f"不是，{name}的目录类型是{listed}，不是{asked}。" if zh
            else f"No: {name} is listed as {listed}, not {asked}.")


def which_one(candidates: list[CatalogItem], language: str) -> str:
    """Ask which item "it" means."""
    if language == "zh":
        names = "、".join(f"{i + 1}.《{it.display_title('zh')}》" for i, it in enumerate(candidates))
        return f"你问的是哪一部？{names}"
    names = ", ".join(f"{i + 1}. {it.title}" for i, it in enumerate(candidates))
    return f"Which one do you mean? {names}"


def nothing_to_ask_about(language: str) -> str:
    return ("你想问哪部作品？告诉我它的名字。" if language == "zh"
            else "Which title do you mean? Tell me its name and I will look it up.")
