"""Questions about an item ("who directed it?", "what year?", "is the second one a comedy?"): which kind, and
which item they are about. `chat/answers.py` answers them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from chat.lexicon import genres_named
from chat.reading.parse import ORDINALS, Parse
from chat.state import DialogueState
from chat.text import content_words, plain_text

_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((kind, re.compile(pattern)) for kind, pattern in (
    # "why that one?", "why did you pick Dunkirk?"; not a request: "why not something older?", "why don't you..."
    ("why", r"^\W*(?:(?:but|so|and|ok|okay|hmm+|wait)\W+)?why\b(?!\s+(?:not|no|don't|dont|can't|cant|won't)\b)"
            r"|为什么(?!不)|为啥(?!不)|凭什么"),
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
              r"|\bwhat about the (?:first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|last) "
              r"(?:one|movie|film|book)\b"
              r"|讲什么|讲的是什么|讲了什么|剧情是|内容是什么|简介"),
))
_GENRE_QUESTION = re.compile(r"^\s*(?:is|isn't|was|are)\b.*\?\s*$|是.{0,12}吗|算.{0,12}吗")
_ITEM_GENRE_QUESTION = re.compile(r"^\s*(?:is|isn't|was|are)\s+(?:it|that|this|they|those|these|"
                                  r"the (?:first|second|third|fourth|fifth|last) one)\b.*\?\s*$")
_PLURAL = re.compile(r"\b(?:those|these|them|they)\b|这些|那些|它们")
_PRONOUN = re.compile(r"\b(?:it|that|this|they|those)\b|这部|那部|这本|那本|这个|那个|它")


_CHOICE = re.compile(r"^\W*(?:the\s+|number\s+|no\.?\s*|#)?(?:(first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th|"
                     r"last)(?:\s+(?:one|movie|film|book))?|([1-9]))\W*$|^\W*(第[一二三四五]|最后)(?:个|部|本|一个|一部|一本)?\W*$")


@dataclass(frozen=True)
class ItemQuestion:
    """A question about one catalog item."""

    kind: str  # why | creator | cast | year | runtime | about | genre | attribute
    genre: str | None = None
    attribute: str | None = None  # a declared attribute asked about ("how much is it?": price)

    def key(self) -> str:
        """How the question waits in the dialogue state for "Which one do you mean?" to be answered."""
        detail = self.genre or self.attribute
        return f"{self.kind}:{detail}" if detail else self.kind

    @classmethod
    def from_key(cls, key: str) -> ItemQuestion:
        kind, _, detail = key.partition(":")
        return cls(kind, attribute=detail or None) if kind == "attribute" else cls(kind, detail or None)


def names_only(message: str, p: Parse) -> bool:
    """Whether `message` is catalog titles and nothing else ("Pulp Fiction", "《盗梦空间》吧")."""
    rest = message
    for m in p.mentions:
        rest = re.sub(re.escape(m.surface), " ", rest, flags=re.IGNORECASE)
    return bool(p.mentions) and not content_words(rest)


def choice(message: str) -> int | None:
    """The index a bare answer to "Which one do you mean?" picks ("2", "the second", "第二部"), else None."""
    m = _CHOICE.match(plain_text(message).lower())
    if not m:
        return None
    if m.group(2):
        return int(m.group(2)) - 1
    return ORDINALS[m.group(1) or m.group(3)]


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


def target_of(p: Parse, state: DialogueState, message: str, chosen: int | None = None) -> str | None | list[str]:
    """The item asked about: a named title, an ordinal ("the second one", or `chosen`: the index a bare "2" picks
    after "Which one do you mean?"), or what was just discussed.

    Returns an item id, a list of candidate ids when "it" could be any of several shown items,
    or None when nothing was shown or named.
    """
    if p.mentions:
        return p.mentions[0].item_id
    for index in [*([] if chosen is None else [chosen]), *(i for i, _pol in p.ordinal_refs)]:
        if state.last_shown and -len(state.last_shown) <= index < len(state.last_shown):
            return state.last_shown[index]
    if len(state.last_shown) > 1 and _PLURAL.search(message.lower()):  # "why those?" is about the list, not the focus
        return list(state.last_shown)
    if state.focus and (_PRONOUN.search(message.lower()) or not state.last_shown):
        return state.focus
    if len(state.last_shown) == 1:
        return state.last_shown[0]
    return list(state.last_shown) or None
