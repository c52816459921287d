"""The dialogue policy: explicit rules for when to ask and when to recommend."""

from __future__ import annotations

from enum import Enum

from chat.linker import Parse
from chat.state import DialogueState

MAX_QUESTIONS = 1  # ask at most this many times before showing a varied popular set


class Action(Enum):
    ASK = "ask"
    RECOMMEND = "recommend"


def decide(state: DialogueState, p: Parse) -> Action:
    """Recommend when there is anything to go on; otherwise ask one short question (once)."""
    if state.has_preferences or p.has_signal or p.wants_another and state.shown:
        return Action.RECOMMEND
    if state.questions_asked < MAX_QUESTIONS:
        return Action.ASK
    return Action.RECOMMEND


QUESTION = {
    "en": "What are you in the mood for? Tell me a movie or book you loved, or a genre "
          "(for example sci-fi, comedy or mystery).",
    "zh": "你想看点什么？告诉我一部你喜欢的电影或一本书，或者一个类型（比如科幻、喜剧、悬疑）。",
}
EMPTY = {
    "en": "Tell me what you feel like: a title you enjoyed, a genre, or a mood.",
    "zh": "说说你想看什么吧：一部你喜欢的作品、一个类型，或者一种心情。",
}
CUT_NOTICE = {
    "en": "(Your message was long, so I read only its first {limit} characters.)",
    "zh": "（你的消息太长了，我只读了前 {limit} 个字符。）",
}
NOTHING_LEFT = {
    "en": "I have nothing left in the catalog that fits all of that. Try loosening a constraint "
          "(a genre or a year range).",
    "zh": "目录里已经没有完全符合这些条件的作品了。可以放宽一些条件（类型或年代）再试试。",
}
